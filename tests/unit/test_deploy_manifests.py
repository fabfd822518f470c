"""The shipped Kubernetes example is consistent: its config validates, probes and RBAC fit the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from github_stats_exporter.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            docs[doc["kind"]] = doc
    return docs


def test_configmap_config_is_valid_and_uses_lease_election():
    """The example config passes the config validation (shape) and elects a leader via a Lease."""
    config = yaml.safe_load(documents()["ConfigMap"]["data"]["config.yaml"])
    settings = parse_config(config, resolve_secrets=False)
    assert settings.leader_election.enabled
    assert settings.leader_election.backend == "kubernetes"
    assert settings.store.backend == "redis"


def test_probes_and_secrets_match_the_app():
    """Readiness uses /readyz, liveness /livez, on the listen port; secrets come from a Secret, not the config."""
    docs = documents()
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    config = yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert config["server"]["listen_addr"].endswith(str(container["ports"][0]["containerPort"]))
    env = {e["name"]: e for e in container["env"]}
    assert env[config["store"]["redis_password_env"]]["valueFrom"]["secretKeyRef"]
    assert env[config["amqp"]["url_env"]]["valueFrom"]["secretKeyRef"]


def test_rbac_grants_exactly_what_the_lease_elector_uses():
    """The Role allows get/create/update on leases and nothing else."""
    rules = documents()["Role"]["rules"]
    assert rules == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
