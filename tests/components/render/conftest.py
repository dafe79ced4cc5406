"""Helpers for the renderer tests: certificates, network namespaces, injection probes."""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.render.quoting import RenderValueError

# Values that would add a directive or run something if they reached a config file unescaped.
# "mail.example.net\n": a regex `$` also matches before a final newline.
HOSTILE_VALUES = [
    "mail.example.net\n",
    "/etc/ssl/cert.pem\n",
    "eth0\n",
    "ok\nevil = 1",
    "a;b",
    "a}b",
    "a{b",
    'a"b',
    "a'b",
    "$(reboot)",
    "a b",
    "a#b",
    "a\rb",
]


def assert_rejected(render: Callable[..., str], arguments: dict, parameter: str, values=HOSTILE_VALUES) -> None:
    """Every hostile value for `parameter` raises a ValueError that names the parameter."""
    for value in values:
        with pytest.raises(ValueError) as raised:
            render(**{**arguments, parameter: value})
        assert isinstance(raised.value, RenderValueError)
        assert parameter in str(raised.value), (parameter, value, str(raised.value))


def make_certificate(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate whose SAN lists `names`; returns (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Namespaces:
    """Network namespaces made by this test run (pf-test-<random>), deleted afterwards."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self) -> str:
        name = f"pf-test-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
        self.names.append(name)
        self.run(name, "ip", "link", "set", "lo", "up")
        return name

    def run(self, name: str, *argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
        result = subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in {name} failed: {result.stdout}{result.stderr}")
        return result

    def popen(self, name: str, *argv: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", name, *argv], **kwargs)

    def delete_all(self) -> None:
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self.names.clear()


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    """A factory of fresh network namespaces; skips when they cannot be made (not root, no netns)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    namespaces = Namespaces()
    try:
        namespaces.add()
    except (subprocess.CalledProcessError, OSError) as error:
        namespaces.delete_all()
        pytest.skip(f"cannot create a network namespace: {error}")
    namespaces.delete_all()
    try:
        yield namespaces
    finally:
        namespaces.delete_all()
