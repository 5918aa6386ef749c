"""Benchmarks: each prints medians, with ratios to baselines measured in the same run."""
