"""compose.yaml's Redis command and health check, run for real: TLS only, client certificates, users from the ACL file.

The certificates are made here with `cryptography` and the ACL file is written by hand, so this
checks compose's server flags and its health check command, not `aiwf certs` / `aiwf acl`
(tests/containers/test_compose_init.py runs those when they exist).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.containers.dockerfile import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
REDIS = COMPOSE["services"]["redis"]
SECRETS = "/run/secrets/redis"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("redis-server") is None or shutil.which("redis-cli") is None, reason="no redis-server/redis-cli"
    ),
]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".key").chmod(0o600)


def make_pki(where: Path) -> None:
    """ca.crt, server.crt/.key (host redis and 127.0.0.1), health.crt/.key (a client), all in `where`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("aiwf test CA"))
        .issuer_name(_name("aiwf test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (where / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, sans in (("server", ["redis"]), ("health", [])):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if sans:
            alt = [x509.DNSName(s) for s in sans] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        _write(where / name, key, builder.sign(ca_key, hashes.SHA256()))


@dataclass
class Server:
    """A redis-server started with compose's arguments; its port and secrets directory."""

    port: int
    secrets: Path


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """compose's redis command on a scratch copy of /run/secrets/redis and a free port."""
    secrets = tmp_path_factory.mktemp("secrets")
    make_pki(secrets)
    (secrets / "health-password").write_text("health-pw\n")
    (secrets / "users.acl").write_text(
        "user default off\n"
        "user aiwf-cli on >health-pw ~aiwf:* resetchannels -@all +ping +xinfo +xlen +xrange\n"
        "user aiwf-tts on >tts-pw ~aiwf:*{tts}* resetchannels -@all +ping +xadd +xreadgroup +xack\n"
    )
    port = free_port()
    args = [a.replace(SECRETS, str(secrets)) for a in REDIS["command"][1:]]
    args[args.index("--tls-port") + 1] = str(port)
    data = tmp_path_factory.mktemp("data")
    process = subprocess.Popen(
        ["redis-server", *args, "--dir", str(data), "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "redis-server did not listen"
        time.sleep(0.05)
    yield Server(port, secrets)
    process.terminate()
    process.wait(10)


def client(server: Server, **overrides: object) -> redis.Redis:
    """A TLS client as aiwf-cli with the health certificate (overrides change any of that)."""
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": "aiwf-cli",
        "password": "health-pw",
        "ssl": True,
        "ssl_ca_certs": str(server.secrets / "ca.crt"),
        "ssl_certfile": str(server.secrets / "health.crt"),
        "ssl_keyfile": str(server.secrets / "health.key"),
        "socket_timeout": 3,
    }
    return redis.Redis(**{**options, **overrides})  # type: ignore[arg-type]


def health_check(server: Server, secrets: Path | None = None) -> subprocess.CompletedProcess[str]:
    """compose's redis health check command, pointed at this server and secrets directory."""
    (command,) = REDIS["healthcheck"]["test"][1:]
    command = command.replace("$$", "$").replace(SECRETS, str(secrets or server.secrets))
    command = command.replace("redis-cli ", f"redis-cli -p {server.port} ", 1)
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10, check=False)


def test_a_user_with_its_certificate_and_password_gets_in_and_only_to_its_commands(server: Server) -> None:
    """aiwf-cli pings over mutual TLS; FLUSHALL and CONFIG are refused by the ACL."""
    with client(server) as c:
        assert c.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            c.flushall()
        with pytest.raises(redis.exceptions.NoPermissionError):
            c.config_set("appendonly", "no")


def test_there_is_no_plain_text_port_and_no_entry_without_a_certificate(server: Server) -> None:
    """Plain TCP on the port gets no Redis reply; TLS without a client certificate is refused; so is `default`."""
    with pytest.raises(redis.ConnectionError), redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2) as c:
        c.ping()
    no_cert = client(server, ssl_certfile=None, ssl_keyfile=None, ssl_cert_reqs=ssl.CERT_NONE)
    with pytest.raises(redis.ConnectionError), no_cert:
        no_cert.ping()
    with pytest.raises(redis.exceptions.AuthenticationError), client(server, username=None, password=None) as c:
        c.ping()


def test_composes_health_check_passes_and_fails_on_a_wrong_password(server: Server, tmp_path: Path) -> None:
    """The health check command exits 0 against this server, and non-zero when its password is wrong."""
    ok = health_check(server)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = tmp_path / "secrets"
    shutil.copytree(server.secrets, wrong)
    (wrong / "health-password").write_text("not-it\n")
    assert health_check(server, wrong).returncode != 0
