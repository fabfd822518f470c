"""A seeded, deterministic GitHub simulator with ground truth, used by the demo, tests and benchmarks."""
