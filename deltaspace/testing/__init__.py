"""Test helpers shipped with deltaspace (pytest plugins; imported by tests and benchmarks only)."""
