"""Design-space sweeps: a grid of key-path values, every point a full run (cimsim sweep)."""
