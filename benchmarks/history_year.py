"""History of a year: days per minute, peak memory and requests per day for an org with 2,000 users.

Runs the real ``github-stats-exporter history`` command in a subprocess (so its peak RSS is its own)
against the in-process simulator holding a year of 1-day reports: org aggregate, users and teams, plus
one repository's weekly LOC. Run: ``python -m benchmarks history_year`` (a year: the 364 days the API
keeps, from one year back to the newest day two days ago).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

DAY = 86400
TOKEN = "ghp_bench_history"  # noqa: S105 (a simulator token)
USERS = 2000
YEAR_DAYS = 364
"""Days from one year before today up to the newest available day (two days ago)."""


async def run(days: int) -> None:
    start = float(int(time.time() // DAY) * DAY + 3600)
    spec = WorldSpec(
        seed=3,
        orgs=(OrgSpec("acme", repos=1, users=USERS, special_repos=False),),
        start=start,
        history_days=days + 5,
        commits_per_day=2.0,
        prs_per_day=0.5,
    )
    last = datetime.fromtimestamp(start, UTC).date() - timedelta(days=2)
    first = last - timedelta(days=days - 1)
    async with Simulator(spec, clock=SimClock(frozen_at=start)) as sim:
        sim.add_token(TOKEN, ["acme"])
        with tempfile.TemporaryDirectory(prefix="gse-history-bench-") as tmp:
            (Path(tmp) / "token").write_text(TOKEN)
            config = Path(tmp) / "config.yaml"
            config.write_text(
                "server: {log_level: warning}\n"
                f"github: {{api_base_url: '{sim.api_url}', orgs: [{{org: acme, token_file: '{tmp}/token'}}]}}\n"
                "copilot: {enabled: true, include_org_users_28d: true, include_teams: true}\n"
            )
            began = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "github_stats_exporter",
                "history",
                "--config",
                str(config),
                "--from",
                first.isoformat(),
                "--to",
                last.isoformat(),
                "--output",
                f"{tmp}/history.om",
                env=os.environ,
            )
            code = await proc.wait()
            elapsed = time.monotonic() - began
            size = await asyncio.to_thread(os.path.getsize, f"{tmp}/history.om") if code == 0 else 0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    requests = sim.stats.total("copilot_report_link")
    print(f"exit {code}: {days} days, {USERS} users, {elapsed:.0f} s wall")
    print(f"days per minute: {days / (elapsed / 60):.1f}")
    print(f"peak RSS of the command: {peak_mb:.0f} MB; file {size / 1e6:.0f} MB")
    print(f"report-link requests: {requests} ({requests / days:.1f} per day)")


def main() -> None:
    asyncio.run(run(YEAR_DAYS))


if __name__ == "__main__":
    main()
