"""What the lab hands the stack for mail authentication, as an operator would: keys and certificates.

- DKIM: an RSA 2048 key pair (RFC 8301 §3.2: at least 1024 bits, 2048 recommended) for the
  selector `Pulumi.lab.yaml` signs with, generated once per lab into `build/lab/secrets/`
  (0600) and kept until `lab down`, so a second `make lab` renders the same files. The public
  half goes in as `--set isp:mail={"dkim":...}` in place of the stand-in; the private key as
  `--secret-file isp:<privateKeyConfig>=PATH` (never in an argv, an output or the report).
- MTA-STS: a certificate from the lab CA for every `mta-sts.<domain>` the stack serves, its
  key as the secret `isp:mtaStsTlsKey`, as `source: provided` (the lab has no ACME).
- The mail host's own certificate, which Postfix presents on STARTTLS, comes from the lab CA
  too (installed at bring-up where the stand-ins go), so that `mode: enforce` is honest: an
  MTA-STS sender trusting the lab CA verifies every MX (RFC 8461 §4.2), and the probe does so.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import pki
from lab.pki import _write_private, ensure_lab_leaf

DKIM_RSA_BITS = 2048
MTA_STS_TLS_KEY = "isp:mtaStsTlsKey"
MTA_STS_LABEL = "mta-sts"
_MILTER_SOCKET = re.compile(r"^\s*Socket\s+inet6?:(\d+)@", re.M)  # opendkim.conf(5) Socket


def dkim_key_file(selector: str, secrets_dir: Path | None = None) -> Path:
    return (secrets_dir or pki.SECRETS_DIR) / f"dkim-{selector}.key"  # looked up now: tests move it


def ensure_dkim_key(selector: str, *, secrets_dir: Path | None = None) -> tuple[Path, str]:
    """(private key file, public key as the base64 DER SubjectPublicKeyInfo DNS publishes: p=)."""
    path = dkim_key_file(selector, secrets_dir)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != DKIM_RSA_BITS:
            raise ValueError("not an RSA 2048 key")
    except (OSError, ValueError):
        key = rsa.generate_private_key(public_exponent=65537, key_size=DKIM_RSA_BITS)
        _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, base64.b64encode(der).decode()


def _mail(cfg: Any) -> Any:
    return getattr(cfg, "mail", None)


def hosted_domains(cfg: Any) -> list[str]:
    from components.config.mail_auth import hosted_mail_domains

    return hosted_mail_domains(cfg)


def mail_auth_inputs(cfg: Any, *, secrets_dir: Path | None = None) -> tuple[list[str], dict[str, Path]]:
    """(--set pairs, secret files) for DKIM and MTA-STS, or nothing for what the stack does not use."""
    mail = _mail(cfg)
    dkim, mta_sts = getattr(mail, "dkim", None), getattr(mail, "mta_sts", None)
    override: dict[str, Any] = {}
    secret_files: dict[str, Path] = {}
    if dkim is not None:
        keys = []
        for key in dkim.keys:
            entry = key.model_dump(by_alias=True, exclude_none=True, mode="json")
            if key.selector in dkim.sign_with and key.algorithm == "rsa":
                path, public = ensure_dkim_key(key.selector, secrets_dir=secrets_dir)
                entry["publicKey"] = public
                secret_files[f"isp:{key.private_key_config}"] = path
            keys.append(entry)
        override["dkim"] = {"keys": keys}
    if mta_sts is not None and mta_sts.certificate.source == "provided":
        names = [f"{MTA_STS_LABEL}.{domain}" for domain in hosted_domains(cfg)]
        cert, key = ensure_lab_leaf(names, secrets_dir=secrets_dir)
        override["mtaSts"] = {"certificate": {"source": "provided", "certificatePem": cert.read_text()}}
        secret_files[MTA_STS_TLS_KEY] = key
    return ([f"isp:mail={json.dumps(override)}"] if override else []), secret_files


def mail_host_certificate(fqdn: str, *, secrets_dir: Path | None = None) -> tuple[str, str]:
    """(certificate PEM, key PEM) from the lab CA for exactly the mail host's name."""
    cert, key = ensure_lab_leaf([fqdn], secrets_dir=secrets_dir)
    return cert.read_text(), key.read_text()


def install_mail_certificate_script(cert_path: str, key_path: str) -> str:
    """Put the pair (certificate, then key, on stdin) where Postfix reads it; unchanged files stay."""
    return (f'set -eu\nmkdir -p "$(dirname {cert_path})" "$(dirname {key_path})"\n'
            f"new=$(mktemp)\ncat > \"$new\"\n"
            f"sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' \"$new\" > {cert_path}.lab\n"
            f"(umask 077 && sed -n '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/p' \"$new\" > {key_path}.lab)\n"
            f'rm -f "$new"\n'
            f"cmp -s {cert_path}.lab {cert_path} || mv {cert_path}.lab {cert_path}\n"
            f"cmp -s {key_path}.lab {key_path} || mv {key_path}.lab {key_path}\n"
            f"rm -f {cert_path}.lab {key_path}.lab\nchmod 600 {key_path}\n")


def milter_port(opendkim_conf: str) -> int | None:
    """The TCP port of `Socket inet:PORT@host` in an opendkim.conf, if it listens on one."""
    match = _MILTER_SOCKET.search(opendkim_conf)
    return int(match.group(1)) if match else None


def installed_milter_port(host_root: str) -> int | None:
    """The port the delivered /etc/opendkim.conf names (None before the stack delivers one)."""
    conf = Path(host_root, "etc", "opendkim.conf")
    return milter_port(conf.read_text()) if conf.exists() else None
