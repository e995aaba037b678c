"""compose.yaml's pieces run as plain processes: init.sh in a scratch root, Redis with compose's command,
and any service with its compose environment, paths and ports mapped onto this machine."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.containers.dockerfile import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
AIWF = str(Path(sys.executable).parent / "aiwf")
SCRIPT = ROOT / "deploy" / "compose" / "init.sh"
AIWF_UID, REDIS_UID = 10001, 999
#: `${NAME:-default}` in compose's environment: the default, as compose reads it with NAME unset.
_DEFAULTED = re.compile(r"\$\{[A-Z0-9_]+:-([^}]*)\}")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_init(root: Path, tls_hosts: str | None = None) -> subprocess.CompletedProcess[str]:
    """init.sh with its root in `root`, the real uids, and this venv's aiwf."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))},
        "PATH": f"{Path(AIWF).parent}:{os.environ['PATH']}",
        "AIWF_INIT_ROOT": str(root),
        "AIWF_INIT_OWNER": f"{AIWF_UID}:{AIWF_UID}",
        "AIWF_INIT_REDIS_OWNER": f"{REDIS_UID}:{REDIS_UID}",
        "AIWF_DATA_DIR": str(root / "data"),
    }
    if tls_hosts:
        env["AIWF_INIT_TLS_HOSTS"] = tls_hosts
    # compose's default for the llm_api_key secret, with the mode a checkout gives it
    env["AIWF_INIT_LLM_API_KEY_FILE"] = str(ROOT / "deploy" / "compose" / "no-llm-api-key")
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)


def start_redis(initialized: Path, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    """compose's redis command on init's files in `initialized`, on a free loopback port, once it listens."""
    binary = shutil.which("redis-server")
    assert binary is not None, "no redis-server on PATH"
    port = free_port()
    args = [
        a.replace("/run/secrets/redis", str(initialized / "redis")) for a in COMPOSE["services"]["redis"]["command"][1:]
    ]
    args[args.index("--tls-port") + 1] = str(port)
    server = subprocess.Popen([binary, *args, "--dir", str(data), "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert server.poll() is None, "compose's redis-server exited"
        assert time.monotonic() < deadline, "compose's redis-server did not listen"
        time.sleep(0.05)
    return server, port


def service_env(name: str, initialized: Path, redis_port: int, blobs: Path, port: int) -> dict[str, str]:
    """Service `name`'s compose environment with compose's defaults, its secrets directory, blobs, Redis and port
    mapped here; `port` is where its health (or, for the gateway, its HTTP) endpoint listens."""
    service = COMPOSE["services"][name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL", "OTEL_"))}
    for key, value in service["environment"].items():
        text = _DEFAULTED.sub(lambda m: m.group(1), "" if value is None else str(value))
        text = text.replace("/run/secrets/aiwf", str(initialized / "services" / name))
        text = text.replace("/data/blobs", str(blobs)).replace("redis:6379", f"127.0.0.1:{redis_port}")
        env[key] = text
    env["AIWF_HEALTH_PORT"] = str(port)
    if name == "gateway":
        env |= {"AIWF_GATEWAY_HOST": "127.0.0.1", "AIWF_GATEWAY_PORT": str(port)}
    return env  # empty values stay empty, as compose passes them


def command(name: str) -> list[str]:
    """Service `name`'s compose command, with this venv's aiwf."""
    words = list(COMPOSE["services"][name]["command"])
    return [AIWF if words[0] == "aiwf" else words[0], *words[1:]]


def health_check(name: str, port: int) -> bool:
    """Whether service `name`'s compose health check passes against `port`."""
    test = COMPOSE["services"][name]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], test  # the shape this helper knows how to run
    code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", test[3])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=10, check=False)
    return done.returncode == 0
