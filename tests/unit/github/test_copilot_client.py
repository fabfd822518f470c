"""Copilot report links (eight endpoints, 204 days, body checks) and the unauthenticated download stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from github_stats_exporter.github.copilot import (
    CopilotReportsApi,
    DownloadError,
    DownloadHostRefused,
    LinkExpired,
    MalformedReportLinks,
    ReportDownloader,
    ReportRef,
    download_hosts_for,
    host_allowed,
)

from .conftest import ClientFactory, FakeGitHub

LINKS_28D = {
    "download_links": [
        "https://copilot-reports.github.com/a?sig=s1",
        " ",
        "https://copilot-reports.github.com/b?sig=s2",
    ],
    "report_start_day": "2026-04-29",
    "report_end_day": "2026-05-26",
}
LINKS_1D = {"download_links": ["https://copilot-reports.github.com/c?sig=s3"], "report_day": "2026-05-20"}
DAY = "2026-05-20"

ENDPOINTS = [
    pytest.param(
        "organization_1_day",
        ("acme", DAY),
        "/orgs/acme/copilot/metrics/reports/organization-1-day",
        id="org-1d",
    ),
    pytest.param(
        "organization_28_day",
        ("acme",),
        "/orgs/acme/copilot/metrics/reports/organization-28-day/latest",
        id="org-28d",
    ),
    pytest.param(
        "organization_users_1_day",
        ("acme", DAY),
        "/orgs/acme/copilot/metrics/reports/users-1-day",
        id="org-users-1d",
    ),
    pytest.param(
        "organization_users_28_day",
        ("acme",),
        "/orgs/acme/copilot/metrics/reports/users-28-day/latest",
        id="org-users-28d",
    ),
    pytest.param(
        "enterprise_1_day",
        ("big", DAY),
        "/enterprises/big/copilot/metrics/reports/enterprise-1-day",
        id="ent-1d",
    ),
    pytest.param(
        "enterprise_28_day",
        ("big",),
        "/enterprises/big/copilot/metrics/reports/enterprise-28-day/latest",
        id="ent-28d",
    ),
    pytest.param(
        "enterprise_users_1_day",
        ("big", DAY),
        "/enterprises/big/copilot/metrics/reports/users-1-day",
        id="ent-users-1d",
    ),
    pytest.param(
        "enterprise_users_28_day",
        ("big",),
        "/enterprises/big/copilot/metrics/reports/users-28-day/latest",
        id="ent-users-28d",
    ),
]


@pytest.mark.parametrize(("method", "args", "path"), ENDPOINTS)
async def test_each_endpoint_has_its_path_query_and_version_header(
    fake_github: FakeGitHub, make_client: ClientFactory, method: str, args: tuple[str, ...], path: str
) -> None:
    """Every typed method calls its documented path, sends day=YYYY-MM-DD on 1-day calls and the API version."""
    one_day = len(args) == 2
    fake_github.on(path, FakeGitHub.reply(200, LINKS_1D if one_day else LINKS_28D, headers={"ETag": '"x"'}))
    api = CopilotReportsApi(await make_client(api_version="2026-03-10"))
    links = await getattr(api, method)(*args)
    assert links is not None
    (seen,) = fake_github.requests_to(path)
    assert seen.query_string == (f"day={DAY}" if one_day else "")
    assert seen.headers["X-GitHub-Api-Version"] == "2026-03-10"
    assert "If-None-Match" not in seen.headers
    if one_day:
        assert (links.start_day, links.end_day, links.window) == (DAY, DAY, "1d")
    else:
        assert (links.start_day, links.end_day, links.window) == ("2026-04-29", "2026-05-26", "28d")
        assert len(links.download_links) == 2  # blank links are dropped


async def test_links_are_never_asked_conditionally(
    fake_github: FakeGitHub, make_client: ClientFactory
) -> None:
    """A second call sends no If-None-Match: a 304 would hand back links whose signatures expired."""
    path = "/orgs/acme/copilot/metrics/reports/organization-28-day/latest"
    fake_github.on(path, FakeGitHub.reply(200, LINKS_28D, headers={"ETag": '"same"'}))
    api = CopilotReportsApi(await make_client())
    await api.organization_28_day("acme")
    await api.organization_28_day("acme")
    assert all("If-None-Match" not in seen.headers for seen in fake_github.requests_to(path))


@pytest.mark.parametrize(
    "method", ["organization_1_day", "organization_users_1_day", "enterprise_1_day", "enterprise_users_1_day"]
)
async def test_204_means_no_report_for_that_day(
    fake_github: FakeGitHub, make_client: ClientFactory, method: str
) -> None:
    """A 204 on any 1-day endpoint is "no report yet", not an error."""
    scope_id = "acme" if method.startswith("organization") else "big"
    for param in ENDPOINTS:
        if param.values[0] == method:
            fake_github.on(str(param.values[2]), FakeGitHub.reply(204))
    api = CopilotReportsApi(await make_client())
    assert await getattr(api, method)(scope_id, DAY) is None


@pytest.mark.parametrize(
    ("window", "day", "match"),
    [
        pytest.param("1d", None, "need a day", id="1d-without-day"),
        pytest.param("1d", "2026-5-1", "YYYY-MM-DD", id="bad-format"),
        pytest.param("1d", "2026-02-30", "day is out of range", id="impossible-date"),
        pytest.param("28d", DAY, "latest", id="28d-with-day"),
    ],
)
async def test_day_arguments_are_checked_before_any_request(
    fake_github: FakeGitHub, make_client: ClientFactory, window: str, day: str | None, match: str
) -> None:
    """Bad day arguments fail locally and cost no request."""
    api = CopilotReportsApi(await make_client())
    with pytest.raises(ValueError, match=match):
        await api.fetch_links(ReportRef("org", "acme", "organization"), window, day)  # type: ignore[arg-type]
    assert fake_github.seen == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"report_start_day": "2026-04-29", "report_end_day": "2026-05-26"}, id="no-links"),
        pytest.param(
            {"download_links": "https://x", "report_start_day": "2026-04-29", "report_end_day": "2026-05-26"},
            id="links-not-array",
        ),
        pytest.param({"download_links": [], "report_end_day": "2026-05-26"}, id="no-start-day"),
        pytest.param(
            {"download_links": [], "report_start_day": "yesterday", "report_end_day": "2026-05-26"},
            id="bad-day",
        ),
    ],
)
async def test_malformed_link_bodies_raise(
    fake_github: FakeGitHub, make_client: ClientFactory, body: Any
) -> None:
    """A 200 whose body is not a 28-day report-link object is a MalformedReportLinks error."""
    fake_github.on(
        "/orgs/acme/copilot/metrics/reports/organization-28-day/latest", FakeGitHub.reply(200, body)
    )
    with pytest.raises(MalformedReportLinks):
        await CopilotReportsApi(await make_client()).organization_28_day("acme")


@pytest.mark.parametrize(
    ("scope", "report_type"),
    [
        pytest.param("org", "enterprise", id="org-enterprise"),
        pytest.param("enterprise", "organization", id="ent-org"),
    ],
)
def test_report_types_belong_to_their_scope(scope: str, report_type: str) -> None:
    """Orgs have organization/users reports, enterprises enterprise/users: other pairs are refused."""
    with pytest.raises(ValueError, match="no Copilot report"):
        ReportRef(scope, "x", report_type)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "base"),
    [
        pytest.param("org", "/orgs/acme%2Fx", id="org"),
        pytest.param("enterprise", "/enterprises/acme%2Fx", id="enterprise"),
    ],
)
def test_repository_reports_have_a_1_day_path_only(scope: str, base: str) -> None:
    """`repos` is a 1-day report at both scopes (scope ids are escaped); asking for 28 days is refused."""
    ref = ReportRef(scope, "acme/x", "repos")  # type: ignore[arg-type]
    assert ref.path("1d") == f"{base}/copilot/metrics/reports/repos-1-day"
    with pytest.raises(ValueError, match="no 28d variant"):
        ref.path("28d")


def test_links_never_show_in_repr() -> None:
    """ReportLinks' repr names the report and counts links but never prints a signed URL."""
    from github_stats_exporter.github.copilot import parse_links

    links = parse_links(ReportRef("org", "acme", "users"), "28d", LINKS_28D)
    assert "sig=" not in repr(links)
    assert "copilot-reports" not in repr(links)


