"""The `database` and `webmail` settings (lessons 9 and 10): defaults, repo stacks, clear errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pulumi
import pytest

from components.config import SECRET_KEYS, ConfigError, DatabaseSettings, load_stack_config, parse_stack_config
from tests.components.conftest import RecordingMocks
from tests.components.render.conftest import make_certificate

KEY_TEXT = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET"


def pem(names: list[str]) -> str:
    with tempfile.TemporaryDirectory() as directory:
        cert, _ = make_certificate(Path(directory), names)
        return cert.read_text()


def _db(values: dict) -> dict:
    return next(h for h in values["hosts"] if "db" in h["roles"])


def test_repo_stacks(prod_values, dev_values):
    prod, dev = parse_stack_config(prod_values), parse_stack_config(dev_values)
    (db1,) = prod.hosts_with("db")
    assert prod.databases_of(db1) == [DatabaseSettings(engine="postgresql", retention_days=14)]
    (db,) = dev.hosts_with("db")
    (settings,) = dev.databases_of(db)
    assert settings.engine == "mariadb" and settings.retention_days == 7
    assert prod.webmail.certificate.source == "acme" and prod.acme_email == "hostmaster@example.net"
    assert dev.webmail.certificate.source == "provided"
    assert "BEGIN CERTIFICATE" in dev.webmail.certificate.certificate_pem
    assert prod.webmail_fqdn == "webmail.example.net"


def test_defaults(prod_values):
    _db(prod_values).pop("database")
    prod_values.pop("webmail")
    cfg = parse_stack_config(prod_values)
    assert cfg.databases_of(cfg.hosts_with("db")[0]) == [DatabaseSettings()]
    assert DatabaseSettings().schedule == "*-*-* 02:30:00" and DatabaseSettings().backup_dir == "/var/backups/db"
    tls = cfg.webmail.certificate
    assert (tls.source, tls.challenge, cfg.acme_email) == ("acme", "http-01", "hostmaster@example.net")
    assert not tls.challenge_via_cloudflare


def _error(values: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values, "Pulumi.prod.yaml")
    return str(raised.value)


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda v: _db(v)["database"].update(engine="oracle"), ["isp:hosts[5].database.engine", "oracle"]),
    (lambda v: _db(v)["database"].update(retentionDays=0), ["isp:hosts[5].database.retentionDays = 0"]),
    (lambda v: _db(v)["database"].update(backupDir="/var/../etc"), ["isp:hosts[5].database.backupDir"]),
    (lambda v: _db(v)["database"].update(backupDir="/var/backups/db\n"), ["isp:hosts[5].database.backupDir"]),
    (lambda v: _db(v)["database"].update(schedule="daily\nExecStart=/bin/sh"), ["isp:hosts[5].database.schedule"]),
    (lambda v: _db(v)["database"].update(schedule="%H"), ["systemd calendar event"]),
    (lambda v: _db(v)["database"].update(compression="xz"), ["isp:hosts[5].database.compression", "not a known"]),
    (lambda v: v["hosts"][1].update(database={}), ["hosts[1] (ns1).database is set but the host has no 'db' role"]),
    (lambda v: v["webmail"]["certificate"].update(source="letsencrypt"), ["isp:webmail.certificate.source"]),
    (lambda v: v["webmail"]["certificate"].update(challenge="tls-alpn-01"), ["isp:webmail.certificate.challenge"]),
    (lambda v: v["webmail"]["certificate"].update(email="hostmaster"), ["isp:webmail.certificate.email",
                                                                       "plain mailbox"]),
    (lambda v: v["webmail"]["certificate"].update(certificatePem=pem(["webmail.example.net"])),
     ["certificatePem is only for source 'provided'"]),
    (lambda v: v["webmail"].update(certificate={"source": "provided"}), ["source 'provided' needs certificatePem"]),
    (lambda v: v["webmail"].update(certificate={"source": "provided", "challenge": "dns-01",
                                                "certificatePem": pem(["webmail.example.net"])}),
     ["challenge is an ACME setting"]),
    (lambda v: v["webmail"].update(certificate={"source": "provided", "certificatePem": "hello"}),
     ["certificatePem must be one or more PEM blocks"]),
    (lambda v: v["webmail"].update(productName="Webmail\n<?php"), ["isp:webmail.productName"]),
    (lambda v: [h.update(roles=["web"]) for h in v["hosts"] if h["name"] == "www"],
     ["webmail is set but no host has the role 'webmail'"]),
])
def test_bad_input_names_key_value_and_rule(prod_values, mutate, expected):
    mutate(prod_values)
    message = _error(prod_values)
    for fragment in expected:
        assert fragment in message, message


def test_a_private_key_in_the_plain_setting_is_refused_without_showing_it(prod_values):
    key = f"-----BEGIN PRIVATE KEY-----\n{KEY_TEXT}\n-----END PRIVATE KEY-----\n"
    for text in (key, pem(["webmail.example.net"]) + key):
        prod_values["webmail"] = {"certificate": {"source": "provided", "certificatePem": text}}
        message = _error(prod_values)
        assert "holds a private key" in message and "isp:webmailTlsKey" in message
        assert "SECRET" not in message and "MIGH" not in message


def test_secret_keys_stay_out_of_the_model(prod_values):
    """load_stack_config leaves every secret key to pulumi.Config().require_secret."""
    assert {"sshPrivateKey", "webmailTlsKey", "acmeCloudflareToken"} <= set(SECRET_KEYS)
    pulumi.runtime.set_mocks(RecordingMocks(), project="isp", stack="test", preview=True)
    config = {f"isp:{k}": json.dumps(v) for k, v in prod_values.items()}
    config.update({"isp:webmailTlsKey": "KEY", "isp:acmeCloudflareToken": "TOKEN", "isp:sshPrivateKey": "SSH"})
    pulumi.runtime.set_all_config(config, ["isp:webmailTlsKey", "isp:acmeCloudflareToken", "isp:sshPrivateKey"])
    try:
        cfg = load_stack_config()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert cfg.webmail.certificate.source == "acme"
