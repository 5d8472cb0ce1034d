"""Benchmark scripts that print numbers (speed, memory); not run by the tests."""
