"""deploy/k8s rendered with kustomize, validated offline, and held against the code's real streams and groups."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiwf.bus import keys
from aiwf.workers import WORKERS, load

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("base", "overlays/production")
#: Workers that may scale to zero: nobody waits on them synchronously (README: Running on Kubernetes).
SCALE_TO_ZERO = {"calendar", "documents", "pipeline"}
Doc = dict[str, Any]


def kustomize_command(directory: Path) -> list[str]:
    """`kustomize build DIR`, or kubectl's built-in kustomize; skip when neither is installed."""
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    pytest.skip("neither kustomize nor kubectl is installed")


@functools.cache
def rendered_text(overlay: str) -> str:
    """The YAML kustomize renders for one overlay."""
    done = subprocess.run(kustomize_command(K8S / overlay), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def rendered(overlay: str) -> list[Doc]:
    """The rendered resources of one overlay."""
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    """Resources of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


#: The oldest Kubernetes these manifests target and the newest kubernetes-validate knows.
VERSIONS = ("1.28.0", None)


def validate(path: Path, version: str | None = None) -> subprocess.CompletedProcess[str]:
    """kubernetes-validate --strict on a file (its schemas ship in the wheel: no network)."""
    tool = Path(sys.executable).parent / "kubernetes-validate"
    pinned = ["-k", version] if version else []
    return subprocess.run(
        [str(tool), "--strict", *pinned, str(path)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_renders_and_passes_strict_schema_validation(
    overlay: str, version: str | None, tmp_path: Path
) -> None:
    """Every built-in resource passes kubernetes-validate --strict (1.28 and the newest); only KEDA's kinds lack one."""
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered_text(overlay))
    done = validate(out, version)
    assert done.returncode == 0, done.stdout + done.stderr
    unknown = {
        line.split(" kind ")[1].split(" for ")[0] for line in done.stdout.splitlines() if "Couldn't find" in line
    }
    assert unknown <= {
        "ScaledObject with api version keda.sh/v1alpha1",
        "TriggerAuthentication with api version keda.sh/v1alpha1",
    }
    passed = done.stdout.count(" passed for resource ")
    builtin = [d for d in rendered(overlay) if not d["apiVersion"].startswith("keda.sh/")]
    assert passed == len(builtin)


def test_the_validation_refuses_a_broken_manifest(tmp_path: Path) -> None:
    """The same check fails on a Deployment with an unknown field and a port that is not a number."""
    docs = rendered("base")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["ports"][0]["containerPort"] = "eighty"
    container["livenessProbes"] = []
    out = tmp_path / "broken.yaml"
    out.write_text(yaml.safe_dump(deployment))
    done = validate(out)
    assert done.returncode != 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_worker_scales_on_the_lag_of_its_real_streams_and_groups(overlay: str) -> None:
    """One ScaledObject per worker; per subscription a redis-streams lagCount trigger on the code's stream and group."""
    docs = rendered(overlay)
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == {f"aiwf-{w}" for w in WORKERS}
    (redis_service,) = [s for s in of_kind(docs, "Service").values() if s["metadata"]["name"] == "aiwf-redis"]
    address = f"aiwf-redis.{redis_service['metadata']['namespace']}.svc.cluster.local:6379"
    auths = of_kind(docs, "TriggerAuthentication")
    for worker in WORKERS:
        spec = scaled[f"aiwf-{worker}"]["spec"]
        assert spec["scaleTargetRef"]["name"] in of_kind(docs, "Deployment")
        assert spec["scaleTargetRef"]["name"] == f"aiwf-{worker}"
        expected = {(keys.stream(s.stream), s.group) for s in load(worker).subscriptions}
        lag = [t for t in spec["triggers"] if "lagCount" in t["metadata"]]
        assert {(t["metadata"]["stream"], t["metadata"]["consumerGroup"]) for t in lag} == expected, worker
        for trigger in spec["triggers"]:
            assert trigger["type"] == "redis-streams"
            # KEDA's CRD types trigger metadata as a map of strings: a bare number is refused.
            assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
            assert trigger["metadata"]["address"] == address
            assert trigger["authenticationRef"]["name"] in auths
            assert int(trigger["metadata"].get("lagCount", trigger["metadata"].get("pendingEntriesCount"))) > 0
        assert all("activationLagCount" in t["metadata"] for t in lag)
        assert spec["maxReplicaCount"] >= max(spec["minReplicaCount"], 1)


