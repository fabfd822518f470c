"""Lease names and label values derived from unit names and identities: valid, deterministic, distinct."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from github_stats_exporter.leader.lease_names import (
    DNS_SUBDOMAIN,
    DNS_SUBDOMAIN_MAX,
    LABEL_VALUE,
    LABEL_VALUE_MAX,
    group_label,
    lease_object_name,
)
from github_stats_exporter.leader.units import UnitKind, WorkUnit

texts = st.text(min_size=1, max_size=400)
kinds = st.sampled_from(["unit", "member"])


@given(prefix=st.text(max_size=300), kind=kinds, key=texts)
def test_every_name_is_a_dns_subdomain(prefix: str, kind: str, key: str) -> None:
    """Whatever the prefix and key (unicode, punctuation, any length), the name is a valid Lease name."""
    name = lease_object_name(prefix, kind, key)
    assert DNS_SUBDOMAIN.fullmatch(name), name
    assert len(name) <= DNS_SUBDOMAIN_MAX


@given(prefix=st.text(max_size=80), kind=kinds, a=texts, b=texts)
def test_different_keys_get_different_names(prefix: str, kind: str, a: str, b: str) -> None:
    """Keys that differ only in case or punctuation still get names of their own (the hash of the exact key)."""
    assume(a != b)
    assert lease_object_name(prefix, kind, a) != lease_object_name(prefix, kind, b)


@given(prefix=st.text(max_size=80), key=texts)
def test_names_are_deterministic_and_kinds_apart(prefix: str, key: str) -> None:
    """Every replica derives the same name for the same key, and a member never shares a unit's name."""
    assert lease_object_name(prefix, "unit", key) == lease_object_name(prefix, "unit", key)
    assert lease_object_name(prefix, "unit", key) != lease_object_name(prefix, "member", key)


@given(name=st.text(max_size=300))
def test_group_labels_are_label_values(name: str) -> None:
    """The group label derived from any lease_name is a valid label value of at most 63 characters."""
    label = group_label(name)
    assert LABEL_VALUE.fullmatch(label), label
    assert 0 < len(label) <= LABEL_VALUE_MAX


def test_unit_names_stay_readable() -> None:
    """A unit's Lease name starts with the lease name and the unit's own words, so `kubectl get leases` reads well."""
    unit = WorkUnit(UnitKind.REPOS, "org/Big-Org", 3, 8)
    name = lease_object_name("github-stats-exporter-leader", "unit", unit.name)
    assert name.startswith("github-stats-exporter-leader-unit-repos-org-big-org-3-8-")
    assert lease_object_name("x", "unit", "repos:org/big-org#3/8") != lease_object_name(
        "x", "unit", "repos:org/Big-Org#3/8"
    )
