"""The lab CA and the webmail certificate it hands the stack (no root needed: files and openssl only)."""

from __future__ import annotations

import datetime
import json
import stat
import subprocess

import pytest
from cryptography import x509

from components.config import ConfigError, parse_stack_config
from lab.deploy import lab_inputs
from lab.pki import WEBMAIL_TLS_KEY, ensure_webmail_pki, issue_leaf, make_ca
from lab.settings import load_lab, parse_overrides

NAME = "webmail.isp.test"


def _sans(pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(pem)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_the_certificate_names_exactly_the_webmail_host_and_verifies_against_the_lab_ca_only(tmp_path):
    pki = ensure_webmail_pki(NAME, secrets_dir=tmp_path)
    assert _sans(pki.cert.read_bytes()) == [NAME]
    for path in (pki.cert, pki.key, pki.ca_cert, pki.ca_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    verify = ["openssl", "verify", "-x509_strict", "-purpose", "sslserver"]
    right = subprocess.run([*verify, "-verify_hostname", NAME, "-CAfile", str(pki.ca_cert), str(pki.cert)],
                           capture_output=True, text=True, timeout=10)
    assert right.returncode == 0, right.stdout + right.stderr
    wrong = subprocess.run([*verify, "-verify_hostname", "wrong.isp.test", "-CAfile", str(pki.ca_cert),
                            str(pki.cert)], capture_output=True, text=True, timeout=10)
    assert wrong.returncode != 0 and "hostname mismatch" in wrong.stdout + wrong.stderr
    other_ca, _ = make_ca(name="another CA", now=datetime.datetime.now(datetime.UTC))
    (tmp_path / "other.pem").write_bytes(other_ca)
    untrusted = subprocess.run([*verify, "-CAfile", str(tmp_path / "other.pem"), str(pki.cert)],
                               capture_output=True, text=True, timeout=10)
    assert untrusted.returncode != 0


def test_a_lab_keeps_its_pair_and_issues_again_only_when_it_no_longer_fits(tmp_path):
    first = ensure_webmail_pki(NAME, secrets_dir=tmp_path)
    kept = first.cert.read_bytes(), first.key.read_bytes()
    again = ensure_webmail_pki(NAME, secrets_dir=tmp_path)
    assert (again.cert.read_bytes(), again.key.read_bytes()) == kept  # a second make lab renders the same files
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=29, hours=12)
    renewed = ensure_webmail_pki(NAME, secrets_dir=tmp_path, now=later)  # less than a day left
    assert renewed.cert.read_bytes() != kept[0]
    first.ca_key.unlink()
    assert ensure_webmail_pki(NAME, secrets_dir=tmp_path).ca_key.exists()


def test_a_leaf_for_another_name_from_the_same_ca_names_only_that_name(tmp_path):
    pki = ensure_webmail_pki(NAME, secrets_dir=tmp_path)
    leaf, _ = issue_leaf("wrong.isp.test", ca_cert=pki.ca_cert.read_bytes(), ca_key=pki.ca_key.read_bytes(),
                         now=datetime.datetime.now(datetime.UTC))
    assert _sans(leaf) == ["wrong.isp.test"]


def test_the_stack_gets_the_certificate_in_config_and_the_key_only_as_a_secret(tmp_path, monkeypatch):
    import lab.pki

    monkeypatch.setattr(lab.pki, "SECRETS_DIR", tmp_path)
    overrides, secret_files = lab_inputs("lab")
    # The webmail key, and (lab/mailauth_setup.py) the DKIM key and the MTA-STS certificate's key.
    assert list(secret_files) == [WEBMAIL_TLS_KEY, "isp:dkimKey_s2026a", "isp:mtaStsTlsKey"]
    assert all(path.parent == tmp_path for path in secret_files.values())
    key = secret_files[WEBMAIL_TLS_KEY].read_text()
    for path in secret_files.values():
        text = path.read_text()
        assert "PRIVATE KEY" in text and not any(text in pair or "PRIVATE KEY" in pair for pair in overrides)
    stack = load_lab("lab", parse_overrides(overrides), secrets={k: p.read_text() for k, p in secret_files.items()})
    assert stack.cfg.webmail.certificate.source == "provided"
    assert stack.cfg.webmail.certificate.certificate_pem == (tmp_path / f"{NAME}.pem").read_text()
    assert WEBMAIL_TLS_KEY in stack.program.secret_keys and stack.program.config[WEBMAIL_TLS_KEY] == key


def test_the_key_pasted_as_the_certificate_is_refused_without_being_quoted(tmp_path):
    pki = ensure_webmail_pki(NAME, secrets_dir=tmp_path)
    stack = load_lab("lab")
    values = {k.split(":", 1)[1]: json.loads(v) if v[:1] in "[{" else v for k, v in stack.program.config.items()
              if k.startswith("isp:") and k not in stack.program.secret_keys}
    values["webmail"] = {"certificate": {"source": "provided", "certificatePem": pki.key.read_text()}}
    with pytest.raises(ConfigError) as error:
        parse_stack_config(values, "Pulumi.lab.yaml")
    assert "private key" in str(error.value) and pki.key.read_text().splitlines()[1] not in str(error.value)
