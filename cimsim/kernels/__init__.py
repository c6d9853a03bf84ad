"""numba kernels of the analog MVM and the rank-r accumulation, each with a numpy reference."""
