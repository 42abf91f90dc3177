"""Crash matrix, chaos under load and benchmarks of the inbox (real servers and processes)."""
