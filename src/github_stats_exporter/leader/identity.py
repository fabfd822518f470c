"""This replica's name in a lease: configured, else $HOSTNAME (the pod name), else host name + pid.

Pure lookup; it must not contact anything.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def default_identity(configured: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The identity to campaign with; two live replicas must never share one."""
    if configured:
        return configured
    env = os.environ if environ is None else environ
    hostname = env.get("HOSTNAME", "").strip()
    if hostname:
        return hostname
    # Outside Kubernetes several processes may share a host; the pid keeps their identities apart.
    return f"{socket.gethostname() or 'localhost'}-{os.getpid()}"
