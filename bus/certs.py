"""Certificates for mutual TLS to Redis: a private CA, the server's certificate, one client certificate per identity.

`generate()` writes, under one directory (what `aiwf certs generate` and the embedded server use):

    ca.crt  ca.key              the CA (keep ca.key offline in production: it mints identities)
    server.crt  server.key      Redis's certificate; its subject names are the `hosts` (DNS names or IPs)
    <identity>.crt / .key       one client certificate per identity, CN `aiwf-<identity>`

Keys are EC P-256, written 0400; certificates 0444. Existing files are never overwritten: a CA
that exists signs the certificates that are missing, so adding a client later keeps the others.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aiwf.bus.errors import ConfigError

__all__ = ["DEFAULT_HOSTS", "VALID_DAYS", "generate"]

DEFAULT_HOSTS: Final = ("redis", "localhost", "127.0.0.1")
#: Lifetime of every certificate made here (the CA's too); rotate by generating a new directory.
VALID_DAYS: Final = 825


def _name(common: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aiwf"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o444)


def _subject_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
    )


def _ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The directory's CA, made when missing."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists():
        if not key_path.exists():
            raise ConfigError(f"{cert_path} exists without ca.key: cannot sign new certificates with it")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{key_path} is not an EC private key")
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("aiwf redis CA")
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),  # cert and CRL signing
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert, key


def _leaf(
    directory: Path,
    stem: str,
    common: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
    hosts: Iterable[str] = (),
) -> Path | None:
    """`<stem>.crt` / `<stem>.key` signed by the CA, unless the certificate exists; its path when written."""
    cert_path = directory / f"{stem}.crt"
    if cert_path.exists():
        return None
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    names = _subject_names(hosts)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    (directory / f"{stem}.key").unlink(missing_ok=True)  # a key without its certificate is useless
    _write_key(directory / f"{stem}.key", key)
    _write_cert(cert_path, builder.sign(ca_key, hashes.SHA256()))
    return cert_path


def generate(directory: Path, hosts: Iterable[str] = DEFAULT_HOSTS, clients: Iterable[str] = ()) -> list[Path]:
    """The CA, a server certificate for `hosts` and a client certificate per identity in `clients`; paths written."""
    hosts = list(hosts)
    if not hosts:
        raise ConfigError("the server certificate needs at least one host name")
    directory.mkdir(parents=True, exist_ok=True)
    fresh = not (directory / "ca.crt").exists()
    ca = _ca(directory)
    written = [directory / "ca.crt"] if fresh else []
    server = _leaf(directory, "server", hosts[0], ca, ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    written += [server] if server else []
    for identity in clients:
        client = _leaf(directory, identity, f"aiwf-{identity}", ca, ExtendedKeyUsageOID.CLIENT_AUTH)
        written += [client] if client else []
    return written
