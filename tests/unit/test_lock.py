"""The lock files in requirements/ must still satisfy pyproject.toml, and the test environment must be them.

A range widened or a dependency added in pyproject.toml without `make lock` fails here, before a fresh
machine installs something nobody tested.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(lock: Path) -> dict[str, str]:
    """Name -> pinned version of every package the lock installs on this interpreter."""
    pins: dict[str, str] = {}
    env = {key: str(value) for key, value in default_environment().items()}
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        parsed = Requirement(f"x; {marker}").marker if marker else None
        if parsed is not None and not parsed.evaluate(env):
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    texts += [
        line
        for line in (ROOT / "requirements" / "build.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [Requirement(text) for text in texts]


def _closure(requirements: list[Requirement], pins: dict[str, str]) -> set[str]:
    """Names reachable from ``requirements`` through the installed packages' own requirements."""
    env = {key: str(value) for key, value in default_environment().items()}
    todo = [(r, "") for r in requirements]
    seen: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in seen and not req.extras:
            continue
        seen.add(name)
        deps = metadata.requires(req.name) or []
        todo.extend((Requirement(dep), wanted) for dep in deps for wanted in req.extras or {""})
    return seen


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("dev.lock", ("dev",)), ("runtime.lock", ("redis", "rabbitmq"))],
)
def test_lock_satisfies_every_range_of_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    pins = _pins(ROOT / "requirements" / lock)
    problems = []
    for req in _requirements(*extras):
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name}: not in {lock}")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req.name}: {lock} pins {pinned}, pyproject.toml wants {req.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_runtime_lock_matches_dev_lock_for_shared_packages() -> None:
    """The image runs the versions the tests ran: a package in both locks has one version."""
    dev = _pins(ROOT / "requirements" / "dev.lock")
    runtime = _pins(ROOT / "requirements" / "runtime.lock")
    differ = {
        name: (dev[name], runtime[name]) for name in dev.keys() & runtime.keys() if dev[name] != runtime[name]
    }
    assert not differ, f"run `make lock`: dev and runtime locks disagree on {differ}"


def test_runtime_lock_holds_the_whole_dependency_closure() -> None:
    pins = _pins(ROOT / "requirements" / "runtime.lock")
    missing = _closure(_requirements("redis", "rabbitmq"), pins) - pins.keys()
    assert not missing, f"runtime.lock lacks {sorted(missing)}: run `make lock`"


def test_this_environment_was_installed_from_the_dev_lock() -> None:
    """`make test` installs from the lock; a version that differs means something bypassed it."""
    pins = _pins(ROOT / "requirements" / "dev.lock")
    differ = {}
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            differ[name] = (version, "not installed")
            continue
        if installed != version:
            differ[name] = (version, installed)
    assert not differ, f"installed packages differ from requirements/dev.lock: {differ}"
