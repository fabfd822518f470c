"""Seeded Copilot usage-report rows (users / aggregate, 1-day / 28-day) as GitHub's NDJSON files hold them.

Pure data: no HTTP, no clock, stdlib only. It must not import exporter code, so the simulator never
shares the exporter's bugs. Aggregates are computed from the same per-user activity the user rows show.
"""

from __future__ import annotations

import gc
import hashlib
import random
import statistics
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from operator import add
from typing import Any, Literal

from github_stats_exporter.simulator.copilot_surfaces import (
    Surfaces,
    UsersShape,
    aggregate_fields,
    period_user_row,
    surfaces,
    usage_block,
    user_fields,
)

Scope = Literal["org", "enterprise"]
Report = Literal["aggregate", "users"]
Window = Literal["1d", "28d"]

COUNTERS = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)
"""The seven activity counters, in the order every counter tuple in this module uses."""

WINDOW_DAYS = 28
DATA_LAG_DAYS = 2
HISTORY_DAYS = 365
"""1-day reports reach back up to one year before the current date; older days answer 204."""
ETL_ID = "green"

IDES = ("vscode", "intellij", "visualstudio", "neovim", "xcode", "eclipse", "zed")
_IDE_CUMULATIVE = tuple(accumulate((55, 20, 10, 5, 4, 3, 3)))
LANGUAGES = ("python", "typescript", "go", "java", "rust", "csharp", "javascript", "unknown")
MODELS = ("gpt-5.4", "claude-sonnet-4.6", "gemini-3-pro", "auto", "unknown")
CHAT_FEATURES = (
    "chat_panel_ask_mode",
    "chat_inline",
    "chat_panel_edit_mode",
    "chat_panel_plan_mode",
    "chat_panel_custom_mode",
    "chat_panel_unknown_mode",
)
_CHAT_CUMULATIVE = tuple(accumulate((45, 25, 15, 8, 5, 2)))
PHASES = (("No Cohort", 0), ("Phase 1", 1), ("Phase 2", 2), ("Phase 3", 3))
COMMENT_TYPES = ("bug_risk", "security", "performance", "readability")
MCP_SERVERS = ("github", "playwright", "filesystem")

# Per (user, day) flag bits: cheap to derive, enough for every distinct-user count.
ACTIVE, IDE_USE, CHAT, AGENT, CLI, CLOUD, CCR_ACTIVE, CCR_PASSIVE, CCR_FALSE = (1 << i for i in range(9))

# Breakdown arrays: (field name, dimension names, cell indices of the dimensions, first counter index).
# language-level arrays start at counter 1: they carry no user_initiated_interaction_count.
BREAKDOWNS: tuple[tuple[str, tuple[str, ...], tuple[int, ...], int], ...] = (
    ("totals_by_ide", ("ide",), (1,), 0),
    ("totals_by_feature", ("feature",), (0,), 0),
    ("totals_by_language_feature", ("language", "feature"), (2, 0), 1),
    ("totals_by_language_model", ("language", "model"), (2, 3), 1),
    ("totals_by_model_feature", ("model", "feature"), (3, 0), 0),
)
_ELEMENT_FIELDS = tuple(names + COUNTERS[first:] for _, names, _, first in BREAKDOWNS)

Cell = tuple[str, str | None, str, str | None, tuple[int, int, int, int, int, int, int]]
"""(feature, ide or None for CLI, language, model or None for completions, the 7 counters)."""


class UnknownScope(LookupError):
    """The org or enterprise is not part of this dataset (the server answers 404)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Stable habits of one user: which IDEs, languages and models, and how often each surface is used."""

    login: str
    user_id: int
    ides: tuple[str, ...]
    ide_versions: tuple[str, ...]
    languages: tuple[str, ...]
    models: tuple[str, ...]
    p_active: float
    p_chat: float
    p_agent: float
    p_cli: float
    p_cloud: float
    p_review: float
    intensity: float
    phase: int
    cli_version: str


@dataclass(frozen=True, slots=True)
class MergedPR:
    """One pull request merged that day, as far as the report's pull_requests object cares."""

    minutes: float
    by_copilot: bool
    reviewed_by_copilot: bool


