"""`aiwf certs generate`: the CA, the server certificate for the given hosts, a client certificate per identity."""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def aiwf(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    command = [str(Path(sys.executable).parent / "aiwf"), *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certs_for_the_hosts_and_clients_given_and_only_missing_ones_later(tmp_path: Path) -> None:
    """Server SANs are the hosts (IPs as IP SANs), clients are CN aiwf-<identity>; a rerun adds only what is new."""
    target = tmp_path / "certs"
    done = aiwf(tmp_path, "certs", "generate", "--dir", str(target), "--hosts", "redis,127.0.0.1", "--clients", "llm")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(target / n) for n in ("ca.crt", "server.crt", "llm.crt")]
    server = cert(target / "server.crt")
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["redis"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    client = cert(target / "llm.crt")
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "aiwf-llm"
    assert client.issuer == cert(target / "ca.crt").subject
    for key in target.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o400
    llm_before = (target / "llm.crt").read_bytes()

    again = aiwf(tmp_path, "certs", "generate", "--dir", str(target), "--clients", "llm,tts")
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [str(target / "tts.crt")]
    assert (target / "llm.crt").read_bytes() == llm_before
    assert cert(target / "tts.crt").issuer == cert(target / "ca.crt").subject


def test_defaults_are_the_data_dir_and_every_identity(tmp_path: Path) -> None:
    """Without options: <AIWF_DATA_DIR>/certs and a client certificate for each of the nine users."""
    done = aiwf(tmp_path, "certs", "generate")
    assert done.returncode == 0, done.stderr
    made = {p.stem for p in (tmp_path / ".aiwf" / "certs").glob("*.crt")}
    identities = {"auth", "calendar", "documents", "llm", "tts", "pipeline", "gateway", "cli", "operator"}
    assert made == {"ca", "server", *identities}
