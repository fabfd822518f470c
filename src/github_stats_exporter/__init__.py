"""github-stats-exporter: GitHub organization activity and Copilot usage metrics for Prometheus."""

from __future__ import annotations

from importlib import metadata


def __getattr__(name: str) -> str:
    # Read the version lazily from the installed distribution so no version string lives in code.
    if name == "__version__":
        try:
            return metadata.version("github-stats-exporter")
        except metadata.PackageNotFoundError:
            return "0.0.0+unknown"
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
