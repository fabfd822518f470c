"""The shipped Kubernetes manifests: what kustomize renders for the base and the HA overlay is valid
against the Kubernetes schemas (and the Prometheus Operator CRD schemas), and fits the app.

Rendering uses the real kustomize inside `kubectl kustomize` (no cluster needed). Built-in kinds
are validated with the strict schemas of the `kubernetes-validate` package (unknown fields are
errors); ServiceMonitor and PrometheusRule with the CRD schemas vendored in
tests/fixtures/kubernetes_crds (see its README for their origin), made strict the same way.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

from github_stats_exporter.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = {
    "base": KUBERNETES / "base",
    "ha": KUBERNETES / "overlays" / "ha",
    "sharded": KUBERNETES / "overlays" / "sharded",
}
CRDS = ROOT / "tests" / "fixtures" / "kubernetes_crds"
CRD_SCHEMAS = {
    "ServiceMonitor": CRDS / "monitoring.coreos.com_v1_servicemonitor.json",
    "PrometheusRule": CRDS / "monitoring.coreos.com_v1_prometheusrule.json",
}
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
LATEST = kubernetes_validate.latest_version()
KUBERNETES_VERSIONS = ("1.30", LATEST)
"""The oldest Kubernetes minor release the manifests promise to fit, and the newest the package knows."""
OBJECT_META = (
    "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
NAME = "github-stats-exporter"

Manifests = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def rendered(tool: Callable[..., str]) -> dict[str, Manifests]:
    """`kubectl kustomize` output of the base and the HA overlay, by (kind, name)."""
    kubectl = tool("kubectl", image_only=True)
    out: dict[str, Manifests] = {}
    for name, path in OVERLAYS.items():
        command = [kubectl, "kustomize", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        assert result.returncode == 0, result.stderr
        out[name] = {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(result.stdout)}
    return out


def strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that lists its properties.

    A CRD schema lets the API server prune unknown fields silently; a typo in a ServiceMonitor would
    then be dropped without a word, so the test treats unknown fields as errors (like the strict
    built-in schemas). Objects that declare ``additionalProperties`` or preserve unknown fields keep
    their rule.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        out.get("properties")
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    """A validator for a Prometheus Operator resource; metadata is checked with Kubernetes' ObjectMeta."""
    schema = strict(json.loads(CRD_SCHEMAS[kind].read_text()))
    schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    files = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    definitions = json.loads((files / f"v{LATEST}-local-strict" / "_definitions.json").read_text())
    registry: referencing.Registry[Any] = (
        referencing.Resource.from_contents(definitions) @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Every schema violation of one manifest, for each Kubernetes version checked."""
    if doc["kind"] in CRD_SCHEMAS:
        errors = crd_validator(doc["kind"]).iter_errors(doc)
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{version} {'.'.join(map(str, exc.path))}: {exc.message}")
    return problems


def config_of(manifests: Manifests) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(manifests["ConfigMap", NAME]["data"]["config.yaml"])
    return data


def container_of(manifests: Manifests) -> dict[str, Any]:
    container: dict[str, Any] = manifests["Deployment", NAME]["spec"]["template"]["spec"]["containers"][0]
    return container


def egress_ports(manifests: Manifests) -> set[tuple[str, int]]:
    return {
        (port["protocol"], port["port"])
        for (kind, _), doc in manifests.items()
        if kind == "NetworkPolicy"
        for rule in doc["spec"].get("egress", [])
        for port in rule["ports"]
    }


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_every_rendered_manifest_is_valid_against_its_schema(overlay: str, rendered: dict[str, Manifests]):
    """What `kubectl apply -k` would send passes the strict Kubernetes and CRD schemas."""
    problems = {f"{kind}/{name}": schema_errors(doc) for (kind, name), doc in rendered[overlay].items()}
    assert {key: errors for key, errors in problems.items() if errors} == {}


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        pytest.param("Deployment", lambda d: d["spec"].update(replica=2), id="deployment-typo"),
        pytest.param(
            "NetworkPolicy", lambda d: d["spec"]["egress"][0]["ports"][0].update(port=[53]), id="np-type"
        ),
        pytest.param("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(prot="http"), id="sm-typo"),
        pytest.param("PrometheusRule", lambda d: d["spec"]["groups"][0].pop("rules"), id="rule-missing"),
        pytest.param("ServiceMonitor", lambda d: d["metadata"].update(labels=[]), id="sm-metadata"),
    ],
)
def test_the_schema_check_rejects_broken_manifests(
    kind: str, mutate: Callable[[dict[str, Any]], None], rendered: dict[str, Manifests]
):
    """A typo, a wrong type or a missing field in a rendered manifest is reported (the check is not vacuous)."""
    name = NAME if (kind, NAME) in rendered["base"] else next(n for k, n in rendered["base"] if k == kind)
    doc = copy.deepcopy(rendered["base"][kind, name])
    mutate(doc)
    assert schema_errors(doc)


def test_base_is_one_replica_with_the_memory_store_and_no_kubernetes_api(rendered: dict[str, Manifests]):
    """The base runs one static leader on the memory store with the in-process queue and no API token."""
    base = rendered["base"]
    settings = parse_config(config_of(base), resolve_secrets=False)
    assert settings.store.backend == "memory"
    assert not settings.leader_election.enabled
    assert not settings.amqp.enabled
    deployment = base["Deployment", NAME]["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"
    assert deployment["template"]["spec"]["automountServiceAccountToken"] is False
    assert not any(kind in {"Role", "RoleBinding"} for kind, _ in base)


def test_ha_overlay_runs_three_replicas_on_redis_rabbitmq_and_a_lease(rendered: dict[str, Manifests]):
    """The HA overlay's config validates and elects through a Lease; secrets come from the Secret."""
    ha = rendered["ha"]
    config = config_of(ha)
    settings = parse_config(config, resolve_secrets=False)
    assert (settings.leader_election.enabled, settings.leader_election.backend) == (True, "kubernetes")
    assert settings.leader_election.namespace == ha["Deployment", NAME]["metadata"]["namespace"]
    assert settings.store.backend == "redis"
    assert settings.amqp.enabled
    deployment = ha["Deployment", NAME]["spec"]
    assert deployment["replicas"] == 3
    assert deployment["template"]["spec"]["automountServiceAccountToken"] is True
    env = {e["name"]: e for e in container_of(ha)["env"]}
    assert env[config["store"]["redis_password_env"]]["valueFrom"]["secretKeyRef"]["name"] == NAME
    assert env[config["amqp"]["url_env"]]["valueFrom"]["secretKeyRef"]["name"] == NAME
    assert ha["PodDisruptionBudget", NAME]["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_probes_and_port_match_the_app(overlay: str, rendered: dict[str, Manifests]):
    """Readiness uses /readyz, liveness /livez, on the port the config listens on."""
    container = container_of(rendered[overlay])
    config = config_of(rendered[overlay])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert config["server"]["listen_addr"].endswith(f":{port['containerPort']}")


def test_sharded_overlay_is_the_ha_overlay_collecting_on_every_replica(rendered: dict[str, Manifests]):
    """The sharded overlay differs from HA only in its config: sharded mode, a shard per replica per org."""
    ha, sharded = rendered["ha"], rendered["sharded"]
    settings = parse_config(config_of(sharded), resolve_secrets=False)
    assert (settings.leader_election.mode, settings.leader_election.backend) == ("sharded", "kubernetes")
    replicas = sharded["Deployment", NAME]["spec"]["replicas"]
    assert all(org.shards >= replicas for org in settings.github.orgs)
    assert {key: doc for key, doc in sharded.items() if key != ("ConfigMap", NAME)} == {
        key: doc for key, doc in ha.items() if key != ("ConfigMap", NAME)
    }
    unsharded = config_of(sharded)
    del unsharded["leader_election"]["mode"]
    for org in unsharded["github"]["orgs"]:
        del org["shards"]
    assert unsharded == config_of(ha)


@pytest.mark.parametrize("overlay", ["ha", "sharded"])
def test_ha_rbac_grants_exactly_what_the_lease_code_uses(overlay: str, rendered: dict[str, Manifests]):
    """The Role allows on leases only what the elector and the sharded unit leases use, bound to the pods'
    service account (tests/unit/leader/test_kubernetes_units.py checks the verbs against the requests)."""
    ha = rendered[overlay]
    role = ha["Role", "github-stats-exporter-leader"]
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "list", "create", "update", "delete"],
        }
    ]
    binding = ha["RoleBinding", "github-stats-exporter-leader"]
    account = ha["Deployment", NAME]["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAME}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_ingress_is_only_prometheus_on_the_metrics_port(overlay: str, rendered: dict[str, Manifests]):
    """One ingress rule: from the Prometheus namespace to the port the ServiceMonitor scrapes."""
    manifests = rendered[overlay]
    policies = [doc for (kind, _), doc in manifests.items() if kind == "NetworkPolicy"]
    selector = manifests["Deployment", NAME]["spec"]["selector"]["matchLabels"]
    assert all(p["spec"]["podSelector"]["matchLabels"] == selector for p in policies)
    ingress = [rule for p in policies for rule in p["spec"].get("ingress", [])]
    scraped = manifests["ServiceMonitor", NAME]["spec"]["endpoints"][0]["port"]
    assert ingress == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": scraped}],
        }
    ]
    assert any("Ingress" in p["spec"]["policyTypes"] for p in policies)


