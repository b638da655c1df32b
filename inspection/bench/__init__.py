"""Benchmarks: quality and speed on public datasets, printed as tables and written as JSON."""
