"""The exporter operations dashboard: replicas, collection health, GitHub budget, Copilot freshness, store and
backfill queue.

Reads the `gh_exporter_*` self-metrics (docs/metrics.md, "Exporter self-metrics" and the collectors'
sections) and Prometheus's own `up`. Counters are cluster-wide totals that every replica serves alike
(docs/metrics.md, "Cluster-wide counters"), so queries take the maximum over replicas and never add
replicas up.
"""

from __future__ import annotations

from github_stats_exporter.dashboards.grafana import Dashboard, Kind, LabelVariable, Panel, Query, Row, sel

JOB = 'job=~"$job"'
ORG = 'org=~"$org"'
WINDOW = "$__rate_interval"

REPLICAS = (
    " Every replica serves the same cluster-wide value, so replicas are combined with max, never summed."
)
CLUSTER_STATE = " Cluster state: the leader publishes it and every replica serves the same value."
ZERO = " Shows 0 until the first event (the family has no series before it)."


def per_second(metric: str, by: str, *matchers: str) -> str:
    """Rate of a cluster-wide counter: the max over replicas per ``by`` labels."""
    return f"max by ({by}) (rate({sel(metric, JOB, *matchers)}[{WINDOW}]))"


def last_hour(metric: str, by: str, *matchers: str) -> str:
    return f"max by ({by}) (increase({sel(metric, JOB, *matchers)}[1h]))"


