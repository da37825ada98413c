"""Benchmarks of gridml (`make bench`); each prints a table and writes bench/results/*.json."""
