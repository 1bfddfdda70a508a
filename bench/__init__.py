"""Benchmarks, run on demand (`make bench`): figures and ratios against a same-run baseline."""