SERVICE = Row(
    "Service",
    (
        Panel(
            "Targets up",
            "Exporter replicas Prometheus scrapes successfully (Prometheus's up series).",
            (Query(f"sum({sel('up', JOB)})"),),
            kind=Kind.STAT,
            width=4,
            height=4,
        ),
        Panel(
            "Leaders",
            "Replicas that run scheduled collection (gh_exporter_leader, per process). Exactly 1 is healthy; "
            "0 means nothing collects, 2 means a split brain.",
            (Query(f"sum({sel('gh_exporter_leader', JOB)})"),),
            kind=Kind.STAT,
            width=4,
            height=4,
        ),
        Panel(
            "Since the leader's last cycle",
            "Now minus the end of the leader's last collection cycle." + CLUSTER_STATE,
            (Query(f"time() - max({sel('gh_exporter_leader_cycle_last_run_unixtime', JOB)})"),),
            kind=Kind.STAT,
            width=4,
            height=4,
            unit="s",
        ),
        Panel(
            "Series in the store",
            "Series held by all snapshots: the number store.max_series_budget limits.",
            (Query(f"max({sel('gh_exporter_store_series', JOB)})"),),
            kind=Kind.STAT,
            width=4,
            height=4,
        ),
        Panel(
            "Series refused (1 h)",
            "New series the store refused because a snapshot would exceed store.max_series_budget; the "
            "snapshot's previous version keeps being served." + REPLICAS + ZERO,
            (Query(f"sum({last_hour('gh_exporter_store_series_refused_total', 'kind')}) or vector(0)"),),
            kind=Kind.STAT,
            width=4,
            height=4,
        ),
        Panel(
            "Versions",
            "Replicas per exporter and Python version (gh_exporter_build_info, per process).",
            (Query(f"count by (version, python) ({sel('gh_exporter_build_info', JOB)})", "replicas"),),
            kind=Kind.TABLE,
            width=4,
            height=4,
        ),
        Panel(
            "Dependency health per replica",
            "1 healthy, 0 unhealthy, per process: store, github_api_core, amqp or backfill_queue, exporter_cache.",
            (
                Query(
                    f"min by (instance, dependency) ({sel('gh_exporter_dependency_health', JOB)})",
                    "{{instance}} {{dependency}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            width=12,
        ),
        Panel(
            "Page rebuild time per replica",
            "How long each replica's last /metrics page rebuild took (per process).",
            (
                Query(
                    f"max by (instance) ({sel('gh_exporter_metrics_cache_refresh_duration_seconds', JOB)})",
                    "{{instance}}",
                ),
            ),
            width=12,
            unit="s",
        ),
        Panel(
            "Requests served",
            "Requests answered by all replicas together, per path and code." + REPLICAS,
            (Query(per_second("gh_exporter_http_requests_total", "path, code"), "{{path}} {{code}}"),),
            width=12,
            unit="reqps",
        ),
        Panel(
            "Largest families",
            "Series per family in the cached page.",
            (
                Query(
                    f"topk(10, max by (metric) ({sel('gh_exporter_metrics_series_loaded', JOB)}))",
                    "{{metric}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            width=12,
        ),
    ),
)

COLLECTION = Row(
    "Collection",
    (
        Panel(
            "Collection health",
            "1 when the leader's last collection of the component succeeded (activity:<org>, loc:<org>, "
            "the Copilot report and seat components), else 0." + CLUSTER_STATE,
            (Query(f"min by (component) ({sel('gh_exporter_collection_health', JOB)})", "{{component}}"),),
            kind=Kind.BARGAUGE,
            width=12,
            height=9,
        ),
        Panel(
            "Collection cycles per org",
            "Activity cycles per result (success, partial, failure, skipped_unhealthy)." + REPLICAS,
            (Query(per_second("gh_exporter_scrape_runs_total", "org, result", ORG), "{{org}} {{result}}"),),
            width=12,
            unit="ops",
        ),
        Panel(
            "Cycle duration per org",
            "Duration of the org's last collection cycle." + CLUSTER_STATE,
            (Query(f"max by (org) ({sel('gh_exporter_scrape_duration_seconds', JOB, ORG)})", "{{org}}"),),
            width=12,
            unit="s",
        ),
        Panel(
            "Repositories selected and failing",
            "Repositories in the org's last listing, and those whose last collection failed after retries "
            "(they keep their previous values and are recorded for backfill)." + CLUSTER_STATE,
            (
                Query(f"max by (org) ({sel('gh_exporter_activity_repos', JOB, ORG)})", "{{org}} selected"),
                Query(
                    f"max by (org) ({sel('gh_exporter_activity_repos_failing', JOB, ORG)})", "{{org}} failing"
                ),
            ),
            width=12,
        ),
        Panel(
            "Activity ledger events",
            "Events held in the org's activity ledgers (24 h plus a 1 h margin): their store size."
            + CLUSTER_STATE,
            (Query(f"max by (org) ({sel('gh_exporter_activity_ledger_events', JOB, ORG)})", "{{org}}"),),
            width=12,
        ),
        Panel(
            "Weekly-lines refreshes",
            "Per-repository refreshes of the weekly lines by result." + REPLICAS,
            (Query(per_second("gh_exporter_loc_refreshes_total", "org, result", ORG), "{{org}} {{result}}"),),
            width=12,
            unit="ops",
        ),
    ),
)

GITHUB = Row(
    "GitHub API",
    (
        Panel(
            "Requests to GitHub by status",
            "Every attempt and page, by status class; 3xx are 304 answers that cost no rate limit."
            + REPLICAS,
            (
                Query(
                    per_second("gh_exporter_github_requests_total", "status_class", ORG), "{{status_class}}"
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Requests to GitHub by endpoint",
            "Every attempt and page, by endpoint." + REPLICAS,
            (Query(per_second("gh_exporter_github_requests_total", "endpoint", ORG), "{{endpoint}}"),),
            unit="reqps",
        ),
        Panel(
            "Retries by reason",
            "Requests retried, by reason (server_error, timeout, connection, rate limits, unauthorized, "
            "invalid_body, expired_link)." + REPLICAS + ZERO,
            (
                Query(
                    f"sum by (reason) ({per_second('gh_exporter_github_retries_total', 'org, endpoint, reason', ORG)})"
                    " or on() vector(0)",
                    "{{reason}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Rate limit remaining",
            "Requests left in the installation's current window, per org and resource." + CLUSTER_STATE,
            (
                Query(
                    f"min by (org, resource) ({sel('gh_exporter_github_rate_limit_remaining', JOB, ORG)})",
                    "{{org}} {{resource}}",
                ),
            ),
            width=12,
        ),
        Panel(
            "Rate limit used",
            "Share of the window's budget spent (1 - remaining / limit)." + CLUSTER_STATE,
            (
                Query(
                    f"max by (org, resource) (1 - {sel('gh_exporter_github_rate_limit_remaining', JOB, ORG)} / "
                    f"{sel('gh_exporter_github_rate_limit_limit', JOB, ORG)})",
                    "{{org}} {{resource}}",
                ),
            ),
            width=12,
            unit="percentunit",
        ),
    ),
)

COPILOT = Row(
    "Copilot collection",
    (
        Panel(
            "Report staleness",
            "Now minus 00:00 UTC of the newest collected report day, per org or enterprise and report; "
            "2 to 4 days is normal (GitHub publishes a day about two days after it ends)." + CLUSTER_STATE,
            (
                Query(
                    f"max by (org, scope) ({sel('gh_exporter_copilot_report_staleness_seconds', JOB, ORG)})",
                    "{{org}} {{scope}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="s",
        ),
        Panel(
            "Since the last complete collection",
            "Now minus the last complete collection of each report (and of the team joins)." + CLUSTER_STATE,
            (
                Query(
                    f"time() - max by (org, scope) ({sel('gh_exporter_copilot_last_success_unixtime', JOB, ORG)})",
                    "{{org}} {{scope}}",
                ),
            ),
            kind=Kind.BARGAUGE,
            unit="s",
        ),
        Panel(
            "Report passes by result",
            "One per report per pass: success, partial, skipped_interval, skipped_unchanged, unchanged, "
            "fetch_error, download_error, store_error." + REPLICAS,
            (Query(last_hour("gh_exporter_copilot_scrape_runs_total", "result", ORG), "{{result}}"),),
        ),
        Panel(
            "Report downloads by result",
            "Report files downloaded: success, failure, expired (a refused signed link)." + REPLICAS,
            (Query(last_hour("gh_exporter_copilot_report_download_total", "result", ORG), "{{result}}"),),
        ),
        Panel(
            "Records dropped (1 h)",
            "Report records not exported: hard caps (max_records_per_report, max_users_per_report), "
            "parse_error, malformed, other_day." + REPLICAS + ZERO,
            (
                Query(
                    f"sum by (reason) ({last_hour('gh_exporter_copilot_records_dropped_total', 'org, scope, reason', ORG)})"
                    " or on() vector(0)",
                    "{{reason}}",
                ),
            ),
        ),
        Panel(
            "Seat collections by result",
            "Seat-list collections: success, unchanged, truncated (not published), fetch_error, store_error."
            + REPLICAS,
            (Query(last_hour("gh_exporter_copilot_seat_collections_total", "result", ORG), "{{result}}"),),
        ),
    ),
)

BACKFILL = Row(
    "Backfill queue",
    (
        Panel(
            "Queue depth",
            "Messages ready in the work queue and each retry queue (in-flight ones not counted)."
            + CLUSTER_STATE,
            (Query(f"max by (queue) ({sel('gh_exporter_queue_depth', JOB)})", "{{queue}}"),),
        ),
        Panel(
            "Oldest waiting job",
            "Age of the oldest waiting job, 0 when the queue is empty (an estimate on RabbitMQ)."
            + CLUSTER_STATE,
            (
                Query(
                    f"max by (queue) ({sel('gh_exporter_queue_oldest_message_age_seconds', JOB)})",
                    "{{queue}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Dead-lettered jobs",
            "Jobs in the dead-letter queue: they cannot succeed; replay them after fixing the cause."
            + CLUSTER_STATE,
            (Query(f"max by (queue) ({sel('gh_exporter_queue_dlq_depth', JOB)})", "{{queue}}"),),
        ),
        Panel(
            "Jobs processed by result (1 h)",
            "Deliveries handled by the workers: processed, retried, dead_lettered, expired, duplicate, "
            "deferred, malformed, requeued." + REPLICAS + ZERO,
            (
                Query(
                    f"sum by (result) ({last_hour('gh_exporter_backfill_jobs_processed_total', 'org, kind, result')})"
                    " or on() vector(0)",
                    "{{result}}",
                ),
            ),
            width=12,
        ),
        Panel(
            "Enqueues dropped (1 h)",
            "Missed windows held back or given up, by reason; any reason but org_rate_cap loses a window."
            + REPLICAS
            + ZERO,
            (
                Query(
                    f"sum by (reason) ({last_hour('gh_exporter_backfill_enqueues_dropped_total', 'org, reason')})"
                    " or on() vector(0)",
                    "{{reason}}",
                ),
            ),
            width=12,
        ),
    ),
)

DASHBOARD = Dashboard(
    slug="exporter-operations",
    uid="gse-operations",
    title="github-stats-exporter operations",
    description="Health of the exporter itself: replicas, collection, GitHub budget, Copilot freshness, "
    "store and backfill (docs/dashboards.md).",
    variables=(
        LabelVariable(
            "job", "Job", "gh_exporter_build_info", "job", description="The exporter's scrape job."
        ),
        LabelVariable(
            "org",
            "Org",
            sel("gh_exporter_github_requests_total", JOB),
            "org",
            multi=True,
            include_all=True,
            description="Org logins (and the enterprise slug) the exporter sends requests for.",
        ),
    ),
    rows=(SERVICE, COLLECTION, GITHUB, COPILOT, BACKFILL),
    time_from="now-6h",
    refresh="1m",
)
