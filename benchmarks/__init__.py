"""Benchmarks of the reference GANs: `make bench` runs `python -m benchmarks.run`."""