# --- downloads ------------------------------------------------------------------------------------


@pytest.fixture
async def downloader(foreign_github: FakeGitHub) -> AsyncIterator[ReportDownloader]:
    hosts = download_hosts_for(foreign_github.url())
    async with ReportDownloader(timeout=2.0, allowed_hosts=hosts, chunk_size=5) as dl:
        yield dl


async def fetch(dl: ReportDownloader, url: str) -> bytes:
    chunks: list[bytes] = []
    await dl.fetch(url, chunks.append)
    return b"".join(chunks)


async def test_download_streams_the_body_without_authorization(
    foreign_github: FakeGitHub, make_client: ClientFactory, downloader: ReportDownloader
) -> None:
    """The signed URL is fetched in chunks on a session that sends no Authorization (even next to a client that does)."""
    await make_client()  # an authenticated client exists in the same process
    body = b'{"user_login":"a"}\n{"user_login":"b"}\n'
    foreign_github.on("/part-0.json", FakeGitHub.reply(200, body=body))
    assert await fetch(downloader, foreign_github.url("/part-0.json?sig=abc&se=2026")) == body
    (seen,) = foreign_github.seen
    assert "Authorization" not in seen.headers
    assert seen.query_string == "sig=abc&se=2026"  # the signature is sent byte for byte


