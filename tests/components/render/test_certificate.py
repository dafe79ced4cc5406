"""The webmail certificate: the ACME script run for real (certbot itself cannot reach a CA
here, so a recording certbot stands in for it), and the openssl checks of a provided
certificate run against real certificates."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.render.certificate import (
    provided_certificate_checks,
    render_acme_script,
    render_cloudflare_credentials,
)
from components.render.quoting import RenderValueError
from tests.components.render.conftest import assert_rejected
from tests.conftest import require_tool, run_tool

NAME = "webmail.example.net"
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_ab"


def _script(tmp_path: Path, challenge: str = "http-01") -> Path:
    script = tmp_path / "isp-acme"
    script.write_text(render_acme_script(
        name=NAME, email="hostmaster@example.net", challenge=challenge, cert_dir=str(tmp_path / "ssl"),
        script_path=str(script), webroot=str(tmp_path / "acme"), credentials_path="/etc/letsencrypt/cf.ini",
        letsencrypt_dir=str(tmp_path / "le")))
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
@pytest.mark.parametrize("challenge", ["http-01", "dns-01"])
def test_shells_accept_the_script(tmp_path, shell, challenge):
    result = run_tool(require_tool(shell), "-n", str(_script(tmp_path, challenge)))
    assert result.returncode == 0, result.stderr


def test_bootstrap_makes_a_short_lived_certificate_for_exactly_the_name_once(tmp_path):
    require_tool("openssl")
    script = _script(tmp_path)
    assert run_tool("sh", str(script), "bootstrap").returncode == 0
    chain = tmp_path / "ssl" / "fullchain.pem"
    certificate = x509.load_pem_x509_certificate(chain.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc <= datetime.timedelta(days=2)
    assert (tmp_path / "ssl" / "privkey.pem").stat().st_mode & 0o777 == 0o600
    # An installed certificate (bootstrap or real) is never replaced by the bootstrap.
    before = chain.read_bytes()
    assert run_tool("sh", str(script), "bootstrap").returncode == 0
    assert chain.read_bytes() == before


FAKE_CERTBOT = """#!/bin/sh
printf '%s\\n' "$@" > "$ISP_TEST/certbot.args"
mkdir -p "$ISP_TEST/le/live/webmail.example.net"
echo chain > "$ISP_TEST/le/live/webmail.example.net/fullchain.pem"
echo key > "$ISP_TEST/le/live/webmail.example.net/privkey.pem"
"""
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$ISP_TEST/calls"
"""


@pytest.mark.parametrize(("challenge", "method"), [
    ("http-01", ["--webroot", "--webroot-path", "{tmp}/acme"]),
    ("dns-01", ["--dns-cloudflare", "--dns-cloudflare-credentials", "/etc/letsencrypt/cf.ini",
                "--dns-cloudflare-propagation-seconds", "30"]),
])
def test_request_asks_for_exactly_the_name_and_deploys_it(tmp_path, challenge, method):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, text in (("certbot", FAKE_CERTBOT), ("nginx", RECORDER), ("systemctl", RECORDER)):
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    script = _script(tmp_path, challenge)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ISP_TEST": str(tmp_path)}
    result = subprocess.run(["sh", str(script), "request"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "certbot.args").read_text().splitlines()
    assert args == ["certonly", "--non-interactive", "--agree-tos", "--email", "hostmaster@example.net",
                    "--keep-until-expiring", "--cert-name", NAME,
                    *[word.format(tmp=tmp_path) for word in method], "-d", NAME, "--deploy-hook", f"{script} deploy"]
    assert (tmp_path / "acme").is_dir() == (challenge == "http-01")
    # deploy: nginx reads the live certificate through links, after `nginx -t`.
    live = tmp_path / "le" / "live" / NAME
    for pem in ("fullchain.pem", "privkey.pem"):
        assert os.readlink(tmp_path / "ssl" / pem) == str(live / pem)
    assert (tmp_path / "calls").read_text().splitlines() == ["nginx -t", "systemctl reload nginx"]


def test_deploy_without_a_live_certificate_fails(tmp_path):
    result = run_tool("sh", str(_script(tmp_path)), "deploy")
    assert result.returncode == 1 and "no certificate in" in result.stderr
    assert run_tool("sh", str(_script(tmp_path)), "frobnicate").returncode == 2


def test_script_refuses_injection():
    arguments = dict(name=NAME, email="a@example.net", challenge="http-01", cert_dir="/etc/ssl/isp/x",
                     script_path="/usr/local/sbin/x")
    for parameter in ("name", "email", "cert_dir", "script_path", "webroot", "letsencrypt_dir"):
        assert_rejected(render_acme_script, arguments, parameter)
    assert_rejected(render_acme_script, {**arguments, "challenge": "dns-01"}, "credentials_path")
    assert_rejected(render_acme_script, arguments, "challenge", ["tls-alpn-01", "http-01\n", None])


def test_cloudflare_credentials_never_show_the_token():
    assert render_cloudflare_credentials(TOKEN).endswith(f"dns_cloudflare_api_token = {TOKEN}\n")
    for bad in ("short", TOKEN + "\nother = 1", TOKEN + " x", None):
        with pytest.raises(RenderValueError) as raised:
            render_cloudflare_credentials(bad)
        assert str(bad) not in str(raised.value) and "[redacted" in str(raised.value)


# ---------------------------------------------------------------------------------------
# Provided certificates: the openssl checks the host runs before swapping the files in


def _pem(tmp_path: Path, label: str, names: list[str] | None, *, common_name: str = NAME, days: tuple = (-1, 30),
         key: ec.EllipticCurvePrivateKey | None = None) -> tuple[str, str]:
    own_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(own_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1])))
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert_path, key_path = tmp_path / f"{label}.pem", tmp_path / f"{label}.key"
    cert_path.write_bytes(builder.sign(own_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes((key or own_key).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _failing_checks(cert: str, key: str) -> list[str]:
    names = ["in-date", "names", "key"]
    return [names[i] for i, argv in enumerate(provided_certificate_checks(NAME, cert, key))
            if run_tool(*argv).returncode != 0]


def test_provided_certificate_checks(tmp_path):
    require_tool("openssl")
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert _failing_checks(*_pem(tmp_path, "good", [NAME])) == []
    assert _failing_checks(*_pem(tmp_path, "wildcard", ["*.example.net"])) == []
    assert _failing_checks(*_pem(tmp_path, "wrong-name", ["www.example.net"])) == ["names"]
    assert _failing_checks(*_pem(tmp_path, "deep-wildcard", ["*.webmail.example.net"])) == ["names"]
    assert _failing_checks(*_pem(tmp_path, "cn-only", None)) == ["names"]
    assert _failing_checks(*_pem(tmp_path, "expired", [NAME], days=(-30, -1))) == ["in-date"]
    assert _failing_checks(*_pem(tmp_path, "other-key", [NAME], key=other_key)) == ["key"]


def test_provided_checks_refuse_injection():
    arguments = dict(name=NAME, cert_path="/etc/ssl/a.pem", key_path="/etc/ssl/a.key")
    for parameter in arguments:
        assert_rejected(provided_certificate_checks, arguments, parameter)
