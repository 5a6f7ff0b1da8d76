"""Render k8s/base from the code's own declarations (one source of truth).

    python scripts/render_k8s.py           # write k8s/base/*.yaml
    python scripts/render_k8s.py --check   # exit 1 if the committed files differ (CI)

What comes from the code: the roles (``cloudops.agents.ROLES`` + ``api``), the topics each role
consumes (``cloudops.app.CONSUMES``, the KEDA triggers' topics), the consumer group of each role
(``<app id>-<role>``: each Deployment sets ``CLOUDOPS_APP__ID`` to it, and Faust uses the app id as
its group id), the health port and every environment variable name (``cloudops.settings``). What is
written here: resources, thresholds and the network rules of each role. The overlays (k8s/overlays/
dev, prod) patch sizes, replicas and endpoints; they never restate names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from cloudops.agents import ROLES
from cloudops.app import CONSUMES
from cloudops.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "k8s" / "base"
APP = "cloudops"
IMAGE = "ghcr.io/cloudops/cloudops"
IMAGE_TAG = "0.1.0"
HEALTH_PORT = 8080
API_PORT = 8000
PARTITIONS = 12  # topic partitions in the base (CLOUDOPS_KAFKA__TOPIC_PARTITIONS); maxReplicaCount of lag-scaled roles

# Role -> how it runs. lag_threshold: messages per replica (KEDA's lagThreshold); grace: seconds a
# worker may take to finish its batch after SIGTERM (longer than the longest batch of that role).
_ROLES: dict[str, dict[str, Any]] = {
    "bridge": {"cpu": ("100m", "500m"), "mem": ("256Mi", "512Mi"), "grace": 60, "scale": "sqs"},
    "schedule": {"cpu": ("50m", "500m"), "mem": ("256Mi", "512Mi"), "grace": 60, "scale": None},
    "parse": {"cpu": ("500m", "2"), "mem": ("1Gi", "2Gi"), "grace": 300, "scale": "kafka", "lag_threshold": 4},
    "load": {"cpu": ("500m", "2"), "mem": ("1Gi", "2Gi"), "grace": 180, "scale": "kafka", "lag_threshold": 100},
    "recommend": {"cpu": ("200m", "1"), "mem": ("512Mi", "1Gi"), "grace": 120, "scale": "kafka", "lag_threshold": 10},
    "propose": {"cpu": ("200m", "1"), "mem": ("512Mi", "1Gi"), "grace": 120, "scale": "kafka", "lag_threshold": 20},
    "api": {"cpu": ("250m", "1"), "mem": ("512Mi", "1Gi"), "grace": 30, "scale": "cpu"},
}

# Egress each role needs (ports of the services it talks to); DNS is allowed for all.
_PORTS = {"kafka": [9092, 9093, 9094, 9096], "clickhouse": [8123, 8443], "postgres": [5432], "redis": [6379, 6380]}
_PORTS["https"] = [443]
_EGRESS: dict[str, list[str]] = {
    "bridge": ["kafka", "https"],  # SQS
    "schedule": ["kafka", "postgres", "https"],  # S3 listing
    "parse": ["kafka", "postgres", "https"],  # S3 objects
    "load": ["kafka", "clickhouse", "postgres", "redis"],
    "recommend": ["kafka", "clickhouse", "postgres", "redis"],
    "propose": ["kafka", "postgres", "https"],  # GitHub, Terraform state in S3
    "api": ["kafka", "clickhouse", "postgres", "redis"],
}
_MIGRATE_EGRESS = ["clickhouse", "postgres"]

# Settings kept in the Secret (never committed; the overlays say how it is provided).
SECRET_KEYS = (
    "CLOUDOPS_CLICKHOUSE__DSN",
    "CLOUDOPS_CLICKHOUSE__TENANT_PASSWORD_KEY",
    "CLOUDOPS_POSTGRES__DSN",
    "CLOUDOPS_REDIS__URL",
    "CLOUDOPS_GITHUB__TOKEN",
    "CLOUDOPS_KAFKA__SASL_USERNAME",
    "CLOUDOPS_KAFKA__SASL_PASSWORD",
)


def group_of(role: str, app_id: str = APP) -> str:
    """The consumer group of a role's Deployment (its ``CLOUDOPS_APP__ID``)."""
    return f"{app_id}-{role}"


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def _env_names() -> set[str]:
    from cloudops.settings import settings_table

    return {name for name, _default, _doc in settings_table()}


