"""A seeded, deterministic GitHub simulator with ground truth, used by the demo, tests and benchmarks.

It must not import exporter code (``github/``, ``scrape/``, ``config``) so it cannot share the exporter's
bugs. Modules: ``spec`` (world knobs, ``demo_spec``), ``generator``/``entities``/``world`` (lazy seeded data),
``truth`` (expected metric values), ``clock``, ``auth``, ``ratelimit``, ``faults``, ``accounting``,
``context`` (request pipeline), ``api`` (REST routes), ``reports`` + ``downloads`` (Copilot report links and
the signed-URL host), ``copilot_data`` (report rows), ``server`` (``Simulator``, ``run_standalone``), ``keys``.
"""
