"""Benchmarks of the exporter against the simulator and in-process components (run: ``python -m benchmarks``).

Each module in this package is one benchmark with a ``main() -> None`` that prints its figures; the
results worth keeping are written down in docs/benchmarks.md. Benchmarks are never run by pytest.
"""
