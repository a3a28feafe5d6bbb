"""Benchmarks behind `anju bench`: each reports a ratio against a limit measured in the same run."""
