"""dovecot.conf, read back by Dovecot's own `doveconf`."""

from __future__ import annotations

import re

import pytest

from components.render.dovecot import render_dovecot_conf
from tests.components.render.conftest import assert_rejected, make_certificate
from tests.conftest import require_tool, run_tool

ARGUMENTS = dict(hostname_fqdn="mail.example.net", tls_cert_path="/etc/ssl/cert.pem", tls_key_path="/etc/ssl/key.pem")


@pytest.fixture
def settings(tmp_path):
    """All settings Dovecot derives from the rendered file (`doveconf -S`: key=value, full paths)."""
    doveconf = require_tool("doveconf")
    cert, key = make_certificate(tmp_path, ["mail.example.net"])
    path = tmp_path / "dovecot.conf"
    path.write_text(render_dovecot_conf(**{**ARGUMENTS, "tls_cert_path": str(cert), "tls_key_path": str(key)}))
    checked = run_tool(doveconf, "-n", "-c", str(path))
    assert checked.returncode == 0, checked.stderr
    dump = run_tool(doveconf, "-S", "-c", str(path))
    assert dump.returncode == 0, dump.stderr
    return dict(line.split("=", 1) for line in dump.stdout.splitlines() if "=" in line)


def test_maildir_not_mbox(settings):
    assert settings["mail_location"] == "maildir:~/Maildir"


def test_postfix_sasl_socket(settings):
    paths = [
        key
        for key, value in settings.items()
        if key.startswith("service/auth/unix_listener/") and key.endswith("/path")
    ]
    [listener] = [key.removesuffix("/path") for key in paths if settings[key] == "/var/spool/postfix/private/auth"]
    assert settings[f"{listener}/mode"] == "0660"
    assert settings[f"{listener}/user"] == "postfix"
    assert settings[f"{listener}/group"] == "postfix"


def test_passwords_only_inside_tls(settings):
    assert settings["disable_plaintext_auth"] == "yes"
    assert settings["ssl"] == "required"
    assert settings["protocols"] == "imap"
    assert settings["hostname"] == "mail.example.net"


def test_standalone_and_using_the_given_certificate(settings):
    """No include: Debian's conf.d (mbox from /var/mail, ...) never mixes in."""
    text = render_dovecot_conf(**ARGUMENTS)
    assert not re.search(r"^\s*!include", text, re.M)
    assert settings["ssl_cert"].startswith("<") and settings["ssl_cert"].endswith("/cert.pem")
    assert settings["mail_privileged_group"] == ""  # Debian's 10-mail.conf would set "mail"


@pytest.mark.parametrize("parameter", ["hostname_fqdn", "tls_cert_path", "tls_key_path", "postmaster_address"])
def test_refuses_injection(parameter):
    assert_rejected(render_dovecot_conf, ARGUMENTS, parameter)
