"""Chaos runs of the inbox across several processes standing in for several machines."""
