"""compose.yaml runs every worker the code declares, each with a health check and a restart policy."""

from __future__ import annotations

from pathlib import Path

import yaml

from aiwf.workers import WORKERS

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[1] / "compose.yaml").read_text())


def test_every_worker_has_a_service_and_every_service_a_worker() -> None:
    """The set of worker services in compose.yaml equals workers.WORKERS."""
    services = set(COMPOSE["services"]) - {"redis", "gateway"}
    assert services == set(WORKERS)


def test_the_gateway_publishes_its_port_checks_health_and_waits_for_redis_only() -> None:
    """The gateway container runs `aiwf gateway`, publishes port 8000, checks /health and depends on Redis alone."""
    gateway = COMPOSE["services"]["gateway"]
    assert gateway["command"] == ["aiwf", "gateway"]
    assert gateway["restart"] == "unless-stopped"
    assert any(str(p).endswith(":8000") for p in gateway["ports"])
    assert "http://127.0.0.1:8000/health" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert gateway["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_each_worker_runs_its_own_command_with_health_and_restart() -> None:
    """Each worker container runs `aiwf worker NAME`, restarts unless stopped, checks /health, waits for Redis."""
    for name in WORKERS:
        service = COMPOSE["services"][name]
        assert service["command"] == ["aiwf", "worker", name]
        assert service["restart"] == "unless-stopped"
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_redis_keeps_an_aof_and_never_evicts() -> None:
    """Redis runs with appendonly, an fsync policy, noeviction and a health check."""
    redis = COMPOSE["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert redis["healthcheck"]["test"][-1] == "ping"
