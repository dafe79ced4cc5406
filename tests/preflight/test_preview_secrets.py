"""Secrets through `python -m preflight preview`: `secure:` values preview, and no error shows one.

preflight cannot decrypt `secure:` values, so where these tests need a program to hold a real secret
(as it does under the CLI), they write it in plain text: the program then sees exactly what the CLI
would hand it decrypted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from preflight.stackconfig import placeholder_for
from tests.conftest import REPO, project_copy, run_preflight

STACK = "dev"
CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ=:Y2xvdWRmbGFyZS10b2tlbi1jaXBoZXJ0ZXh0"
DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDdHVoQk1OYkWnE8pA1ySgNmC9W4hvxEzD9AXYk2Dm1rQAAAJj6aO9Z+mjv\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
TOKEN = "Zq3xY7Kp1mN8vB2cL5tR9wE4uI6oA0sD_fGhJkLz"
LEAKS = ("b3BlbnNzaC1rZXkt", "AAAAJj6aO9Z", TOKEN, TOKEN[:16], CIPHERTEXT)


def everything(result: subprocess.CompletedProcess, document: dict, build: Path) -> str:
    """All a CI log or artifact would hold: output, the JSON and every file written."""
    files = [p.read_text(errors="replace") for p in build.rglob("*") if p.is_file()] if build.exists() else []
    return "\n".join([result.stdout, result.stderr, json.dumps(document), *files])


def assert_no_leak(text: str) -> None:
    for fragment in LEAKS:
        assert fragment not in text


def _acme_dns01(config: dict) -> None:
    config["isp:webmail"] = {"certificate": {"source": "acme", "challenge": "dns-01"}}
    config["isp:acmeCloudflareToken"] = {"secure": CIPHERTEXT}
    config.pop("isp:webmailTlsKey", None)


def test_a_webmail_certificate_by_acme_dns01_with_a_secure_token_previews(tmp_path):
    project = project_copy(tmp_path, STACK, _acme_dns01)
    result, document = run_preflight(project, STACK, tmp_path, "--policy-pack", str(REPO / "policies"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    names = {r["name"]: r for r in document["resources"]}
    credentials = names["www-webmail-certificate-cloudflare-isp-cloudflare.ini"]
    assert credentials["inputs"]["source"] == "[secret]"
    assert document["violations"] == []
    text = everything(result, document, tmp_path / "build")
    assert_no_leak(text)
    assert placeholder_for("isp:acmeCloudflareToken") not in text
    assert not list((tmp_path / "build").rglob("isp-cloudflare.ini"))  # a secret's file is never written


@pytest.mark.parametrize(("case", "mutate", "expected"), [
    ("a mistyped secret key, decrypted", lambda c: c.update({"isp:sshPrivatKey": DEPLOY_KEY}),
     "isp:sshPrivatKey is not a known setting (did you mean sshPrivateKey?) (value [redacted"),
    ("a mistyped secure key", lambda c: c.update({"isp:sshPrivatKey": {"secure": CIPHERTEXT}}),
     "isp:sshPrivatKey is a secret that no setting reads (did you mean sshPrivateKey?)"),
    ("a token in a wrong place", lambda c: c["isp:hosts"][0].update(sshUser=TOKEN),
     "isp:hosts[0].sshUser = [redacted: 40 characters]"),
    ("a secure value nested in hosts", lambda c: c["isp:hosts"][0].update(sshUser={"secure": CIPHERTEXT}),
     "isp:hosts holds a secure value; secrets belong in keys of their own"),
    ("sshKeyConfig naming zones", lambda c: c["isp:hosts"][0].update(sshKeyConfig="zones"),
     'isp:hosts[0].sshKeyConfig = "zones": names the setting zones'),
])
def test_a_config_error_never_shows_a_secret(tmp_path, case, mutate, expected):
    project = project_copy(tmp_path, STACK, mutate)
    result, document = run_preflight(project, STACK, tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_leak(everything(result, document, tmp_path / "build"))


def test_a_program_exception_quoting_a_secret_is_scrubbed(tmp_path):
    """A library error that quotes its input (as a renderer's `{value!r}` does) holding a decrypted key."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: leaky\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text(json.dumps({"config": {"leaky:deployKey": DEPLOY_KEY,
                                                                    "leaky:token": TOKEN}}))
    (program / "__main__.py").write_text(textwrap.dedent("""\
        import pulumi
        cfg = pulumi.Config()
        pulumi.log.warn(f"token={cfg.require('token')}")
        raise ValueError(f"host={cfg.require('deployKey')!r}: must be a host name; password={cfg.require('token')}")
    """))
    result = subprocess.run([sys.executable, "-m", "preflight", "preview", "--stack", "dev", "--cwd", str(program),
                             "--json", str(tmp_path / "out.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "ValueError: host='[redacted:" in result.stderr and "must be a host name" in result.stderr
    assert "(at __main__.py:4)" in result.stderr
    assert_no_leak(result.stdout + result.stderr + (tmp_path / "out.json").read_text())
