"""On-chip learning: rules (what is written and when) and the online training loop."""
