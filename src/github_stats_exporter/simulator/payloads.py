"""GitHub-shaped JSON objects for the simulated world (repos, users, commits, pulls, reviews, comments, stats).

Only the fields that matter plus a few realistic extras; pure functions of (object, now, base URL).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from github_stats_exporter.simulator.auth import iso
from github_stats_exporter.simulator.entities import (
    Actor,
    Commit,
    IssueComment,
    PullView,
    RepoData,
    RepoInfo,
    Review,
)
from github_stats_exporter.simulator.generator import stable_int

JSON = dict[str, Any]
_WEEK = 7 * 86400
_FIRST_SUNDAY = 3 * 86400


def user(actor: Actor | None, api: str) -> JSON | None:
    if actor is None:
        return None
    return {
        "login": actor.login,
        "id": actor.id,
        "node_id": f"U_{actor.id:x}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{actor.id}?v=4",
        "url": f"{api}/users/{actor.login}",
        "html_url": f"https://github.com/{actor.login}",
        "type": actor.type,
        "site_admin": False,
    }


def owner(org: str, api: str) -> JSON:
    oid = 5_000_000 + stable_int(org, 10_000_000)
    return {
        "login": org,
        "id": oid,
        "node_id": f"O_{oid:x}",
        "url": f"{api}/orgs/{org}",
        "type": "Organization",
    }


def repo(info: RepoInfo, data: RepoData, now: float, api: str) -> JSON:
    pushed = data.pushed_at(now)
    return {
        "id": info.id,
        "node_id": f"R_{info.id:x}",
        "name": info.name,
        "full_name": info.full_name,
        "private": info.private,
        "visibility": "private" if info.private else "public",
        "owner": owner(info.org, api),
        "html_url": f"https://github.com/{info.full_name}",
        "url": f"{api}/repos/{info.full_name}",
        "fork": False,
        "archived": info.archived,
        "disabled": info.disabled,
        "default_branch": info.default_branch,
        "created_at": iso(info.created_at),
        "updated_at": iso(max(pushed, info.created_at)),
        "pushed_at": iso(pushed),
        "size": 0 if info.kind == "empty" else (2_500_000 if info.huge else 1200 + info.id % 50_000),
    }


def _git(ident_name: str, email: str, t: int) -> JSON:
    return {"name": ident_name, "email": email, "date": iso(t)}


def commit(c: Commit, info: RepoInfo, api: str, *, detail: bool = False) -> JSON:
    base = f"{api}/repos/{info.full_name}"
    out: JSON = {
        "sha": c.sha,
        "node_id": f"C_{c.sha[:20]}",
        "commit": {
            "author": _git(c.git_author.name, c.git_author.email, c.authored_at),
            "committer": _git(c.git_committer.name, c.git_committer.email, c.committed_at),
            "message": c.message,
            "tree": {"sha": c.sha[::-1], "url": f"{base}/git/trees/{c.sha[::-1]}"},
            "url": f"{base}/git/commits/{c.sha}",
            "comment_count": 0,
        },
        "url": f"{base}/commits/{c.sha}",
        "html_url": f"https://github.com/{info.full_name}/commit/{c.sha}",
        "author": user(c.author, api),
        "committer": user(c.committer, api),
        "parents": [{"sha": p, "url": f"{base}/commits/{p}"} for p in c.parents],
    }
    if detail:
        out["stats"] = {
            "total": c.additions + c.deletions,
            "additions": c.additions,
            "deletions": c.deletions,
        }
        out["files"] = commit_files(c)
    return out


def commit_files(c: Commit) -> list[JSON]:
    """Split the commit's line counts over a few files, deterministically from the sha."""
    names = ("src/app.py", "src/models.py", "README.md", "tests/test_app.py", "docs/usage.md")
    n = 1 + int(c.sha[:2], 16) % 4
    files: list[JSON] = []
    add_left, del_left = c.additions, c.deletions
    for i in range(n):
        last = i == n - 1
        a = add_left if last else add_left // 2
        d = del_left if last else del_left // 2
        add_left -= a
        del_left -= d
        status = "added" if d == 0 and a > 0 else "modified"
        files.append(
            {
                "sha": c.sha[i:] + c.sha[:i],
                "filename": names[(int(c.sha[2:4], 16) + i) % len(names)] if i else names[0],
                "status": status,
                "additions": a,
                "deletions": d,
                "changes": a + d,
            }
        )
    return files


