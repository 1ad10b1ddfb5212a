"""Suites (protocols). ``mnist`` is embedded and runs on a CPU."""
