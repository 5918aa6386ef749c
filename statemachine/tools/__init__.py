"""Tools around the machine: diagrams and tables generated from the transition table."""
