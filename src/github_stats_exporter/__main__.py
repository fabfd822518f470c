"""``python -m github_stats_exporter`` runs the command-line interface."""

from github_stats_exporter.cli import main

raise SystemExit(main())