@dataclass(frozen=True, slots=True)
class Activity:
    """Everything one user did with Copilot on one day; both user rows and aggregates derive from it."""

    profile: Profile
    day: date
    flags: int
    cells: tuple[Cell, ...]
    cli: tuple[int, int, int, int, int] | None  # sessions, requests, prompts, output tokens, prompt tokens
    prs_created: int
    prs_created_by_copilot: int
    prs_reviewed: int
    prs_reviewed_by_copilot: int
    merged: tuple[MergedPR, ...]
    suggestions: int
    applied_suggestions: int
    copilot_suggestions: tuple[tuple[str, int, int], ...]
    ai_credits: float
    mcp: tuple[tuple[str, int], ...]
    clock: tuple[int, int, int]


class Totals:
    """Accumulates cells into the top-level counters and the five breakdown arrays."""

    __slots__ = ("counters", "groups")

    def __init__(self) -> None:
        self.counters: tuple[int, ...] = (0,) * 7
        self.groups: tuple[dict[tuple[str, ...], tuple[int, ...]], ...] = tuple({} for _ in BREAKDOWNS)

    def add(self, cells: Iterable[Cell]) -> None:
        # Straight-line on purpose: this runs once per cell of every row in the large benchmark dataset.
        by_ide, by_feature, by_language_feature, by_language_model, by_model_feature = self.groups
        counters = self.counters
        for feature, ide, language, model, values in cells:
            counters = tuple(map(add, counters, values))
            _merge(by_feature, (feature,), values)
            _merge(by_language_feature, (language, feature), values)
            if ide is not None:
                _merge(by_ide, (ide,), values)
            if model is not None:
                _merge(by_language_model, (language, model), values)
                _merge(by_model_feature, (model, feature), values)
        self.counters = counters

    def write(self, row: dict[str, Any], ide_extra: Callable[[str], dict[str, Any]] | None = None) -> None:
        """Put the counters and the arrays (sorted by their dimension values) into ``row``."""
        row.update(zip(COUNTERS, self.counters, strict=True))
        for (field, _, _, first), fields, group in zip(BREAKDOWNS, _ELEMENT_FIELDS, self.groups, strict=True):
            elements = [dict(zip(fields, key + group[key][first:], strict=True)) for key in sorted(group)]
            if ide_extra is not None and field == "totals_by_ide":
                for element in elements:
                    element.update(ide_extra(str(element["ide"])))
            row[field] = elements


def _merge(
    group: dict[tuple[str, ...], tuple[int, ...]], key: tuple[str, ...], values: tuple[int, ...]
) -> None:
    acc = group.get(key)
    group[key] = values if acc is None else tuple(map(add, acc, values))


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def _stable_int(*parts: object, modulo: int, offset: int) -> int:
    return int.from_bytes(_digest(*parts)[:8], "big") % modulo + offset


