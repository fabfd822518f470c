"""GitHub payload parsing: CPU time per item of the activity and LOC parsers on simulator-shaped JSON.

Run: ``.venv/bin/python -m benchmarks github_parse`` (a few seconds). The payloads are what the
simulator serves for a busy repository (repos, commits, pulls, reviews, comments, commit details) and
for a long-lived one's ``stats/contributors`` (many contributors x many weeks), already decoded from
JSON, as `GitHubClient` hands them over; the timed part is the parse alone. CPU time, best of five.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

from github_stats_exporter.github.activity import (
    parse_comment,
    parse_commit,
    parse_pull,
    parse_repo,
    parse_repo_struct,
    parse_review,
)
from github_stats_exporter.github.stats import parse_commit_ref, parse_commit_stats, parse_contributor_stats
from github_stats_exporter.simulator import payloads
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.simulator.world import World

START = 1_780_000_000.0
API = "https://api.github.test"
ORG = "bench"
ROUNDS = 5


LISTED = 1_000
"""Repositories in the org whose listing is parsed."""


def world_items() -> dict[str, list[Any]]:
    """Decoded items of every parsed endpoint, from a seeded simulator world of 12 repos and 40 users
    (and the listing of an org of `LISTED` repositories)."""
    spec = WorldSpec(
        seed=7,
        orgs=(OrgSpec(ORG, repos=12, users=40),),
        start=START,
        history_days=180,
        commits_per_day=8.0,
        prs_per_day=5.0,
    )
    world = World(spec)
    items: dict[str, list[Any]] = {k: [] for k in ("repo", "commit", "pull", "review", "comment", "detail")}
    stats: list[Any] = []
    for info in world.repos(ORG):
        data = world.repo(ORG, info.name)
        commits = data.visible_commits(START)
        items["commit"] += [payloads.commit(c, info, API) for c in commits]
        items["detail"] += [payloads.commit(c, info, API, detail=True) for c in commits[-200:]]
        views = data.visible_pulls(START)
        items["pull"] += [payloads.pull(v, info, API) for v in views]
        for view in views:
            items["review"] += [
                payloads.review(r, info, API) for r in data.visible_reviews(view.pr.number, START)
            ]
        items["comment"] += [
            payloads.issue_comment(c, info, START, API) for c in data.visible_comments(START)
        ]
        stats.append(payloads.contributor_stats(data, START, API))
    items["contributors"] = stats
    # Repositories: one org's whole listing, as every cycle parses it (12 items time too little).
    listing = World(WorldSpec(seed=7, orgs=(OrgSpec(ORG, repos=LISTED, users=40),), start=START))
    items["repo"] = [payloads.repo(i, listing.repo(ORG, i.name), START, API) for i in listing.repos(ORG)]
    return items


def _each(parse: Callable[[object], object]) -> Callable[[Sequence[Any]], int]:
    def run(batch: Sequence[Any]) -> int:
        return sum(parse(item) is not None for item in batch)

    return run


def _details(batch: Sequence[Any]) -> int:
    return sum(parse_commit_stats(item["sha"], item).valid for item in batch)


def _stats(batch: Sequence[Any]) -> int:
    return sum(sum(len(c.weeks) for c in parse_contributor_stats(payload)[0]) for payload in batch)


def best_cpu(run: Callable[[], int]) -> tuple[float, int]:
    """(best CPU seconds of ROUNDS runs, the run's result)."""
    gc.collect()
    timings: list[float] = []
    result = 0
    for _ in range(ROUNDS):
        started = time.process_time()
        result = run()
        timings.append(time.process_time() - started)
    return min(timings), result


def main() -> None:
    items = world_items()
    cases: list[tuple[str, str, Callable[[Sequence[Any]], int]]] = [
        ("repos (activity)", "repo", _each(parse_repo)),
        # The reference `parse_repo` reads as it does, through the msgspec Struct (the path before).
        ("repos, through the Struct", "repo", _each(parse_repo_struct)),
        ("commits (activity)", "commit", _each(parse_commit)),
        ("pulls", "pull", _each(parse_pull)),
        ("reviews", "review", _each(parse_review)),
        ("issue comments", "comment", _each(parse_comment)),
        ("commit refs (LOC)", "commit", _each(parse_commit_ref)),
        ("commit details (LOC)", "detail", _details),
        ("stats/contributors weeks", "contributors", _stats),
    ]
    print("| payload | items | parsed | µs/item (CPU, best of 5) |")
    print("|---|---|---|---|")
    for label, key, parse in cases:
        batch = items[key]
        seconds, parsed = best_cpu(functools.partial(parse, batch))
        # For stats/contributors the unit is one week cell, the bulk of that payload.
        count = parsed if key == "contributors" else len(batch)
        print(f"| {label} | {count} | {parsed} | {seconds / max(count, 1) * 1e6:.2f} |")


if __name__ == "__main__":
    main()
