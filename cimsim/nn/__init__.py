"""The network side: layers, models, datasets, training in float (the chip-independent part)."""
