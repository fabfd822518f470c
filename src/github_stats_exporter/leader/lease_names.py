"""Kubernetes object names and label values for the Leases of sharded collection, derived from free text.

Unit names (``repos:org/Big-Org#3/8``) and replica identities are not valid Kubernetes names. Each
becomes a readable part (lowercase letters and digits, runs of anything else as one ``-``, shortened)
followed by a hash of the exact original text, so two different texts never share a name in practice
(48 bits of hash) and the same text always gives the same name on every replica. This module is pure:
it names things and talks to nothing.
"""

from __future__ import annotations

import hashlib
import re

_NOT_NAME = re.compile(r"[^a-z0-9]+")
_READABLE = 60
"""Characters of readable text kept from the prefix and from the key."""
_HASH_BYTES = 6
_LABEL_READABLE = 40

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""A DNS-1123 subdomain (Kubernetes object names), at most `DNS_SUBDOMAIN_MAX` characters."""
DNS_SUBDOMAIN_MAX = 253
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
"""A Kubernetes label value, at most `LABEL_VALUE_MAX` characters."""
LABEL_VALUE_MAX = 63


def _readable(text: str, limit: int) -> str:
    return _NOT_NAME.sub("-", text.lower())[:limit].strip("-")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=_HASH_BYTES).hexdigest()


def lease_object_name(prefix: str, kind: str, key: str) -> str:
    """The Lease name of ``key`` (a unit name or a replica identity) under ``prefix`` and ``kind``.

    ``kind`` is a short fixed word (``unit``, ``member``); the result is a DNS-1123 subdomain of at
    most 200 characters, e.g. ``github-stats-exporter-leader-unit-repos-org-acme-3-8-1f2e3d4c5b6a``.
    """
    parts = (_readable(prefix, _READABLE), _readable(kind, 12), _readable(key, _READABLE), _digest(key))
    return "-".join(part for part in parts if part)


def group_label(name: str) -> str:
    """A label value naming one deployment's set of Leases (its ``lease_name``): readable part + hash."""
    readable = _readable(name, _LABEL_READABLE)
    return f"{readable}-{_digest(name)}" if readable else _digest(name)