def pull(view: PullView, info: RepoInfo, api: str) -> JSON:
    pr = view.pr
    base = f"{api}/repos/{info.full_name}"
    return {
        "url": f"{base}/pulls/{pr.number}",
        "id": pr.id,
        "node_id": f"PR_{pr.id:x}",
        "html_url": f"https://github.com/{info.full_name}/pull/{pr.number}",
        "number": pr.number,
        "state": view.state,
        "locked": False,
        "title": pr.title,
        "user": user(pr.user, api),
        "body": None,
        "created_at": iso(pr.created_at),
        "updated_at": iso(view.updated_at),
        "closed_at": iso(view.closed_at) if view.closed_at is not None else None,
        "merged_at": iso(view.merged_at) if view.merged_at is not None else None,
        "merge_commit_sha": pr.merge_commit_sha if view.merged_at is not None else None,
        "draft": pr.draft,
        "requested_reviewers": [],
        "labels": [],
        "head": {"ref": f"feature/{pr.number}", "label": f"{info.org}:feature/{pr.number}"},
        "base": {"ref": info.default_branch, "label": f"{info.org}:{info.default_branch}"},
        "author_association": "MEMBER" if pr.user is not None and pr.user.type == "User" else "NONE",
    }


def review(r: Review, info: RepoInfo, api: str) -> JSON:
    return {
        "id": r.id,
        "node_id": f"PRR_{r.id:x}",
        "user": user(r.user, api),
        "body": "",
        "state": r.state,
        "html_url": f"https://github.com/{info.full_name}/pull/{r.pr_number}#pullrequestreview-{r.id}",
        "pull_request_url": f"{api}/repos/{info.full_name}/pulls/{r.pr_number}",
        "submitted_at": iso(r.submitted_at) if r.submitted_at is not None else None,
        "commit_id": r.commit_id or None,
        "author_association": "MEMBER",
    }


def issue_comment(c: IssueComment, info: RepoInfo, now: float, api: str) -> JSON:
    kind = "pull" if c.on_pull_request else "issues"
    return {
        "id": c.id,
        "node_id": f"IC_{c.id:x}",
        "url": f"{api}/repos/{info.full_name}/issues/comments/{c.id}",
        "html_url": f"https://github.com/{info.full_name}/{kind}/{c.number}#issuecomment-{c.id}",
        "issue_url": f"{api}/repos/{info.full_name}/issues/{c.number}",
        "user": user(c.user, api),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at(now)),
        "body": c.body,
        "author_association": "MEMBER",
    }


def contributor_stats(data: RepoData, now: float, api: str) -> list[JSON]:
    """``stats/contributors``: weekly {w, a, d, c} per linked author of visible non-merge commits.

    Authors without an account are grouped under one entry whose ``author`` is null (GitHub drops
    them; the simulator keeps them so an exporter can report them as ``unknown``). Every entry
    carries the same weeks, from the first commit's week through the current one.
    """
    commits = [c for c in data.visible_commits(now) if not c.is_merge]
    if not commits:
        return []
    first = _week(min(c.authored_at for c in commits))
    last = _week(now)
    weeks = list(range(first, last + 1, _WEEK))
    index = {w: i for i, w in enumerate(weeks)}
    per: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0, 0] for _ in weeks])
    actors: dict[str, Actor | None] = {}
    for c in commits:
        key = c.author.login if c.author is not None else ""
        actors.setdefault(key, c.author)
        cell = per[key][index[_week(c.authored_at)]]
        cell[0] += c.additions
        cell[1] += c.deletions
        cell[2] += 1
    zero = data.info.huge
    out: list[JSON] = []
    for key in sorted(per, key=lambda k: (sum(x[2] for x in per[k]), k)):
        cells = per[key]
        out.append(
            {
                "author": user(actors[key], api),
                "total": sum(x[2] for x in cells),
                "weeks": [
                    {"w": w, "a": 0 if zero else a, "d": 0 if zero else d, "c": n}
                    for w, (a, d, n) in zip(weeks, cells, strict=True)
                ],
            }
        )
    return out


def _week(t: float) -> int:
    return int((t - _FIRST_SUNDAY) // _WEEK) * _WEEK + _FIRST_SUNDAY
