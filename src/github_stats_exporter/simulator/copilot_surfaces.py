"""The report fields GitHub added in 2026 for newer Copilot surfaces, for the simulator's rows.

Covers the GitHub Copilot app (``totals_by_copilot_app``, ``daily_active_copilot_app_users``), the VS Code
Agents window (``totals_by_vscode_agent``, ``daily_active_vscode_agent_users``), third-party agent apps
(``totals_by_3rd_party_agent``) and the CLI-customization ``distinct_*_use_count`` fields, plus the
whole-window shape of a 28-day users report (one row per user instead of one per user and day; the
reference's open question, handled both ways). Values are drawn from a digest of their own, so adding
them changed none of the activity `copilot_data` generated before (only ``daily_active_copilot_app_users``,
a constant 0 until then, now counts app users or is null). Every field is emitted on every day
of the dataset: the simulator does not model the date a field appeared. Pure data, stdlib only; it
must not import exporter code.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import add
from typing import Any, Literal

UsersShape = Literal["per_day", "per_user"]
"""How a 28-day users report is laid out: one row per (user, day) with ``day``, or one row per user for
the whole window without ``day`` (docs/metrics.md, "Copilot usage: 2026 fields")."""

THIRD_PARTY_AGENTS = (("2246796", "Claude (Anthropic)"), ("2248422", "Codex (OpenAI)"), ("2251107", "Jules"))
CUSTOMIZATIONS = ("skill", "slash_cmd", "plugin", "custom_agent")
"""CLI customizations with a ``distinct_<name>_use_count`` field (``mcp`` comes from the MCP servers)."""
_CATALOG = {
    "skill": ("general-purpose", "code-review", "other"),
    "slash_cmd": ("/plan", "/review", "/compact", "custom"),
    "plugin": ("github", "jira", "other"),
    "custom_agent": ("docs-writer", "other"),
}
DISTINCT_FIELDS = tuple(f"distinct_{name}_use_count" for name in (*CUSTOMIZATIONS, "mcp"))

Usage = tuple[int, int, int, int, int]
"""sessions, requests, prompts, output tokens, prompt tokens (``totals_by_cli`` / ``totals_by_copilot_app``)."""


@dataclass(frozen=True, slots=True)
class Surfaces:
    """One active user's use of the 2026 surfaces on one day."""

    app: Usage | None
    vscode_agent: tuple[int, int] | None  # sessions, user messages
    agents: tuple[tuple[str, str, int, int], ...]  # agent_id, agent_name, job starts, sessions
    items: dict[str, frozenset[str]]  # customization → items used (mcp included)
    distinct_unknown: bool  # GitHub had no customization data for this row (distinct_* are null)


def surfaces(seed: int, login: str, day: date, *, ide: bool, mcp: Iterable[str]) -> Surfaces:
    """The user's 2026-surface activity that day (call only for a user active that day)."""
    digest = hashlib.blake2b(f"{seed}:surfaces:{login}:{day.toordinal()}".encode(), digest_size=16).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    r = rng.random
    app: Usage | None = None
    # Rare enough that small orgs have days without any app or VS Code Agents use (null/absent fields).
    if r() < 0.06:
        requests = 1 + int(r() * 12)
        app = (1 + int(r() * 2), requests, 1 + int(r() * requests), requests * 900, requests * 1300)
    vscode = (1 + int(r() * 3), 1 + int(r() * 20)) if ide and r() < 0.06 else None
    agents = tuple(
        (agent_id, name, 1 + int(r() * 5), 1 + int(r() * 2))
        for agent_id, name in THIRD_PARTY_AGENTS
        if r() < 0.04
    )
    items = {name: frozenset(i for i in _CATALOG[name] if r() < 0.3) for name in CUSTOMIZATIONS}
    items["mcp"] = frozenset(mcp)
    return Surfaces(app, vscode, agents, items, distinct_unknown=r() < 0.1)


def usage_block(usage: Usage) -> dict[str, Any]:
    """``totals_by_copilot_app`` (and ``totals_by_cli``) as GitHub writes it."""
    sessions, requests, prompts, output_tokens, prompt_tokens = usage
    avg = round((output_tokens + prompt_tokens) / requests, 1) if requests else None
    return {
        "session_count": sessions,
        "request_count": requests,
        "prompt_count": prompts,
        "token_usage": {
            "output_tokens_sum": output_tokens,
            "prompt_tokens_sum": prompt_tokens,
            "avg_tokens_per_request": avg,
        },
    }


def user_fields(s: Surfaces) -> dict[str, Any]:
    """The 2026 fields of a per-user row; optional objects and arrays are omitted without activity."""
    row: dict[str, Any] = {
        "used_copilot_app": s.app is not None,
        "used_vscode_agent": s.vscode_agent is not None,
    }
    if s.app is not None:
        row["totals_by_copilot_app"] = usage_block(s.app)
    if s.vscode_agent is not None:
        row["totals_by_vscode_agent"] = {
            "session_count": s.vscode_agent[0],
            "total_user_messages": s.vscode_agent[1],
        }
    if s.agents:
        # Per user GitHub reports job starts only: no session_count at this level.
        row["totals_by_3rd_party_agent"] = [
            {"agent_id": agent_id, "agent_name": name, "user_initiated_interaction_count": n}
            for agent_id, name, n, _ in s.agents
        ]
    for name, field in zip((*CUSTOMIZATIONS, "mcp"), DISTINCT_FIELDS, strict=True):
        row[field] = None if s.distinct_unknown else len(s.items[name])
    return row


