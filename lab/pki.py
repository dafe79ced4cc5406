"""The lab's own certificate authority and the webmail certificate it issues (lesson 10).

The lab has no ACME, so its stack takes the webmail certificate as a user with a certificate
from their own CA would: `source: provided`, the chain in `isp:webmail.certificate.certificatePem`
and the key in the secret `isp:webmailTlsKey`. At bring-up the lab makes a CA and a certificate
for exactly the webmail FQDN, once per lab (kept in `build/lab/secrets/`, mode 0600, until
`lab down`), so that a second `make lab` renders the same files and converges. The probe
trusts only this CA, so a handshake that verifies proves the certificate came from the stack.

The key never appears in any argv or output: the program run reads it from its file
(`python -m lab.deploy --secret-file isp:webmailTlsKey=PATH`) and marks it secret.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.system import BUILD_DIR

SECRETS_DIR = BUILD_DIR / "secrets"
LAB_CA = SECRETS_DIR / "lab-ca.pem"  # the lab CA's certificate, what every client of the lab trusts
VALID_DAYS = 30
WEBMAIL_TLS_KEY = "isp:webmailTlsKey"
LAB_CA_NAME = "ISP lab CA (build/lab, not trusted anywhere else)"


@dataclass(frozen=True)
class WebmailPki:
    name: str  # the one name the certificate is for
    ca_cert: Path
    cert: Path  # the leaf, then nothing else: the CA is the trust anchor, not part of the chain
    key: Path

    @property
    def ca_key(self) -> Path:
        """The CA's key: kept (0600) so that a test can issue a certificate for another name."""
        return self.ca_cert.with_suffix(".key")

    def overrides(self) -> tuple[list[str], dict[str, Path]]:
        """(--set pairs, secret files) handing the pair to the stack as a user would."""
        pem = self.cert.read_text()
        certificate = {"certificate": {"source": "provided", "certificatePem": pem}}
        return [f"isp:webmail={json.dumps(certificate)}"], {WEBMAIL_TLS_KEY: self.key}


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(*, name: str, now: datetime.datetime, days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """(certificate, key) as PEM of a CA that may sign server certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
          .sign(key, hashes.SHA256()))
    return ca.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_leaf(name: str, *, ca_cert: bytes, ca_key: bytes, now: datetime.datetime,
               days: int = VALID_DAYS, more_names: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """(certificate, key) as PEM for exactly `name` (and `more_names`: its only SANs), signed by the CA."""
    issuer = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in (name, *more_names)]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
            .sign(signer, hashes.SHA256()))
    return leaf.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _usable(pki: WebmailPki, now: datetime.datetime) -> bool:
    """The kept pair is for `name` and has at least a day left; otherwise the lab issues again."""
    try:
        leaf = x509.load_pem_x509_certificate(pki.cert.read_bytes())
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        return (names == [pki.name] and pki.key.exists() and pki.ca_cert.exists() and pki.ca_key.exists()
                and leaf.not_valid_after_utc - now > datetime.timedelta(days=1))
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False


def ensure_webmail_pki(name: str, *, secrets_dir: Path | None = None,
                       now: datetime.datetime | None = None) -> WebmailPki:
    """The lab CA and the certificate for `name`: the kept ones, or new ones if missing or stale."""
    now = now or datetime.datetime.now(datetime.UTC)
    secrets_dir = secrets_dir or SECRETS_DIR
    pki = WebmailPki(name=name, ca_cert=secrets_dir / "lab-ca.pem", cert=secrets_dir / f"{name}.pem",
                     key=secrets_dir / f"{name}.key")
    if not _usable(pki, now):
        ca, ca_key = make_ca(name=LAB_CA_NAME, now=now)
        leaf, key = issue_leaf(name, ca_cert=ca, ca_key=ca_key, now=now)
        _write_private(pki.ca_key, ca_key)
        _write_private(pki.key, key)
        _write_private(pki.cert, leaf)
        _write_private(pki.ca_cert, ca)
    return pki


def ensure_lab_leaf(names: list[str], *, secrets_dir: Path | None = None,
                    now: datetime.datetime | None = None) -> tuple[Path, Path]:
    """(certificate, key) files from the lab CA for exactly `names`, kept per lab like the webmail
    pair; issued again when missing, stale, for other names, or signed by an earlier CA (a new CA
    is made with a new webmail pair, so call `ensure_webmail_pki` first; a lab without webmail gets
    its CA here)."""
    now = now or datetime.datetime.now(datetime.UTC)
    secrets_dir = secrets_dir or SECRETS_DIR
    ca_cert, ca_key = secrets_dir / "lab-ca.pem", secrets_dir / "lab-ca.key"
    if not (ca_cert.exists() and ca_key.exists()):
        made, made_key = make_ca(name=LAB_CA_NAME, now=now)
        _write_private(ca_key, made_key)
        _write_private(ca_cert, made)
    cert, key = secrets_dir / f"{names[0]}.pem", secrets_dir / f"{names[0]}.key"
    try:
        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_cert.read_bytes()))
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        usable = sans == names and key.exists() and leaf.not_valid_after_utc - now > datetime.timedelta(days=1)
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        usable = False
    if not usable:
        pem, private = issue_leaf(names[0], ca_cert=ca_cert.read_bytes(), ca_key=ca_key.read_bytes(), now=now,
                                  more_names=tuple(names[1:]))
        _write_private(key, private)
        _write_private(cert, pem)
    return cert, key
