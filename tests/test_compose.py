"""compose.yaml: valid per the Compose Specification, every container hardened, Redis TLS-only with one user each."""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aiwf.workers import WORKERS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
#: The containers that run aiwf itself (the image built from the Dockerfile), long-running ones.
AIWF = (*WORKERS, "gateway")
SECRETS_TARGET = "/run/secrets/aiwf"


def interpolated(node: Any) -> Any:
    """`${VAR:-default}` replaced by its default, as `docker compose config` does with VAR unset."""
    if isinstance(node, dict):
        return {k: interpolated(v) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolated(v) for v in node]
    if isinstance(node, str):
        return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", node)
    return node


def compose_validator() -> jsonschema.protocols.Validator:
    """The Compose Specification's JSON Schema (the copy check-jsonschema vendors), with format checks."""
    text = (importlib.resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json").read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def secrets_mount(service: dict[str, Any]) -> dict[str, Any]:
    """The service's read-only mount of its own directory of the `secrets` volume."""
    (mount,) = [v for v in service["volumes"] if isinstance(v, dict) and v.get("source") == "secrets"]
    return mount


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    """The file, interpolated with its defaults, has no schema error."""
    errors = [f"{list(e.path)}: {e.message}" for e in compose_validator().iter_errors(interpolated(COMPOSE))]
    assert errors == []


def test_the_schema_check_refuses_a_broken_file() -> None:
    """The same check finds a restart policy of the wrong type, an unknown key and a malformed network list."""
    broken = copy.deepcopy(interpolated(COMPOSE))
    broken["services"]["tts"]["restart"] = 7
    broken["services"]["tts"]["restart_when"] = "unhealthy"
    broken["services"]["gateway"]["networks"] = [["bus"]]
    paths = {tuple(e.path) for e in compose_validator().iter_errors(broken)}
    assert {("services", "tts", "restart"), ("services", "tts")} <= paths
    assert any(p[:3] == ("services", "gateway", "networks") for p in paths), paths


def test_every_worker_has_a_service_and_every_service_a_worker() -> None:
    """The set of worker services in compose.yaml equals workers.WORKERS."""
    services = set(SERVICES) - {"redis", "gateway", "init", "operator"}
    assert services == set(WORKERS)


def test_the_gateway_publishes_its_port_checks_health_and_waits_for_redis_only() -> None:
    """The gateway container runs `aiwf gateway`, publishes port 8000, checks /health and depends on init and Redis."""
    gateway = SERVICES["gateway"]
    assert gateway["command"] == ["aiwf", "gateway"]
    assert gateway["restart"] == "unless-stopped"
    assert any(str(p).endswith(":8000") for p in gateway["ports"])
    assert "http://127.0.0.1:8000/health" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["depends_on"] == {
        "init": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert gateway["environment"]["REDIS_URL"] == "rediss://redis:6379/0"


def test_only_the_gateway_publishes_a_port() -> None:
    """No other service has `ports`; Redis listens on no plain-text port at all."""
    assert [name for name, s in SERVICES.items() if s.get("ports")] == ["gateway"]
    command = SERVICES["redis"]["command"]
    assert command[command.index("--port") + 1] == "0"


def test_each_worker_runs_its_own_command_with_health_and_restart() -> None:
    """Each worker runs `aiwf worker NAME`, restarts unless stopped, checks /health, waits for init and Redis."""
    for name in WORKERS:
        service = SERVICES[name]
        assert service["command"] == ["aiwf", "worker", name]
        assert service["restart"] == "unless-stopped"
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert service["environment"]["REDIS_URL"] == "rediss://redis:6379/0"


def test_an_unhealthy_worker_exits_so_the_restart_policy_fires() -> None:
    """Workers set AIWF_EXIT_WHEN_UNHEALTHY_S to a bound longer than the health check's own window."""
    for name in WORKERS:
        service = SERVICES[name]
        bound = float(service["environment"]["AIWF_EXIT_WHEN_UNHEALTHY_S"])
        check = service["healthcheck"]
        window = int(check["interval"].rstrip("s")) * check["retries"]
        assert bound > window, name


def test_every_long_running_service_is_hardened_and_limited() -> None:
    """Read-only root with a /tmp tmpfs, no-new-privileges, no capabilities, CPU and memory limits."""
    for name in [*AIWF, "redis"]:
        service = SERVICES[name]
        assert service["read_only"] is True, name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "cap_add" not in service, name
        assert any(t.startswith("/tmp:") for t in service["tmpfs"]), name
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert limits["memory"].endswith(("M", "G")), name


def test_redis_is_tls_only_with_client_certificates_the_acl_file_an_aof_and_no_eviction() -> None:
    """The server: TLS port, --tls-auth-clients yes, --aclfile, appendonly, noeviction; its health check over TLS."""
    redis = SERVICES["redis"]
    command = " ".join(redis["command"])
    assert "--tls-port 6379" in command
    assert "--tls-auth-clients yes" in command
    assert "--aclfile /run/secrets/redis/users.acl" in command
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    check = redis["healthcheck"]["test"][-1]
    assert "--tls" in check
    assert "--user aiwf-cli" in check
    assert check.rstrip().endswith("grep -q PONG")
    assert secrets_mount(redis)["volume"]["subpath"] == "redis"


def test_each_aiwf_container_is_its_own_redis_user_with_only_its_own_secrets() -> None:
    """aiwf-NAME, a password file and client certificate from its own read-only directory of the secrets volume."""
    for name in [*AIWF, "operator"]:
        service = SERVICES[name]
        env = service["environment"]
        assert env["AIWF_REDIS_USERNAME"] == f"aiwf-{name}"
        mount = secrets_mount(service)
        assert mount["read_only"] is True
        assert mount["volume"]["subpath"] == f"services/{name}"
        assert mount["target"] == SECRETS_TARGET
        for variable in ("AIWF_REDIS_PASSWORD_FILE", "AIWF_REDIS_TLS_CA", "AIWF_REDIS_TLS_CERT", "AIWF_REDIS_TLS_KEY"):
            assert env[variable].startswith(SECRETS_TARGET + "/"), (name, variable)
        assert env["AIWF_KEYS_DIR"] == f"{SECRETS_TARGET}/keys"


def test_no_secret_is_a_plain_variable_and_the_llm_key_is_a_compose_secret() -> None:
    """No *_API_KEY / *PASSWORD / *_TOKEN variable anywhere; the llm key is a compose secret that init hands to llm."""
    for name, service in SERVICES.items():
        env = service.get("environment", {})
        leaked = [k for k in env if k.endswith(("_API_KEY", "PASSWORD", "_TOKEN", "_SECRET"))]
        assert leaked == [], name
    llm = SERVICES["llm"]
    assert SERVICES["init"]["secrets"] == ["llm_api_key"]  # init gives llm a 0400 copy in its own directory
    assert "secrets" not in llm
    assert llm["environment"]["AIWF_LLM_API_KEY_FILE"] == f"{SECRETS_TARGET}/llm-api-key"
    assert "file" in COMPOSE["secrets"]["llm_api_key"]
    default = interpolated(COMPOSE["secrets"]["llm_api_key"])["file"]
    assert (ROOT / default).is_file()  # a fresh clone has the (empty) default


def test_only_llm_reaches_out_and_only_the_gateway_is_on_the_edge() -> None:
    """The bus network is internal; llm alone joins egress, the gateway alone joins edge."""
    assert COMPOSE["networks"]["bus"]["internal"] is True
    on = {name: set(s.get("networks", [])) for name, s in SERVICES.items()}
    assert {n for n, nets in on.items() if "egress" in nets} == {"llm"}
    assert {n for n, nets in on.items() if "edge" in nets} == {"gateway"}
    assert all("bus" in on[n] for n in [*AIWF, "redis"])


def test_init_is_a_one_shot_without_network_that_makes_every_identity() -> None:
    """init runs deploy/compose/init.sh once with no network; its identities are the containers' Redis users."""
    init = SERVICES["init"]
    assert init["network_mode"] == "none"
    assert init["restart"] == "no"
    assert "./deploy/compose/init.sh:/usr/local/bin/aiwf-init:ro" in init["volumes"]
    script = (ROOT / "deploy/compose/init.sh").read_text()
    (listed,) = re.findall(r'AIWF_INIT_SERVICES:-([^}"]+)', script)
    users = {f"aiwf-{n}" for n in listed.split()}
    assert users == {SERVICES[n]["environment"]["AIWF_REDIS_USERNAME"] for n in [*AIWF, "operator"]} | {"aiwf-cli"}
    for command in ("aiwf keys generate", "aiwf certs generate", "aiwf acl generate"):
        assert command in script


@pytest.mark.parametrize("name", AIWF)
def test_the_blob_volume_is_mounted_where_the_image_makes_it_writable(name: str) -> None:
    """Every aiwf container mounts `blobs` at AIWF_BLOB_DIR (tests/containers checks the image owns it)."""
    service = SERVICES[name]
    assert "blobs:/data/blobs" in service["volumes"]
    assert service["environment"]["AIWF_BLOB_DIR"] == "/data/blobs"