def configmap() -> dict[str, Any]:
    data = {
        "CLOUDOPS_APP__TENANT": "default",
        "CLOUDOPS_APP__LOG_LEVEL": "INFO",
        "CLOUDOPS_APP__WORK_DIR": "/var/lib/cloudops",
        "CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS": "kafka-bootstrap.kafka.svc:9092",
        "CLOUDOPS_KAFKA__TOPIC_PARTITIONS": str(PARTITIONS),
        "CLOUDOPS_KAFKA__REPLICATION_FACTOR": "3",
        "CLOUDOPS_KAFKA__LAG_INTERVAL_S": "15",
        "CLOUDOPS_INGEST__LOAD_GROUP": group_of("load"),
        "CLOUDOPS_HEALTH__PORT": str(HEALTH_PORT),
        "CLOUDOPS_API__HOST": "0.0.0.0",
        "CLOUDOPS_API__PORT": str(API_PORT),
        "CLOUDOPS_AWS__REGION": "us-east-1",
        "CLOUDOPS_AWS__SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/billing-exports",
    }
    known = _env_names()
    unknown = sorted(k for k in data if k not in known)
    if unknown:  # a renamed setting must fail the render, not ship a dead variable
        raise SystemExit(f"ConfigMap keys that are no setting: {unknown}")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{APP}-settings", "labels": _labels("settings")},
        "data": data,
    }


def serviceaccount() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": APP,
            "labels": _labels("workers"),
            # AWS pod identity (IRSA): the prod overlay sets the role ARN.
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/cloudops"},
        },
        "automountServiceAccountToken": False,
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_spec(component: str, args: list[str], *, grace: int, cpu: tuple[str, str], mem: tuple[str, str]) -> dict:
    http = component == "api"
    ports = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    if http:
        ports = [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}]
    probe_port = "http" if http else "health"
    container: dict[str, Any] = {
        "name": component,
        "image": f"{IMAGE}:{IMAGE_TAG}",
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [{"name": "CLOUDOPS_APP__ID", "value": group_of(component)}],
        "envFrom": [
            {"configMapRef": {"name": f"{APP}-settings"}},
            {"secretRef": {"name": f"{APP}-secrets"}},
        ],
        "ports": ports,
        "resources": {
            "requests": {"cpu": cpu[0], "memory": mem[0], "ephemeral-storage": "1Gi"},
            "limits": {"cpu": cpu[1], "memory": mem[1], "ephemeral-storage": "4Gi"},
        },
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "work", "mountPath": "/var/lib/cloudops"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if component != "migrate":
        container["startupProbe"] = {
            "httpGet": {"path": "/healthz", "port": probe_port},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 36,  # 3 minutes to join the group and start
        }
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": probe_port},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        }
        container["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": probe_port},
            "periodSeconds": 10,
            "timeoutSeconds": 5,  # > CLOUDOPS_HEALTH__CHECK_TIMEOUT_S (3 s)
            "failureThreshold": 3,
        }
        # Endpoints and the load balancer let go of the pod before SIGTERM; then the worker
        # finishes its batch (Faust commits, leaves the group) within the grace period.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    spec: dict[str, Any] = {
        "serviceAccountName": APP,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": grace,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "work", "emptyDir": {"sizeLimit": "4Gi"}},  # spool files of the file being parsed
            {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
        ],
    }
    if component != "migrate":
        selector = {"matchLabels": _labels(component)}
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            },
        ]
    return spec