class CopilotDataset:
    """Deterministic Copilot usage for some orgs (and optionally their enterprise), built lazily per day.

    A user who belongs to several orgs shows up in each org's reports and once in the enterprise's.
    """

    def __init__(
        self,
        seed: int,
        orgs: Mapping[str, Sequence[str]],
        enterprise: str | None,
        first_day: date,
        *,
        users_28d_shape: UsersShape = "per_day",
    ) -> None:
        self.seed = seed
        self.users_28d_shape: UsersShape = users_28d_shape
        """Layout of 28-day users reports (see `copilot_surfaces.UsersShape`); settable on a live dataset."""
        self.orgs: dict[str, tuple[str, ...]] = {org: tuple(dict.fromkeys(m)) for org, m in orgs.items()}
        self.enterprise = enterprise
        self.first_day = first_day
        self._org_by_lower = {org.lower(): org for org in self.orgs}
        self._org_members = {org: frozenset(m) for org, m in self.orgs.items()}
        self.users: tuple[str, ...] = tuple(sorted({u for m in self.orgs.values() for u in m}))
        self.user_ids: dict[str, int] = {}
        taken: set[int] = set()
        for login in self.users:
            uid = _stable_int(seed, "user", login, modulo=90_000_000, offset=1_000_000)
            while uid in taken:  # rare hash collision: bump deterministically (logins are sorted)
                uid += 1
            taken.add(uid)
            self.user_ids[login] = uid
        self.enterprise_id = str(_stable_int(seed, "enterprise", enterprise, modulo=90_000, offset=10_000))
        self.organization_ids = {
            org: str(_stable_int(seed, "org", org, modulo=9_000_000, offset=100_000)) for org in self.orgs
        }
        self._profiles: dict[str, Profile] = {}
        self._flags: dict[date, dict[str, tuple[int, bytes]]] = {}
        self._activities: dict[date, dict[str, Activity]] = {}
        self._aggregates: dict[tuple[str, date], dict[str, Any]] = {}

    # -- availability ---------------------------------------------------------------------------

    @staticmethod
    def latest_complete_day(today: date) -> date:
        """The newest day whose report exists: GitHub's data lags two days behind."""
        return today - timedelta(days=DATA_LAG_DAYS)

    @staticmethod
    def oldest_day(today: date) -> date:
        """The oldest day a 1-day report can be asked for as of ``today`` (one year back)."""
        return today - timedelta(days=HISTORY_DAYS)

    def available(self, day: date, today: date) -> bool:
        """Whether a 1-day report (or a 28-day report ending on ``day``) exists as of ``today``."""
        return max(self.first_day, self.oldest_day(today)) <= day <= self.latest_complete_day(today)

    # -- scope resolution -----------------------------------------------------------------------

    def canonical_scope_id(self, scope: Scope, scope_id: str) -> str:
        """The configured spelling of an org (GitHub treats org names case-insensitively) or the slug."""
        if scope == "enterprise":
            if self.enterprise is None or scope_id != self.enterprise:
                msg = f"unknown enterprise {scope_id!r}"
                raise UnknownScope(msg)
            return scope_id
        org = self._org_by_lower.get(scope_id.lower())
        if org is None:
            msg = f"unknown organization {scope_id!r}"
            raise UnknownScope(msg)
        return org

    def members(self, scope: Scope, scope_id: str) -> frozenset[str]:
        """Logins whose usage the scope's reports include."""
        canonical = self.canonical_scope_id(scope, scope_id)
        return frozenset(self.users) if scope == "enterprise" else self._org_members[canonical]

    # -- per-user, per-day generation -----------------------------------------------------------

    def profile(self, login: str) -> Profile:
        """The user's stable habits (computed once, on first use)."""
        cached = self._profiles.get(login)
        if cached is not None:
            return cached
        rng = random.Random(int.from_bytes(_digest(self.seed, "profile", login), "big"))
        ides = [_pick(rng, IDES, _IDE_CUMULATIVE)]
        if rng.random() < 0.25:
            second = _pick(rng, IDES, _IDE_CUMULATIVE)
            if second != ides[0]:
                ides.append(second)
        languages = tuple(sorted(rng.sample(LANGUAGES, 1 + int(rng.random() * 3))))
        models = tuple(sorted(rng.sample(MODELS, 1 + int(rng.random() * 2))))
        profile = Profile(
            login=login,
            user_id=self.user_ids[login],
            ides=tuple(ides),
            ide_versions=tuple(f"1.{90 + int(rng.random() * 15)}.{int(rng.random() * 4)}" for _ in ides),
            languages=languages,
            models=models,
            # About one user in eight barely uses Copilot, so monthly counts stay below the member count.
            p_active=0.03 + rng.random() * 0.12 if rng.random() < 0.125 else 0.6 + rng.random() * 0.3,
            p_chat=rng.random() * 0.8,
            p_agent=rng.random() * 0.5,
            p_cli=rng.random() * 0.35 if rng.random() < 0.5 else 0.0,
            p_cloud=rng.random() * 0.2 if rng.random() < 0.4 else 0.0,
            p_review=rng.random() * 0.4,
            intensity=0.3 + rng.random() * 1.7,
            phase=min(3, int(rng.random() * 4.4)),
            cli_version=f"1.0.{int(rng.random() * 12)}",
        )
        self._profiles[login] = profile
        return profile

    def _day_flags(self, day: date) -> dict[str, tuple[int, bytes]]:
        """Flags of every active user in the dataset on ``day`` (empty before first_day)."""
        cached = self._flags.get(day)
        if cached is not None:
            return cached
        result: dict[str, tuple[int, bytes]] = {}
        if day >= self.first_day:
            weekend = day.weekday() >= 5
            ordinal = day.toordinal()
            for login in self.users:
                p = self.profile(login)
                d = _digest(self.seed, login, ordinal)
                p_active = p.p_active * 0.2 if weekend else p.p_active
                if d[0] / 256 >= p_active:
                    continue
                flags = ACTIVE
                cli = d[4] / 256 < p.p_cli
                # A few CLI days happen without any IDE use; IDE-only surfaces are off then.
                if not (cli and d[5] < 64):
                    flags |= IDE_USE
                    if d[1] / 256 < p.p_chat:
                        flags |= CHAT
                    if d[2] / 256 < p.p_agent:
                        flags |= AGENT
                if cli:
                    flags |= CLI
                if d[3] / 256 < p.p_cloud:
                    flags |= CLOUD
                review = d[6] / 256
                if review < p.p_review * 0.5:
                    flags |= CCR_ACTIVE
                elif review < p.p_review:
                    flags |= CCR_PASSIVE
                elif d[7] < 128:
                    flags |= CCR_FALSE
                result[login] = (flags, d)
        self._flags[day] = result
        # Enough for a 28-day aggregate (28 days plus 27 trailing) without holding years of flags.
        if len(self._flags) > 90:
            self._flags.pop(next(iter(self._flags)))
        return result

    def active_flags(self, day: date, logins: frozenset[str] | None = None) -> dict[str, int]:
        """login → flag bits for users active on ``day`` (optionally only those in ``logins``)."""
        flags = self._day_flags(day)
        if logins is None:
            return {login: f for login, (f, _) in flags.items()}
        return {login: f for login, (f, _) in flags.items() if login in logins}

    def activity(self, login: str, day: date) -> Activity | None:
        """The user's Copilot activity that day, or None when they did not use Copilot."""
        per_day = self._activities.get(day)
        if per_day is None:
            per_day = self._activities[day] = {}
            # Bounded: a 28-day report plus slack; large datasets must not keep every day in memory.
            if len(self._activities) > 32:
                self._activities.pop(next(iter(self._activities)))
        cached = per_day.get(login)
        if cached is not None:
            return cached
        entry = self._day_flags(day).get(login)
        if entry is None:
            return None
        act = _generate(self.profile(login), day, *entry)
        per_day[login] = act
        return act

    def surfaces(self, act: Activity) -> Surfaces:
        """The user's use of the 2026 surfaces (app, VS Code Agents, third-party agents) on that day."""
        mcp = (name for name, _ in act.mcp)
        return surfaces(self.seed, act.profile.login, act.day, ide=bool(act.flags & IDE_USE), mcp=mcp)

    # -- report rows ----------------------------------------------------------------------------

    def report_rows(
        self, scope: Scope, scope_id: str, report: Report, window: Window, day: date
    ) -> list[dict[str, Any]]:
        """The NDJSON records of one report; ``day`` is the report day (1d) or report_end_day (28d).

        Nested objects may be shared with later calls (aggregates are cached): treat rows as read-only.
        """
        rows = self.iter_report_rows(scope, scope_id, report, window, day)
        # Rows are acyclic, so the cyclic collector only wastes time rescanning a growing result
        # (about a third of the build time for a 100k-row report).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return list(rows)
        finally:
            if was_enabled:
                gc.enable()

    def iter_report_rows(
        self, scope: Scope, scope_id: str, report: Report, window: Window, day: date
    ) -> Iterator[dict[str, Any]]:
        """Like report_rows, one record at a time, so a large report can be streamed to a client."""
        canonical = self.canonical_scope_id(scope, scope_id)  # raises now, not on first next()
        if day < self.first_day:
            return iter(())
        members = self.members(scope, canonical)
        org_id = self.organization_ids[canonical] if scope == "org" else None
        days = [day] if window == "1d" else [d for d in _window_days(day) if d >= self.first_day]
        if report == "users":
            rows = self._user_rows(members, org_id, days, day if window == "28d" else None)
            if window == "28d" and self.users_28d_shape == "per_user":
                return self._period_rows(rows)
            return rows
        if window == "1d":
            record = dict(self._aggregate_day(scope, canonical, members, day))
            record.update(self._housekeeping(day, org_id))
            return iter((record,))
        wrapper: dict[str, Any] = {
            "report_start_day": _window_days(day)[0].isoformat(),
            "report_end_day": day.isoformat(),
            "created_at": f"{(day + timedelta(days=DATA_LAG_DAYS)).isoformat()}T03:17:42Z",
            "enterprise_id": self.enterprise_id,
        }
        if org_id is not None:
            wrapper["organization_id"] = org_id
        wrapper["day_totals"] = [dict(self._aggregate_day(scope, canonical, members, d)) for d in days]
        wrapper.update(self._housekeeping(day, org_id))
        return iter((wrapper,))

    def _user_rows(
        self, members: frozenset[str], org_id: str | None, days: list[date], end_day: date | None
    ) -> Iterator[dict[str, Any]]:
        window = {}
        if end_day is not None:
            window = {
                "report_start_day": _window_days(end_day)[0].isoformat(),
                "report_end_day": end_day.isoformat(),
                "day_partition": end_day.isoformat(),
            }
        for d in days:
            for login in sorted(self.active_flags(d, members)):
                act = self.activity(login, d)
                if act is None:  # pragma: no cover (active_flags lists only active users)
                    continue
                row = self._user_row(act, org_id)
                row.update(window)
                yield row

    @staticmethod
    def _period_rows(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Per-(user, day) rows regrouped as one whole-window row per user, in login order."""
        by_user: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_user.setdefault(str(row["user_login"]), []).append(row)
        for login in sorted(by_user):
            yield period_user_row(sorted(by_user[login], key=lambda r: str(r["day"])))

    def _housekeeping(self, day: date, org_id: str | None) -> dict[str, Any]:
        return {
            "etl_id": ETL_ID,
            "day_partition": day.isoformat(),
            "entity_id_partition": int(org_id if org_id is not None else self.enterprise_id),
        }

    def _user_row(self, act: Activity, org_id: str | None) -> dict[str, Any]:
        p = act.profile
        flags = act.flags
        iso = act.day.isoformat()
        hh, mm, ss = act.clock
        stamp = f"{iso}T{hh:02d}:{mm:02d}:{ss:02d}.000Z"
        row: dict[str, Any] = {
            "user_id": p.user_id,
            "user_login": p.login,
            "day": iso,
            "enterprise_id": self.enterprise_id,
        }
        if org_id is not None:
            row["organization_id"] = org_id
        totals = Totals()
        totals.add(act.cells)
        versions = dict(zip(p.ides, p.ide_versions, strict=True))

        def ide_extra(ide: str) -> dict[str, Any]:
            return {
                "last_known_ide_version": {"ide_version": versions.get(ide, "unknown"), "sampled_at": stamp},
                "last_known_plugin_version": {
                    "plugin": "copilot-chat",
                    "plugin_version": "0.3" + versions.get(ide, "1.0.0")[3:],
                    "sampled_at": stamp,
                },
            }

        totals.write(row, ide_extra)
        cloud = bool(flags & CLOUD)
        active_review: bool | None = None
        passive_review: bool | None = None
        if flags & (CCR_ACTIVE | CCR_PASSIVE | CCR_FALSE):
            active_review, passive_review = bool(flags & CCR_ACTIVE), bool(flags & CCR_PASSIVE)
        phase, phase_number = PHASES[p.phase]
        row.update(
            {
                "used_agent": bool(flags & AGENT),
                "used_chat": bool(flags & CHAT),
                "used_cli": bool(flags & CLI),
                "used_copilot_coding_agent": cloud,
                "used_copilot_cloud_agent": cloud,
                "used_copilot_code_review_active": active_review,
                "used_copilot_code_review_passive": passive_review,
                "ai_adoption_phase": {"phase_number": phase_number, "phase": phase, "version": "2026-05"},
            }
        )
        if act.cli is not None:
            cli = usage_block(act.cli)
            cli["last_known_cli_version"] = {"cli_version": p.cli_version, "sampled_at": stamp}
            row["totals_by_cli"] = cli
        # Fields GitHub added after the documented schema, plus one nobody knows yet: parsers must ignore them.
        row["ai_credits_used"] = act.ai_credits
        row["totals_by_mcp"] = [{"mcp": name, "interaction_count": n} for name, n in act.mcp]
        row["holo_pairing_minutes"] = {"total": act.clock[1], "surface": "simulated-future-field"}
        row.update(user_fields(self.surfaces(act)))
        row.update(self._housekeeping(act.day, org_id))
        return row

    def _aggregate_day(
        self, scope: Scope, scope_id: str, members: frozenset[str], day: date
    ) -> dict[str, Any]:
        """One aggregate day record (a day_totals element), cached per scope and day."""
        key = (f"{scope}/{scope_id}", day)
        cached = self._aggregates.get(key)
        if cached is not None:
            return cached
        org_id = self.organization_ids[scope_id] if scope == "org" else None
        record = _aggregate(self, scope_id, org_id, members, day)
        self._aggregates[key] = record
        if len(self._aggregates) > 256:
            self._aggregates.pop(next(iter(self._aggregates)))
        return record


def _window_days(end: date) -> list[date]:
    """The 28 days ending on ``end``, oldest first."""
    return [end - timedelta(days=WINDOW_DAYS - 1 - i) for i in range(WINDOW_DAYS)]


def _pick(rng: random.Random, items: Sequence[str], cumulative: Sequence[int] | None = None) -> str:
    if cumulative is None:
        return items[int(rng.random() * len(items))]
    return items[bisect(cumulative, rng.random() * cumulative[-1])]


def _generate(p: Profile, day: date, flags: int, d: bytes) -> Activity:
    """Detailed activity for an active user-day; drawn from a generator seeded by that user-day alone."""
    rng = random.Random(int.from_bytes(d, "big"))
    r = rng.random
    k = p.intensity
    cells: list[Cell] = []
    if flags & IDE_USE:
        ides = p.ides if len(p.ides) > 1 and r() < 0.4 else p.ides[:1]
        for ide in ides:
            langs = [lang for lang in p.languages if r() < 0.7] or [p.languages[0]]
            for lang in langs:
                gen = 1 + int(r() * 30 * k)
                acc = int(gen * (0.15 + r() * 0.45))
                suggested = gen + int(gen * r() * 3)
                added = min(suggested, acc + int(acc * r() * 2))
                cells.append(("code_completion", ide, lang, None, (0, gen, acc, suggested, 0, added, 0)))
        ide = ides[0]
        if flags & CHAT:
            features = {_pick(rng, CHAT_FEATURES, _CHAT_CUMULATIVE) for _ in range(1 + int(r() * 2))}
            for feature in sorted(features):
                prompts = 1 + int(r() * 10 * k)
                gen = prompts + int(r() * prompts * 2)
                acc = int(gen * r() * 0.6)
                suggested = gen * (2 + int(r() * 6))
                to_delete = int(suggested * r() * 0.2)
                added = int(suggested * r() * 0.5)
                deleted = int(to_delete * r())
                values = (prompts, gen, acc, suggested, to_delete, added, deleted)
                cells.append((feature, ide, _pick(rng, p.languages), _pick(rng, p.models), values))
        if flags & AGENT:
            model = _pick(rng, p.models)
            lang = _pick(rng, p.languages)
            prompts = 1 + int(r() * 6 * k)
            gen = prompts + int(r() * 5)
            values = (prompts, gen, int(gen * r() * 0.5), gen * 4, 0, gen * 2, int(gen * r()))
            cells.append(("chat_panel_agent_mode", ide, lang, model, values))
            # agent_edit lines are written directly: no prompts and no suggestion metrics.
            cells.append(
                ("agent_edit", ide, lang, model, (0, 0, 0, 0, 0, 10 + int(r() * 250 * k), int(r() * 60)))
            )
        if r() < 0.05:
            cells.append(("others", ide, "unknown", None, (int(r() * 3), 1, 0, 2, 0, 0, 0)))
    cli: tuple[int, int, int, int, int] | None = None
    if flags & CLI:
        prompts = 1 + int(r() * 8 * k)
        gen = int(prompts * r() * 2)
        cells.append(
            (
                "copilot_cli",
                None,
                "unknown",
                _pick(rng, p.models),
                (prompts, gen, gen // 2, 0, 0, gen * 3, gen),
            )
        )
        # Occasionally a session ends before any request: avg_tokens_per_request is null then.
        requests = 0 if r() < 0.05 else prompts + int(r() * prompts * 3)
        output = requests * (200 + int(r() * 2000))
        cli = (1 + int(r() * 3), requests, prompts, output, requests * (300 + int(r() * 3000)))
    created = int(r() * 2.5)
    created_by_copilot = 1 if flags & CLOUD and r() < 0.6 else 0
    reviewed = int(r() * 3)
    merged = tuple(
        MergedPR(round(5 + r() * 3000, 1), created_by_copilot > 0 and i == 0, r() < 0.4)
        for i in range(int(r() * 2.2))
    )
    copilot_suggestions = tuple(
        (ctype, n, int(n * r())) for ctype in COMMENT_TYPES if flags & CCR_ACTIVE and (n := int(r() * 4)) > 0
    )
    suggestions = sum(n for _, n, _ in copilot_suggestions) + int(r() * 3)
    mcp = tuple((name, 1 + int(r() * 9)) for name in MCP_SERVERS if flags & AGENT and r() < 0.4)
    return Activity(
        profile=p,
        day=day,
        flags=flags,
        cells=tuple(cells),
        cli=cli,
        prs_created=created + created_by_copilot,
        prs_created_by_copilot=created_by_copilot,
        prs_reviewed=reviewed,
        prs_reviewed_by_copilot=min(reviewed, 1) if flags & (CCR_ACTIVE | CCR_PASSIVE) else 0,
        merged=merged,
        suggestions=suggestions,
        applied_suggestions=int(suggestions * r() * 0.7),
        copilot_suggestions=copilot_suggestions,
        ai_credits=round(r() * 40 * k, 2),
        mcp=mcp,
        clock=(int(r() * 24), int(r() * 60), int(r() * 60)),
    )


def _distinct(flag_maps: Iterable[dict[str, int]], bits: int, exclude: int = 0) -> int:
    """Users with any of ``bits`` on some day of the window; ``exclude`` bits on any day disqualify."""
    seen: dict[str, int] = {}
    for flags in flag_maps:
        for login, f in flags.items():
            seen[login] = seen.get(login, 0) | f
    return sum(1 for f in seen.values() if f & bits and not f & exclude)


def _aggregate(
    ds: CopilotDataset, scope_id: str, org_id: str | None, members: frozenset[str], day: date
) -> dict[str, Any]:
    """An aggregate day record over ``members``; counters and arrays are sums of the user rows."""
    trailing = [ds.active_flags(day - timedelta(days=i), members) for i in range(WINDOW_DAYS)]
    today_flags = trailing[0]
    week, month = trailing[:7], trailing
    record: dict[str, Any] = {"day": day.isoformat(), "enterprise_id": ds.enterprise_id}
    if org_id is not None:
        record["organization_id"] = org_id
    record["daily_active_users"] = len(today_flags)
    record["weekly_active_users"] = _distinct(week, ACTIVE)
    record["monthly_active_users"] = _distinct(month, ACTIVE)
    record["monthly_active_chat_users"] = _distinct(month, CHAT)
    record["monthly_active_agent_users"] = _distinct(month, AGENT)
    # The cloud-agent counts are documented as nullable; some days GitHub has none.
    cloud_null = int.from_bytes(_digest(ds.seed, "cloud-null", scope_id, day)[:2], "big") % 6 == 0
    for prefix, window in (("daily", trailing[:1]), ("weekly", week), ("monthly", month)):
        record[f"{prefix}_active_copilot_cloud_agent_users"] = (
            None if cloud_null else _distinct(window, CLOUD)
        )
    for prefix, window in (("daily", trailing[:1]), ("weekly", week), ("monthly", month)):
        record[f"{prefix}_active_copilot_code_review_users"] = _distinct(window, CCR_ACTIVE)
        # Active wins: someone active in the window is not also counted as passive.
        record[f"{prefix}_passive_copilot_code_review_users"] = _distinct(window, CCR_PASSIVE, CCR_ACTIVE)
    cli_users = sum(1 for f in today_flags.values() if f & CLI)
    if cli_users:
        record["daily_active_cli_users"] = cli_users

    activities = [a for login in sorted(today_flags) if (a := ds.activity(login, day)) is not None]
    totals = Totals()
    for act in activities:
        totals.add(act.cells)
    totals.write(record)
    clis = [a.cli for a in activities if a.cli is not None]
    if clis:
        record["totals_by_cli"] = usage_block(tuple(sum(c[i] for c in clis) for i in range(5)))  # type: ignore[arg-type]
    record["totals_by_ai_adoption_phase"] = _phases(activities)
    distinct_null = int.from_bytes(_digest(ds.seed, "distinct-null", scope_id, day)[:2], "big") % 7 == 0
    record.update(aggregate_fields([ds.surfaces(a) for a in activities], distinct_null=distinct_null))
    record["pull_requests"] = pull_requests_object(activities, absent=day.toordinal() % 2 == 0)
    return record


def _phases(activities: Sequence[Activity]) -> list[dict[str, Any]]:
    out = []
    for phase_idx, (phase, number) in enumerate(PHASES):
        group = [a for a in activities if a.profile.phase == phase_idx]
        if not group:
            continue
        n = len(group)

        def avg(values: Iterable[float], n: int = n) -> float:
            return round(sum(values) / n, 2)

        per_counter = [sum(c[4][i] for a in group for c in a.cells) for i in range(7)]
        minutes = [m.minutes for a in group for m in a.merged]
        out.append(
            {
                "phase": phase,
                "phase_number": number,
                "total_engaged_users": n,
                "avg_user_initiated_interactions": round(per_counter[0] / n, 2),
                "avg_code_generation_activities": round(per_counter[1] / n, 2),
                "avg_code_acceptance_activities": round(per_counter[2] / n, 2),
                "avg_loc_added": round(per_counter[5] / n, 2),
                "avg_loc_deleted": round(per_counter[6] / n, 2),
                "avg_pull_requests_reviewed": avg(a.prs_reviewed for a in group),
                "avg_pull_requests_created": avg(a.prs_created for a in group),
                "avg_pull_requests_merged": avg(len(a.merged) for a in group),
                "avg_pull_requests_median_minutes_to_merge": statistics.median(minutes) if minutes else 0.0,
                "total_pull_requests_merged": len(minutes),
            }
        )
    return out


def pull_requests_object(activities: Sequence[Activity], *, absent: bool) -> dict[str, Any]:
    """The ``pull_requests`` object of the activities of one day (an aggregate day, or one repository)."""
    merged = [m for a in activities for m in a.merged]
    by_type: dict[str, list[int]] = {}
    for a in activities:
        for ctype, n, applied in a.copilot_suggestions:
            acc = by_type.setdefault(ctype, [0, 0])
            acc[0] += n
            acc[1] += applied
    prs: dict[str, Any] = {
        "total_created": sum(a.prs_created for a in activities),
        "total_reviewed": sum(a.prs_reviewed for a in activities),
        "total_merged": len(merged),
        "total_suggestions": sum(a.suggestions for a in activities),
        "total_applied_suggestions": sum(a.applied_suggestions for a in activities),
        "total_created_by_copilot": sum(a.prs_created_by_copilot for a in activities),
        "total_reviewed_by_copilot": sum(a.prs_reviewed_by_copilot for a in activities),
        "total_merged_created_by_copilot": sum(1 for m in merged if m.by_copilot),
        "total_merged_reviewed_by_copilot": sum(1 for m in merged if m.reviewed_by_copilot),
        "total_copilot_suggestions": sum(v[0] for v in by_type.values()),
        "total_copilot_applied_suggestions": sum(v[1] for v in by_type.values()),
        "copilot_suggestions_by_comment_type": [
            {"comment_type": t, "total_copilot_suggestions": v[0], "total_copilot_applied_suggestions": v[1]}
            for t, v in sorted(by_type.items())
        ],
    }
    # GitHub omits the medians on some days and sends null on others when nothing was merged.
    for field, sample in (
        ("median_minutes_to_merge", merged),
        ("median_minutes_to_merge_copilot_authored", [m for m in merged if m.by_copilot]),
        ("median_minutes_to_merge_copilot_reviewed", [m for m in merged if m.reviewed_by_copilot]),
    ):
        if sample:
            prs[field] = round(float(statistics.median(m.minutes for m in sample)), 1)
        elif not absent:
            prs[field] = None
    return prs