@pytest.mark.parametrize(
    ("status", "body", "error", "transient"),
    [
        pytest.param(
            403, b"<Error><Code>AuthenticationFailed</Code></Error>", LinkExpired, True, id="403-expired"
        ),
        pytest.param(404, b"<Error><Code>BlobNotFound</Code></Error>", LinkExpired, True, id="404-gone"),
        pytest.param(500, b"oops", DownloadError, True, id="500-transient"),
        pytest.param(503, b"", DownloadError, True, id="503-transient"),
        pytest.param(400, b"<Error>InvalidArgument</Error>", DownloadError, False, id="400-permanent"),
    ],
)
async def test_download_statuses_map_to_errors(
    foreign_github: FakeGitHub,
    downloader: ReportDownloader,
    status: int,
    body: bytes,
    error: type[DownloadError],
    transient: bool,
) -> None:
    """Refused signatures are cured by fresh links and 5xx by asking again; other statuses are final."""
    foreign_github.on("/f.json", FakeGitHub.reply(status, body=body))
    with pytest.raises(error) as caught:
        await fetch(downloader, foreign_github.url("/f.json?sig=secret"))
    assert caught.type is error
    assert caught.value.transient is transient
    assert caught.value.status == status
    assert "secret" not in str(caught.value)


async def test_a_slow_download_times_out(foreign_github: FakeGitHub) -> None:
    """download timeout bounds the whole file; a stall becomes a transient DownloadError."""
    foreign_github.on("/slow.json", FakeGitHub.reply(200, body=b"{}\n", delay=0.2))
    async with ReportDownloader(timeout=0.05, allowed_hosts=download_hosts_for(foreign_github.url())) as dl:
        with pytest.raises(DownloadError, match="timed out") as caught:
            await fetch(dl, foreign_github.url("/slow.json"))
    assert caught.value.transient


async def test_links_to_other_hosts_are_refused_before_any_request(foreign_github: FakeGitHub) -> None:
    """Without loopback in the allowed hosts the local server is never contacted."""
    async with ReportDownloader(timeout=1.0) as dl:
        with pytest.raises(DownloadHostRefused):
            await fetch(dl, foreign_github.url("/f.json"))
    assert foreign_github.seen == []


async def test_redirects_to_foreign_hosts_are_refused(
    foreign_github: FakeGitHub, downloader: ReportDownloader
) -> None:
    """A redirect is followed only to an allowed host."""
    foreign_github.on("/r.json", FakeGitHub.reply(302, headers={"Location": "https://evil.example.com/x"}))
    with pytest.raises(DownloadHostRefused, match=r"evil\.example\.com"):
        await fetch(downloader, foreign_github.url("/r.json"))


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        pytest.param("copilot-reports.github.com", True, id="github"),
        pytest.param("copilot-reports.acme.ghe.com", True, id="data-residency"),
        pytest.param("acct.blob.core.windows.net", True, id="blob-fallback"),
        pytest.param("x.b01.azurefd.net", True, id="old-frontdoor"),
        pytest.param("ghe.com", False, id="bare-suffix"),
        pytest.param("evilghe.com", False, id="suffix-lookalike"),
        pytest.param("api.github.com", False, id="api-host"),
        pytest.param("127.0.0.1", False, id="loopback-in-production"),
    ],
)
def test_allowed_download_hosts(host: str, allowed: bool) -> None:
    """GitHub's report hosts (and their documented fallbacks) pass; anything else does not."""
    assert host_allowed(host, download_hosts_for("https://api.github.com")) is allowed


def test_loopback_is_allowed_only_for_a_local_api() -> None:
    """The simulator's download host is accepted only when the API itself is local."""
    assert host_allowed("127.0.0.1", download_hosts_for("http://127.0.0.1:9900"))
    assert not host_allowed("127.0.0.1", download_hosts_for("https://ghe.example.com/api/v3"))


async def test_plain_http_is_refused_outside_loopback() -> None:
    """An http:// link to a real report host is refused (signatures must not travel in clear text)."""
    async with ReportDownloader(timeout=1.0) as dl:
        with pytest.raises(DownloadHostRefused, match="https only"):
            await fetch(dl, "http://copilot-reports.github.com/x?sig=1")


async def test_failed_downloads_log_nothing_with_the_signature(
    foreign_github: FakeGitHub, downloader: ReportDownloader
) -> None:
    """The downloader itself logs nothing, and its errors carry the host, never the query string."""
    foreign_github.on("/f.json", FakeGitHub.reply(500, body=b""))
    with structlog.testing.capture_logs() as logs, pytest.raises(DownloadError) as caught:
        await fetch(downloader, foreign_github.url("/f.json?sig=TOPSECRET"))
    assert "TOPSECRET" not in repr(logs)
    assert "TOPSECRET" not in str(caught.value)
