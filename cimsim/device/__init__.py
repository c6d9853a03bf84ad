"""Device models: how a cell programs, reads, drifts, wears and answers write pulses (base.py)."""
