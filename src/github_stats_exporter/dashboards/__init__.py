"""Grafana dashboards for the exporter's metrics, generated from code into `deploy/grafana/`.

`grafana` is the typed builder; `adoption`, `teams`, `activity` and `operations` declare one dashboard
each; `catalog` lists them and renders the files; ``python -m github_stats_exporter.dashboards`` writes
or checks them (`make dashboards`). Nothing here runs in the exporter itself.
"""
