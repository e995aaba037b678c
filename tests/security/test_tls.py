"""Mutual TLS to Redis (`rediss://`, AIWF_REDIS_TLS_*): the guarantee suite over it, and the three refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from aiwf.bus import certs
from aiwf.bus.config import BusConfig, RedisAccess
from aiwf.bus.connection import check_access, connect
from aiwf.bus.errors import ConfigError
from aiwf.bus.server import EmbeddedRedis, ServerTls
from tests.contract.test_guarantees import (
    test_backend_outage_pauses_instead_of_dead_lettering,
    test_backend_unavailable_error_never_dead_letters,
    test_deleted_group_is_recreated_under_a_running_worker,
    test_handler_failing_twice_runs_three_times_and_outputs_once,
    test_long_handler_renewing_its_lease_is_never_run_twice,
    test_malformed_and_invalid_entries_are_dead_lettered_on_first_delivery,
    test_output_carries_correlation_and_causation,
    test_poison_reaches_dlq_and_healthy_event_behind_it_is_processed,
    test_same_event_id_delivered_twice_runs_handler_once,
    test_unflagged_duplicate_still_commits_its_outputs_once,
)
from tests.security.world import redis_tls

#: The whole guarantee suite (tests/contract/test_guarantees.py), collected here again to run over mutual TLS.
GUARANTEES = (
    test_backend_outage_pauses_instead_of_dead_lettering,
    test_backend_unavailable_error_never_dead_letters,
    test_deleted_group_is_recreated_under_a_running_worker,
    test_handler_failing_twice_runs_three_times_and_outputs_once,
    test_long_handler_renewing_its_lease_is_never_run_twice,
    test_malformed_and_invalid_entries_are_dead_lettered_on_first_delivery,
    test_output_carries_correlation_and_causation,
    test_poison_reaches_dlq_and_healthy_event_behind_it_is_processed,
    test_same_event_id_delivered_twice_runs_handler_once,
    test_unflagged_duplicate_still_commits_its_outputs_once,
)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 only (so `localhost` is a wrong name), client certs for tests."""
    root = tmp_path_factory.mktemp("certs")
    certs.generate(root, ["127.0.0.1"], ["operator", "llm"])
    return root


@pytest.fixture(scope="module")
def redis_url(cert_dir: Path) -> Iterator[str]:
    """A TLS-only Redis requiring client certificates (overrides the suite's plain server for this module)."""
    binary = redis_tls()
    with EmbeddedRedis(cert_dir / "data", binary=binary, tls=ServerTls.in_dir(cert_dir)) as server:
        assert server.url.startswith("rediss://127.0.0.1:")
        yield server.url


def access(cert_dir: Path, identity: str | None = "operator", ca: Path | None = None) -> RedisAccess:
    """TLS files for one identity's client certificate (None: no client certificate at all)."""
    if identity is None:
        return RedisAccess(tls_ca=ca or cert_dir / "ca.crt")
    return RedisAccess(
        tls_ca=ca or cert_dir / "ca.crt", tls_cert=cert_dir / f"{identity}.crt", tls_key=cert_dir / f"{identity}.key"
    )


@pytest.fixture
def config(redis_url: str, cert_dir: Path) -> BusConfig:
    """The suite's bus settings, connecting with the operator's client certificate."""
    return BusConfig(redis_url=redis_url, producer="tests", marker_ttl_s=3600, access=access(cert_dir))


@pytest.fixture
async def client(config: BusConfig) -> AsyncIterator[aioredis.Redis]:
    """The suite's client, over mutual TLS, on an empty database."""
    c = connect(config.redis_url or "", config)
    await c.flushdb()
    yield c
    await c.aclose()


async def refusal(url: str, config: BusConfig) -> str:
    """The one-line error check_access gives for a client that must be refused."""
    client = connect(url, config)
    try:
        with pytest.raises(ConfigError) as caught:
            await check_access(client, url, config)
    finally:
        await client.aclose()
    return str(caught.value)


