"""What the lab hands the stack for DKIM and MTA-STS: keys made once per lab, owner-only, never in a --set."""

from __future__ import annotations

import base64
import datetime
import json
import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.mailauth_setup import (
    MTA_STS_TLS_KEY,
    ensure_dkim_key,
    install_mail_certificate_script,
    mail_auth_inputs,
    mail_host_certificate,
    milter_port,
)
from lab.pki import ensure_lab_leaf, ensure_webmail_pki
from lab.settings import load_lab, parse_overrides


def test_the_dkim_key_is_rsa_2048_owner_only_kept_and_its_public_half_is_what_dns_publishes(tmp_path):
    path, public = ensure_dkim_key("s2026a", secrets_dir=tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048  # RFC 8301 §3.2
    # p= is the base64 DER SubjectPublicKeyInfo (RFC 6376 §3.6.1, what opendkim-genkey publishes).
    published = serialization.load_der_public_key(base64.b64decode(public))
    assert published.public_numbers() == key.public_key().public_numbers()
    assert ensure_dkim_key("s2026a", secrets_dir=tmp_path) == (path, public)  # a second make lab: the same key
    path.write_text("not a key")
    assert ensure_dkim_key("s2026a", secrets_dir=tmp_path)[1] != public


def test_the_lab_hands_the_public_key_by_set_and_the_private_keys_only_as_secret_files(tmp_path):
    cfg = load_lab("lab").cfg
    pairs, secret_files = mail_auth_inputs(cfg, secrets_dir=tmp_path)
    assert set(secret_files) == {"isp:dkimKey_s2026a", MTA_STS_TLS_KEY}
    [pair] = pairs
    key_name, _, value = pair.partition("=")
    override = json.loads(value)
    assert key_name == "isp:mail"
    _, public = ensure_dkim_key("s2026a", secrets_dir=tmp_path)
    assert override["dkim"]["keys"][0]["publicKey"] == public != cfg.mail.dkim.keys[0].public_key
    for secret in secret_files.values():
        body = "".join(secret.read_text().splitlines()[1:-1])
        assert body[:40] not in pair and stat.S_IMODE(secret.stat().st_mode) == 0o600
    # The stack accepts what the lab hands it, and still signs with the same selector.
    handed = load_lab("lab", parse_overrides(pairs), secrets={k: p.read_text() for k, p in secret_files.items()}).cfg
    assert handed.mail.dkim.sign_with == ["s2026a"] and handed.mail.dkim.keys[0].public_key == public
    assert handed.mail.mta_sts.certificate.source == "provided"


def test_the_mta_sts_certificate_names_every_policy_host_and_chains_to_the_lab_ca(tmp_path):
    pairs, _ = mail_auth_inputs(load_lab("lab").cfg, secrets_dir=tmp_path)
    pem = json.loads(pairs[0].partition("=")[2])["mtaSts"]["certificate"]["certificatePem"]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["mta-sts.isp.test"]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate((tmp_path / "lab-ca.pem").read_bytes()))


def test_a_caller_removing_dkim_gets_no_dkim_key_from_the_lab(tmp_path):
    cfg = load_lab("lab", parse_overrides(['isp:mail={"dkim":null}'])).cfg
    pairs, secret_files = mail_auth_inputs(cfg, secrets_dir=tmp_path)
    assert "isp:dkimKey_s2026a" not in secret_files and '"dkim"' not in "".join(pairs)


def test_leaves_are_issued_again_when_the_lab_ca_is_new(tmp_path):
    ensure_webmail_pki("webmail.isp.test", secrets_dir=tmp_path)
    cert, _ = ensure_lab_leaf(["mail.isp.test"], secrets_dir=tmp_path)
    first = cert.read_bytes()
    assert ensure_lab_leaf(["mail.isp.test"], secrets_dir=tmp_path)[0].read_bytes() == first
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=29, hours=12)
    ensure_webmail_pki("webmail.isp.test", secrets_dir=tmp_path, now=later)  # the webmail pair is stale: a new CA
    assert ensure_lab_leaf(["mail.isp.test"], secrets_dir=tmp_path, now=later)[0].read_bytes() != first


def test_the_mail_certificate_install_script_keeps_the_key_owner_only(tmp_path):
    import subprocess

    pem, key = mail_host_certificate("mail.isp.test", secrets_dir=tmp_path)
    cert_path, key_path = tmp_path / "etc" / "fullchain.pem", tmp_path / "etc" / "privkey.pem"
    for _ in range(2):  # converges
        done = subprocess.run(["/bin/sh", "-c", install_mail_certificate_script(str(cert_path), str(key_path))],
                              input=pem + key, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
    assert cert_path.read_text() == pem and key_path.read_text() == key
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and done.stdout == ""


def test_the_milter_port_is_read_from_opendkims_socket_setting():
    # opendkim.conf(5): Socket inet:port@host; a unix socket has no port.
    assert milter_port("Mode sv\nSocket\t\tinet:8891@localhost\n") == 8891
    assert milter_port("Socket local:/run/opendkim/opendkim.sock\n") is None
    assert milter_port("# Socket inet:8891@localhost\n") is None