def deployment(role: str) -> dict[str, Any]:
    conf = _ROLES[role]
    args = ["api"] if role == "api" else ["worker", "--role", role]
    port = API_PORT if role == "api" else HEALTH_PORT
    dep: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{APP}-{role}", "labels": _labels(role)},
        "spec": {
            "selector": {"matchLabels": _labels(role)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {
                    "labels": _labels(role),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": _pod_spec(role, args, grace=conf["grace"], cpu=conf["cpu"], mem=conf["mem"]),
            },
        },
    }
    if conf["scale"] is None:  # schedule: a trigger, and the takeover of abandoned files; never at 0
        dep["spec"]["replicas"] = 1
    elif conf["scale"] == "cpu":
        dep["spec"]["replicas"] = 2
    # KEDA-scaled roles: no replicas field, the ScaledObject's HPA owns it.
    return dep


def migrate_job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{APP}-migrate",
            "labels": _labels("migrate"),
            # Run before the Deployments roll out: an Argo CD PreSync hook (kubectl users apply
            # k8s/<overlay>/migrate first and wait for it; see docs/kubernetes.md).
            "annotations": {
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
            },
        },
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": _labels("migrate")},
                "spec": {
                    **_pod_spec("migrate", ["migrate"], grace=30, cpu=("100m", "1"), mem=("256Mi", "1Gi")),
                    "restartPolicy": "Never",
                },
            },
        },
    }


def pdb(role: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"{APP}-{role}", "labels": _labels(role)},
        # maxUnavailable, not minAvailable: a role KEDA scaled to 0 must not block node drains.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(role)}},
    }


def _egress_rules(needs: list[str]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {  # DNS
            "to": [{"namespaceSelector": {}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    ports = [{"protocol": "TCP", "port": p} for need in needs for p in _PORTS[need]]
    rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": ports})
    return rules


def network_policies() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{APP}-default-deny", "labels": _labels("network")},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
    ]
    for role in [*_ROLES, "migrate"]:
        needs = _MIGRATE_EGRESS if role == "migrate" else _EGRESS[role]
        ingress: list[dict[str, Any]] = []
        if role != "migrate":
            port = API_PORT if role == "api" else HEALTH_PORT
            # Prometheus scrapes from the monitoring namespace (kubelet probes are not subject to policies).
            ingress.append(
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            )
        if role == "api":
            ingress.append(
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                    "ports": [{"protocol": "TCP", "port": API_PORT}],
                }
            )
        spec: dict[str, Any] = {
            "podSelector": {"matchLabels": _labels(role)},
            "policyTypes": ["Ingress", "Egress"],
            "egress": _egress_rules(needs),
        }
        if ingress:
            spec["ingress"] = ingress
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{APP}-{role}", "labels": _labels(role)},
                "spec": spec,
            }
        )
    return out


def _hpa_behavior(cooldown: int) -> dict[str, Any]:
    return {
        "scaleUp": {  # a burst of files: up fast, at most 4 pods per 15 s
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
        },
        "scaleDown": {  # down slowly: a drained backlog often has a tail
            "stabilizationWindowSeconds": cooldown,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        },
    }


def scaled_object(role: str) -> dict[str, Any]:
    conf = _ROLES[role]
    cooldown = 300
    triggers: list[dict[str, Any]]
    if conf["scale"] == "kafka":
        triggers = [
            {
                "type": "kafka",
                "name": f"{role}-{topic.replace('.', '-')}",
                "authenticationRef": {"name": f"{APP}-kafka"},
                "metadata": {
                    # Read from the Deployment's own environment (the ConfigMap): one place for it.
                    "bootstrapServersFromEnv": "CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS",
                    "consumerGroup": group_of(role),
                    "topic": topic,
                    "lagThreshold": str(conf["lag_threshold"]),
                    "activationLagThreshold": "0",  # any message wakes the role from 0
                    "offsetResetPolicy": "earliest",  # as the workers (consumer_auto_offset_reset)
                    "allowIdleConsumers": "false",  # never more replicas than partitions
                    "scaleToZeroOnInvalidOffset": "false",
                    "excludePersistentLag": "false",
                },
            }
            for topic in CONSUMES[role]
        ]
    elif conf["scale"] == "sqs":
        triggers = [
            {
                "type": "aws-sqs-queue",
                "name": "bridge-sqs",
                "authenticationRef": {"name": f"{APP}-aws"},
                "metadata": {
                    "queueURLFromEnv": "CLOUDOPS_AWS__SQS_QUEUE_URL",
                    "awsRegion": "us-east-1",
                    "queueLength": "100",  # notifications per replica
                    "activationQueueLength": "0",
                    "scaleOnInFlight": "true",
                },
            }
        ]
    else:
        raise ValueError(role)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{APP}-{role}", "labels": _labels(role)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{APP}-{role}"},
            "pollingInterval": 15,
            "cooldownPeriod": cooldown,  # after the last active poll, wait this long before going to 0
            "minReplicaCount": 0,
            "maxReplicaCount": PARTITIONS if conf["scale"] == "kafka" else 8,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _hpa_behavior(cooldown)}},
            "triggers": triggers,
        },
    }


