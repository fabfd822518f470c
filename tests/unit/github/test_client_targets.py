# mypy: allow-untyped-defs, allow-incomplete-defs
"""The URL a request goes to, and the per-answer bookkeeping that skips what did not change.

`GitHubClient` builds plain targets (nothing to quote) as text; the general yarl construction is the
reference, and every generated path and query must come out byte for byte the same. Rate-limit gauges
are set only when the answer's values changed — unless the values were removed since (a new term).
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from github_stats_exporter import metrics
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.selfmetrics import SelfMetrics

from .test_client import REPOS, rl

BASES = ("https://api.github.com", "https://ghe.example.com/api/v3", "http://127.0.0.1:8080/api/v3/")
PLAIN = st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=8)
SPECIAL = st.sampled_from([*' %?#+&=;:/@"<>[]^`{|}ä', "%41", ".", ".."])
NEAR_PLAIN = st.builds(lambda head, special, tail: head + special + tail, PLAIN, SPECIAL, PLAIN)
"""Plain text with one character that may need quoting: the edge of the plain case."""
SEGMENT = st.one_of(PLAIN, PLAIN, NEAR_PLAIN, st.sampled_from([".", "..", "...", "%41", "%"]))
TEXT = st.one_of(PLAIN, PLAIN, NEAR_PLAIN, st.text(alphabet="aZ0-:+ %&=?#ä", max_size=6))


def reference(base: str, path: str, params: dict[str, str]) -> str:
    """The general construction: the base's path prefix, the path's own query, then the params."""
    root = URL(base)
    relative = URL(path)
    prefix = root.path.rstrip("/")
    url = root.with_path(f"{prefix}/{relative.path.lstrip('/')}").with_query(relative.query)
    if params:
        url = url.update_query(params)
    return str(url)


def client_for(base: str) -> GitHubClient:
    return GitHubClient(ClientOptions(base_url=base), TokenAuth("t"), org="acme", metrics=SelfMetrics())


@settings(max_examples=400, deadline=None)
@given(
    base=st.sampled_from(BASES),
    segments=st.lists(SEGMENT, min_size=1, max_size=5),
    trailing=st.booleans(),
    params=st.dictionaries(TEXT.filter(bool), TEXT, max_size=4),
)
def test_every_target_is_the_general_constructions(
    base: str, segments: list[str], trailing: bool, params: dict[str, str]
) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing else "")
    client = client_for(base)

    built = client._resolve(path, params)

    assert str(built) == reference(base, path, params)
    assert built == URL(reference(base, path, params), encoded=True)


@pytest.mark.parametrize("char", [c for c in string.printable if not c.isalnum()] + ["ä", "%41"])
def test_each_character_in_a_path_name_or_value_is_quoted_as_the_general_construction(char: str) -> None:
    """Every character next to plain text: in a path segment, a parameter name and a value."""
    base = "https://ghe.example.com/api/v3"
    client = client_for(base)
    cases: list[tuple[str, dict[str, str]]] = [
        (f"/repos/a{char}b/x", {}),
        ("/repos/a/x", {f"n{char}m": "v"}),
        ("/repos/a/x", {"since": f"2026{char}01"}),
    ]
    for path, params in cases:
        built = client._resolve(path, params)
        assert str(built) == reference(base, path, params), (path, params)


def test_a_plain_target_keeps_the_ghes_prefix_and_param_order() -> None:
    client = client_for("https://ghe.example.com/api/v3/")
    params: dict[str, str | int] = {"sort": "updated", "per_page": 100, "since": "2026-12-05T10:00:00Z"}

    built = client._resolve("/repos/acme/widgets/issues/comments", params)

    assert str(built) == (
        "https://ghe.example.com/api/v3/repos/acme/widgets/issues/comments"
        "?sort=updated&per_page=100&since=2026-12-05T10:00:00Z"
    )


async def test_unchanged_limits_set_no_gauge_until_values_are_removed(
    fake_github, make_client, clock, self_metrics, monkeypatch
) -> None:
    """The same x-ratelimit-* values twice set the gauges once; after a clear they are set again."""
    reset = clock.now + 100
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(4321, reset)))
    client = await make_client()
    core = {"org": "acme", "installation_id": "42", "resource": "core"}
    written: list[str] = []
    set_value = self_metrics.set

    def counting_set(spec: metrics.MetricSpec, labels: Any = None, value: float = 0.0) -> None:
        written.append(spec.name)
        set_value(spec, labels, value)

    monkeypatch.setattr(self_metrics, "set", counting_set)

    await client.get(REPOS, endpoint="list_org_repos", conditional=False)
    assert len(written) == 4  # remaining, its compatibility alias, limit, reset
    await client.get(REPOS, endpoint="list_org_repos", conditional=False)
    assert len(written) == 4  # the same values: no gauge written again
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, core) == 4321

    self_metrics.clear_cluster_state()  # a new term: collector state starts empty
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, core) == 0
    await client.get(REPOS, endpoint="list_org_repos", conditional=False)
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, core) == 4321
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_RESET, core) == int(reset)

    self_metrics.remove(metrics.GITHUB_RATE_LIMIT_LIMIT, core)
    await client.get(REPOS, endpoint="list_org_repos", conditional=False)
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_LIMIT, core) == 5000


async def test_changed_limits_are_set_at_once(fake_github, make_client, clock, self_metrics) -> None:
    reset = clock.now + 100
    answers = [rl(4321, reset), rl(4320, reset), rl(4320, reset), rl(5000, reset + 3600)]
    fake_github.on(REPOS, *(fake_github.reply(200, [], headers=headers) for headers in answers))
    client = await make_client()
    core = {"org": "acme", "installation_id": "42", "resource": "core"}
    seen = []
    for _ in range(4):
        await client.get(REPOS, endpoint="list_org_repos", conditional=False)
        seen.append(
            (
                self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, core),
                self_metrics.value(metrics.GITHUB_RATE_LIMIT_RESET, core),
            )
        )
    assert seen == [(4321, int(reset)), (4320, int(reset)), (4320, int(reset)), (5000, int(reset + 3600))]
