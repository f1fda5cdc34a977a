"""Benchmarks: scripts that print figures against docs/architecture.md's targets (never timed
tests).

``make bench-engine`` (bench.engine), ``make bench-matcher`` (bench.matcher), ``make bench-api``
(bench.api); what they share is in bench.harness. Layout and how to add one: docs/benchmarks.md.
An import contract (pyproject.toml) keeps bench.engine, bench.streams and bench.harness.stats
free of Django, like the engine.
"""