def aggregate_fields(all_surfaces: Sequence[Surfaces], *, distinct_null: bool) -> dict[str, Any]:
    """The 2026 fields of an aggregate day over the active users' surfaces.

    ``daily_active_copilot_app_users`` and ``totals_by_copilot_app`` are null without app use; the VS
    Code Agents and third-party agent fields are omitted without use; ``distinct_*`` count each item once
    across users and are null on days GitHub had no customization data (``distinct_null``).
    """
    apps = [s.app for s in all_surfaces if s.app is not None]
    vscode = [s.vscode_agent for s in all_surfaces if s.vscode_agent is not None]
    record: dict[str, Any] = {
        "daily_active_copilot_app_users": len(apps) or None,
        "totals_by_copilot_app": usage_block(_sum(apps)) if apps else None,  # type: ignore[arg-type]
    }
    if vscode:
        record["daily_active_vscode_agent_users"] = len(vscode)
        record["totals_by_vscode_agent"] = {
            "session_count": sum(v[0] for v in vscode),
            "total_user_messages": sum(v[1] for v in vscode),
        }
    agents: dict[tuple[str, str], list[int]] = {}
    for s in all_surfaces:
        for agent_id, name, n, sessions in s.agents:
            acc = agents.setdefault((agent_id, name), [0, 0])
            acc[0] += n
            acc[1] += sessions
    if agents:
        record["totals_by_3rd_party_agent"] = [
            {
                "agent_id": agent_id,
                "agent_name": name,
                "user_initiated_interaction_count": n,
                "session_count": k,
            }
            for (agent_id, name), (n, k) in sorted(agents.items())
        ]
    for name, field in zip((*CUSTOMIZATIONS, "mcp"), DISTINCT_FIELDS, strict=True):
        used = frozenset().union(*(s.items[name] for s in all_surfaces))
        record[field] = None if distinct_null else len(used)
    # Fields nobody has documented yet: a parser must skip them.
    record["totals_by_quantum_agent"] = [{"qubits": 3, "session_count": 1}]
    record["copilot_feature_engagement"] = {"active_user_count": len(all_surfaces), "totals_by_feature": []}
    return record


def _sum(values: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    out = values[0]
    for value in values[1:]:
        out = tuple(map(add, out, value))
    return out


def period_user_row(day_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One user's rows of a 28-day window (oldest first) as the single whole-window row, without ``day``.

    Counters, breakdown elements, CLI/app/VS Code totals, agent counts and AI credits are summed;
    ``used_*`` flags are or-ed; everything else (ids, phase, version objects) comes from the newest row.
    """
    row: dict[str, Any] = {}
    for source in day_rows:
        for key, value in source.items():
            row[key] = _combine(row.get(key), value) if key in row else _copy(value)
    row.pop("day", None)
    newest = day_rows[-1]
    # Identity, housekeeping, the phase and distinct counts (not summable) come from the newest row.
    for key in (
        "ai_adoption_phase",
        "day_partition",
        "entity_id_partition",
        "user_login",
        "user_id",
        *DISTINCT_FIELDS,
    ):
        if key in newest:
            row[key] = newest[key]
    return row


_KEY_FIELDS = frozenset({"ide", "feature", "language", "model", "agent_id", "agent_name", "mcp"})
_LATEST = frozenset(
    {
        "avg_tokens_per_request",
        "last_known_ide_version",
        "last_known_plugin_version",
        "last_known_cli_version",
    }
)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _combine(acc: Any, value: Any) -> Any:
    """Sum two row values of the same key (numbers add, booleans or, arrays merge by their key fields)."""
    if isinstance(value, bool) or isinstance(acc, bool):
        return bool(acc) or bool(value)
    if isinstance(value, int | float) and isinstance(acc, int | float):
        return round(acc + value, 6) if isinstance(acc, float) or isinstance(value, float) else acc + value
    if isinstance(value, dict) and isinstance(acc, dict):
        for k, v in value.items():
            if k in _LATEST or k not in acc:
                acc[k] = _copy(v)
            elif k in _KEY_FIELDS:
                continue
            else:
                acc[k] = _combine(acc[k], v)
        return acc
    if isinstance(value, list) and isinstance(acc, list):
        index = {_element_key(e): e for e in acc if isinstance(e, dict)}
        for element in value:
            if not isinstance(element, dict):
                continue
            key = _element_key(element)
            if key in index:
                _combine(index[key], element)
            else:
                index[key] = _copy(element)
                acc.append(index[key])
        return acc
    # Strings and nulls (ids, housekeeping, a null distinct count): the newest day's value.
    return _copy(value) if value is not None or acc is None else acc


def _element_key(element: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in element.items() if k in _KEY_FIELDS))
