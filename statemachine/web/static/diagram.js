// Draws the page's workflow diagram (pre.mermaid) with the Mermaid shipped in the package.
mermaid.initialize({ startOnLoad: true, securityLevel: "strict", theme: "neutral" });