def test_egress_allows_dns_and_https_in_the_base_and_the_backends_in_ha(rendered: dict[str, Manifests]):
    """Base: DNS and 443 (GitHub, Copilot downloads). HA adds Redis, Sentinel, AMQP(S) and the API server."""
    base, ha = egress_ports(rendered["base"]), egress_ports(rendered["ha"])
    assert base == {("UDP", 53), ("TCP", 53), ("TCP", 443)}
    assert ha - base == {("TCP", 6379), ("TCP", 26379), ("TCP", 5672), ("TCP", 5671), ("TCP", 6443)}
    redis_port = int(config_of(rendered["ha"])["store"]["redis_addr"].rsplit(":", 1)[1])
    assert ("TCP", redis_port) in ha
    assert all(
        "Egress" in doc["spec"]["policyTypes"]
        for (k, _), doc in rendered["ha"].items()
        if k == "NetworkPolicy"
    )


def test_service_monitor_scrapes_the_service_as_the_job_the_rules_expect(rendered: dict[str, Manifests]):
    """The ServiceMonitor selects the Service, scrapes its port at /metrics, and the job is the Service name."""
    base = rendered["base"]
    service = base["Service", NAME]
    monitor = base["ServiceMonitor", NAME]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    endpoint = monitor["endpoints"][0]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert 'job="github-stats-exporter"' in RULES.read_text()
    assert service["metadata"]["name"] == "github-stats-exporter"  # Prometheus Operator's default job label


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_the_prometheus_rule_holds_exactly_the_rules_of_deploy_prometheus(
    overlay: str, rendered: dict[str, Manifests]
):
    """The PrometheusRule's groups equal deploy/prometheus/rules.yaml (no drift between the two)."""
    groups = rendered[overlay]["PrometheusRule", NAME]["spec"]["groups"]
    assert groups == yaml.safe_load(RULES.read_text())["groups"]


def test_the_generated_prometheus_rule_file_is_up_to_date():
    """scripts/prometheus_rule.py --check finds the committed file identical to what it would write."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "prometheus_rule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