def trigger_authentications() -> list[dict[str, Any]]:
    return [
        {  # Kafka SASL/TLS from the Secret cloudops-kafka (keys: sasl, tls, username, password, ca);
            # sasl=none, tls=disable for a plaintext broker (the dev overlay generates that one).
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": f"{APP}-kafka", "labels": _labels("keda")},
            "spec": {
                "secretTargetRef": [
                    {"parameter": p, "name": f"{APP}-kafka", "key": p}
                    for p in ("sasl", "tls", "username", "password", "ca")
                ]
            },
        },
        {  # AWS: pod identity (IRSA / EKS Pod Identity), no keys
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": f"{APP}-aws", "labels": _labels("keda")},
            "spec": {"podIdentity": {"provider": "aws", "identityOwner": "workload"}},
        },
    ]


def api_hpa() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"{APP}-api", "labels": _labels("api")},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{APP}-api"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def api_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{APP}-api", "labels": _labels("api")},
        "spec": {
            "selector": _labels("api"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def render() -> dict[str, str]:
    """File name -> YAML text of every file in k8s/base."""
    roles = [*ROLES, "api"]
    missing = set(roles) ^ set(_ROLES)
    if missing:
        raise SystemExit(f"roles without a Kubernetes definition (or gone from the code): {sorted(missing)}")
    Settings()  # the settings model loads (names above are checked against it)
    files: dict[str, list[dict[str, Any]]] = {
        "settings.yaml": [configmap()],
        "serviceaccount.yaml": [serviceaccount()],
        "migrate-job.yaml": [migrate_job()],
        "networkpolicies.yaml": network_policies(),
        "api-service.yaml": [api_service(), api_hpa()],
        "keda-auth.yaml": trigger_authentications(),
    }
    for role in roles:
        docs = [deployment(role), pdb(role)]
        if _ROLES[role]["scale"] in ("kafka", "sqs"):
            docs.append(scaled_object(role))
        files[f"{role}.yaml"] = docs
    header = "# Generated by scripts/render_k8s.py from the code's roles, topics and settings: do not edit.\n"
    out = {
        name: header + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in docs)
        for name, docs in files.items()
    }
    resources = sorted(out)
    out["kustomization.yaml"] = header + yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "labels": [{"pairs": {"app.kubernetes.io/part-of": APP}, "includeSelectors": False}],
            "resources": resources,
        },
        sort_keys=False,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with k8s/base instead of writing")
    args = parser.parse_args()
    rendered = render()
    if args.check:
        stale = [n for n, text in rendered.items() if not (BASE / n).exists() or (BASE / n).read_text() != text]
        extra = [p.name for p in BASE.glob("*.yaml") if p.name not in rendered]
        if stale or extra:
            print(f"k8s/base is out of date ({stale + extra}): run python scripts/render_k8s.py", file=sys.stderr)
            return 1
        return 0
    BASE.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (BASE / name).write_text(text)
    for p in BASE.glob("*.yaml"):
        if p.name not in rendered:
            p.unlink()
    print(f"wrote {len(rendered)} files to {BASE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
