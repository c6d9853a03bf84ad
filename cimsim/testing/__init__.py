"""What tests and benchmarks check cimsim against, kept out of the simulator itself:
plain-numpy references of the numba kernels and closed forms (`references`), and the
input fuzzer of the hardening tests (`fuzz`). Nothing in the run path imports this package."""
