"""Build of the optional C loop of the Copilot report mapper; everything else is in pyproject.toml.

``optional=True``: without a C compiler (or Python headers) the build says so and goes on, and the
package runs the pure-Python loop instead (`github_stats_exporter.scrape.copilot_sums`).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "github_stats_exporter.scrape._copilot_sums",
            ["src/github_stats_exporter/scrape/_copilot_sums.c"],
            optional=True,
        )
    ]
)
