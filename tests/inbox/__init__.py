"""Tests of the durable inbox: one contract class run against every backend."""
