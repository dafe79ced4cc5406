"""Fixture policy pack for tests/preflight that crashes before serving."""

raise RuntimeError("fixture pack crashed on purpose before serving")