def test_only_asynchronous_workers_scale_to_zero_and_pending_work_keeps_one_up() -> None:
    """minReplicaCount 0 only for calendar, documents and pipeline; any group's pending entries keep a pod up."""
    scaled = of_kind(rendered("overlays/production"), "ScaledObject")
    for worker in WORKERS:
        spec = scaled[f"aiwf-{worker}"]["spec"]
        assert (spec["minReplicaCount"] == 0) == (worker in SCALE_TO_ZERO), worker
        pending = {
            (t["metadata"]["stream"], t["metadata"]["consumerGroup"])
            for t in spec["triggers"]
            if "pendingEntriesCount" in t["metadata"]
        }
        assert pending == {(keys.stream(s.stream), s.group) for s in load(worker).subscriptions}, worker


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_is_probed_limited_confined_and_its_own_redis_user(overlay: str) -> None:
    """Liveness /health and readiness /ready (the gateway: /health) on the health port, requests and limits,
    non-root read-only containers, and only its own identity's Secret mounted."""
    deployments = of_kind(rendered(overlay), "Deployment")
    assert set(deployments) == {f"aiwf-{n}" for n in (*WORKERS, "gateway")}
    for name, deployment in deployments.items():
        service = name.removeprefix("aiwf-")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        port = container["ports"][0]
        liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        assert liveness == {"path": "/health", "port": port["name"]}
        assert readiness["path"] == ("/health" if service == "gateway" else "/ready")
        assert readiness["port"] == port["name"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if service != "gateway":
            assert container["command"] == ["aiwf", "worker", service]
            assert port["containerPort"] == int(env["AIWF_HEALTH_PORT"])
        assert env["AIWF_REDIS_USERNAME"] == f"aiwf-{service}"
        assert env["REDIS_URL"].startswith("rediss://")
        for part in ("requests", "limits"):
            assert set(container["resources"][part]) == {"cpu", "memory"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["fsGroup"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["automountServiceAccountToken"] is False
        secrets = {
            source["secret"]["name"]
            for volume in pod["volumes"]
            for source in volume.get("projected", {}).get("sources", [])
            if "secret" in source
        }
        identities = {s for s in secrets if s.endswith("-redis")}
        assert identities == {f"aiwf-{service}-redis"}, name
        private = [
            item["key"]
            for volume in pod["volumes"]
            for source in volume.get("projected", {}).get("sources", [])
            if source.get("secret", {}).get("name") == "aiwf-sealing-keys"
            for item in source["secret"]["items"]
            if item["key"].endswith(".key")
        ]
        assert private in ([], [f"{service}.key"]), name


def test_every_deployment_has_a_disruption_budget_that_selects_its_pods() -> None:
    """A PodDisruptionBudget per Deployment, its selector equal to the Deployment's."""
    docs = rendered("overlays/production")
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"], name


def test_network_policies_allow_redis_and_dns_out_and_only_the_gateway_in() -> None:
    """Default deny; each Deployment's policy: egress to Redis:6379 and kube-dns:53 (llm also public :443), ingress
    nothing, except the gateway from the ingress controller on its port."""
    docs = rendered("overlays/production")
    policies = of_kind(docs, "NetworkPolicy")
    assert policies["aiwf-default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name, deployment in of_kind(docs, "Deployment").items():
        spec = policies[name]["spec"]
        assert (
            spec["podSelector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        redis, dns, *rest = spec["egress"]
        assert redis["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "aiwf-redis"}}}]
        assert redis["ports"] == [{"protocol": "TCP", "port": 6379}]
        assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
        assert {p["port"] for p in dns["ports"]} == {53}
        if name == "aiwf-llm":
            (public,) = rest
            assert public["ports"] == [{"protocol": "TCP", "port": 443}]
            assert "10.0.0.0/8" in public["to"][0]["ipBlock"]["except"]
        else:
            assert rest == []
        if name == "aiwf-gateway":
            (ingress,) = spec["ingress"]
            assert ingress["ports"] == [{"protocol": "TCP", "port": 8000}]
        else:
            assert spec["ingress"] == []
    redis_in = policies["aiwf-redis"]["spec"]
    assert redis_in["egress"] == []
    assert redis_in["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 6379}]


def test_the_gateway_is_behind_an_ingress_with_tls() -> None:
    """The Ingress routes its TLS host to the gateway Service, which targets the gateway's port."""
    docs = rendered("overlays/production")
    (ingress,) = of_kind(docs, "Ingress").values()
    (tls,) = ingress["spec"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in tls["hosts"]
    assert tls["secretName"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = of_kind(docs, "Service")[backend["name"]]
    assert service["spec"]["selector"] == of_kind(docs, "Deployment")["aiwf-gateway"]["spec"]["selector"]["matchLabels"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_production_pins_the_image_and_carries_no_placeholder_secret() -> None:
    """The production overlay sets a registry image and tag and leaves every REPLACE_ME Secret of the base out."""
    base, production = rendered("base"), rendered("overlays/production")
    assert any("REPLACE_ME" in str(d.get("stringData")) for d in of_kind(base, "Secret").values())
    assert "REPLACE_ME" not in rendered_text("overlays/production")
    images = {
        c["image"]
        for d in of_kind(production, "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    (image,) = images
    name, _, tag = image.rpartition(":")
    assert "/" in name
    assert tag not in {"", "latest", "local"}
    # Every Secret a production pod mounts is one the README tells the operator to create.
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running on Kubernetes", 1)[1].split("\n## ", 1)[0]
    (loop,) = re.findall(r"for s in ([a-z ]+); do", section)
    section += " ".join(f"aiwf-{s}-redis" for s in loop.split())  # what `aiwf-$s-redis` creates
    mounted = {
        source["secret"]["name"]
        for d in [*of_kind(production, "Deployment").values(), *of_kind(production, "StatefulSet").values()]
        for volume in d["spec"]["template"]["spec"]["volumes"]
        for source in volume.get("projected", {}).get("sources", [])
        if "secret" in source
    }
    assert {s for s in mounted if s not in section} == set()
