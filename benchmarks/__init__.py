"""Benchmarks of SPEC §9: an estate generator and the `make bench` harness."""
