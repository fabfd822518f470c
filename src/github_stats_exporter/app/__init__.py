"""Composition root: the only place that knows concrete classes and owns the task group.

- `runtime`: what a running exporter holds and the small builders (store, auth, client options);
- `assembly`: builds a `Runtime` from `Settings`;
- `collection` / `recovery`: wiring of the collectors and of backfill;
- `lifecycle`: `serve` and `once`, signals and graceful shutdown.
"""

from __future__ import annotations

from github_stats_exporter.app.assembly import build_runtime
from github_stats_exporter.app.lifecycle import OnceResult, once, serve
from github_stats_exporter.app.runtime import Runtime, StartupError

__all__ = ["OnceResult", "Runtime", "StartupError", "build_runtime", "once", "serve"]