async def test_a_client_with_its_certificate_is_served(config: BusConfig) -> None:
    """With the CA and a client certificate of that CA, PING answers over TLS."""
    client = connect(config.redis_url or "", config)
    try:
        await check_access(client, config.redis_url or "", config)
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_client_without_a_certificate_is_refused(redis_url: str, cert_dir: Path) -> None:
    """No client certificate: the server ends the handshake; the error says TLS failed and for whom."""
    message = await refusal(redis_url, BusConfig(redis_url=redis_url, access=access(cert_dir, None)))
    assert message.startswith("TLS to Redis failed for user 'default': ")
    assert "certificate" in message


async def test_a_certificate_from_another_ca_is_refused(redis_url: str, tmp_path: Path, cert_dir: Path) -> None:
    """A client certificate signed by another CA: refused by the server, one clear line."""
    other = tmp_path / "other"
    certs.generate(other, ["127.0.0.1"], ["operator"])
    forged = RedisAccess(tls_ca=cert_dir / "ca.crt", tls_cert=other / "operator.crt", tls_key=other / "operator.key")
    message = await refusal(redis_url, BusConfig(redis_url=redis_url, access=forged))
    assert message.startswith("TLS to Redis failed for user 'default': ")
    assert "unknown ca" in message or "certificate" in message


async def test_a_server_certificate_from_another_ca_is_refused(redis_url: str, tmp_path: Path, cert_dir: Path) -> None:
    """Trusting another CA than the server's: the client refuses the server's certificate."""
    other = tmp_path / "other"
    certs.generate(other, ["127.0.0.1"], [])
    message = await refusal(redis_url, BusConfig(redis_url=redis_url, access=access(cert_dir, ca=other / "ca.crt")))
    assert message.startswith("TLS to Redis failed for user 'default': the server's certificate was refused: ")


async def test_the_wrong_host_name_is_refused(redis_url: str, cert_dir: Path) -> None:
    """The server's certificate names 127.0.0.1 only: reaching it as `localhost` fails host name verification."""
    wrong = redis_url.replace("127.0.0.1", "localhost")
    message = await refusal(wrong, BusConfig(redis_url=wrong, access=access(cert_dir)))
    assert "the server's certificate was refused" in message
    assert "localhost" in message


def test_a_client_key_readable_by_others_is_refused(redis_url: str, cert_dir: Path, tmp_path: Path) -> None:
    """AIWF_REDIS_TLS_KEY with mode 0644 is refused before any connection, naming the variable and the mode."""
    loose = tmp_path / "operator.key"
    loose.write_bytes((cert_dir / "operator.key").read_bytes())
    loose.chmod(0o644)
    files = RedisAccess(tls_ca=cert_dir / "ca.crt", tls_cert=cert_dir / "operator.crt", tls_key=loose)
    with pytest.raises(ConfigError, match=r"^AIWF_REDIS_TLS_KEY .* has mode 0644; a secret file may be at most 0440"):
        connect(redis_url, BusConfig(redis_url=redis_url, access=files))


__all__ = [g.__name__ for g in GUARANTEES]


async def test_a_service_runs_as_its_own_user_with_its_own_certificate(cert_dir: Path, tmp_path: Path) -> None:
    """ACLs and mutual TLS together: aiwf-documents, presenting documents.crt, processes an upload with no denial."""
    from aiwf.bus import Publisher, keys
    from aiwf.bus.testing import wait_until
    from aiwf.schemas.events.documents import DocumentUploaded
    from aiwf.workers import load
    from tests.security.world import acl_redis
    from tests.worker_support import serving

    certs.generate(cert_dir, ["127.0.0.1"], ["documents"])
    with acl_redis(redis_tls(), tls_dir=cert_dir) as acl:
        admin = connect(acl.url, acl.admin())
        operator_config = acl.config("operator")
        operator = connect(acl.url, operator_config)
        try:
            documents = acl.config("documents", blob_dir=tmp_path / "blobs")
            assert documents.access.tls_cert == cert_dir / "documents.crt"
            async with serving(load("documents"), documents):
                upload = DocumentUploaded(document_id="tls", filename="a.txt", text="Over TLS. As itself.")
                await Publisher(operator, operator_config).publish(upload)

                async def processed() -> bool:
                    return int(await admin.xlen(keys.stream("documents"))) == 2

                await wait_until(processed, 30, "documents.document.processed over TLS")
            assert await admin.acl_log() == []
        finally:
            await admin.aclose()
            await operator.aclose()
