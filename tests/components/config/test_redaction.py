"""What a message may show of a value: secrets never, addresses and names always."""

from __future__ import annotations

import base64
import random
import secrets
import string
import uuid

import pytest

from components.config.redaction import looks_secret, printable, scrub, secret_name, shown

# Key material as operators paste it: an OpenSSH key, a PKCS#8 key (ssh-keygen(1), RFC 7468).
OPENSSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDdHVoQk1OYkWnE8pA1ySgNmC9W4hvxEzD9AXYk2Dm1rQAAAJj6aO9Z+mjv\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
PKCS8_BODY = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTmUxQ2t5c2VjcmV0"
CLOUDFLARE_TOKEN = "Zq3xY7Kp1mN8vB2cL5tR9wE4uI6oA0sD_fGhJkLz"  # 40 characters, as Cloudflare issues them

rng = random.Random(13)


def random_tokens() -> list[str]:
    """Secrets as services issue them: URL-safe, hex, base64, GitHub-style, UUID API keys."""
    alphabet = string.ascii_letters + string.digits
    return (
        [secrets.token_urlsafe(30) for _ in range(50)]
        + [secrets.token_hex(20) for _ in range(50)]
        + [base64.b64encode(secrets.token_bytes(30)).decode() for _ in range(50)]
        + ["ghp_" + "".join(rng.choice(alphabet) for _ in range(36)) for _ in range(50)]
        + [str(uuid.uuid4()) for _ in range(20)]
    )


@pytest.mark.parametrize("name", [
    "sshPrivateKey", "webmailTlsKey", "acmeCloudflareToken", "password", "db_password", "dbPass", "apiKey",
    "AWS_SECRET_ACCESS_KEY", "auth", "credentials", "certificatePem", "clientSecret", "passphrase",
])
def test_secret_looking_names(name):
    assert secret_name(name)


@pytest.mark.parametrize("name", [
    "privateAddress", "sshKeyConfig", "keyFile", "tokenName", "name", "content", "zones", "hosts", "author",
    "publicAddress6", "backupDir", "key_table", "signingTable", "",
])
def test_names_that_only_refer_to_a_secret_or_are_plain(name):
    assert not secret_name(name)


def test_random_tokens_look_secret():
    tokens = random_tokens()
    missed = [t for t in tokens if not looks_secret(t)]
    # Mixed-case and hex tokens are caught (a few short lowercase-only ones may not be: names catch those).
    assert len(missed) <= len(tokens) // 50, missed


@pytest.mark.parametrize("plain", [
    "mail.example.net", "hostmaster@example.org", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "203.0.113.0/24",
    "fe80::1%eth0", "ns1-203-0-113-11.lab.pool.example.org", "/etc/bind/isp-staging/named.conf",
    "dialupMessageSizeLimitMb", "urn:pulumi:prod::isp::isp:dns:DnsZone$cloudflare:index/zone:Zone::example.net",
    "https://www.rfc-editor.org/rfc/rfc7208", "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8::/32 -all",
    "{kind}-{a}-{b}-{c}-{d}.{name}.pool.{domain}", "isp:zones[0].records[12].content", "ns1;reboot",
    "root$(id)", "Brookfield Valley Internet (dev)", "*-*-* 02:30:00",
])
def test_addresses_names_and_paths_do_not(plain):
    assert not looks_secret(plain)
    assert shown(plain) == f'"{plain}"'


def test_pem_blocks_look_secret_whole_or_cut():
    assert looks_secret(OPENSSH_KEY)
    assert looks_secret(OPENSSH_KEY[:60])
    assert looks_secret("-----BEGIN PRIVATE KEY-----")


def test_shown_redacts_secret_keys_names_and_content_but_gives_the_size():
    assert shown("hunter2", secret=True) == "[redacted: 7 characters]"
    assert shown("hunter2", name="dbPassword") == "[redacted: 7 characters]"
    assert shown(OPENSSH_KEY) == f"[redacted: {len(OPENSSH_KEY)} characters]"
    assert shown(CLOUDFLARE_TOKEN, name="zonesFrom") == "[redacted: 40 characters]"
    assert shown(["a.yaml", CLOUDFLARE_TOKEN]) == '["a.yaml", "[redacted: 40 characters]"]'
    assert shown({"a": 1}, secret=True) == "[redacted: an object of 1 keys]"
    assert shown("10.30.0.999", name="privateAddress") == '"10.30.0.999"'


def test_shown_redacts_under_secret_names_at_any_depth():
    value = {"user": "bob", "auth": {"user": "bob", "password": "x"}, "hosts": [{"apiToken": "t0k3n"}]}
    text = shown(value)
    assert '"user": "bob"' in text
    assert "t0k3n" not in text and '"x"' not in text
    assert '"auth": "[redacted: an object of 2 keys]"' in text


def test_shown_is_one_line_and_short():
    text = shown("a\nb\u2028c\x1b[2J" + "x" * 500)
    assert "\n" not in text and "\x1b" not in text and "\u2028" not in text
    assert len(text) <= 120


@pytest.mark.parametrize(("text", "kept", "gone"), [
    # Renderers and Python write values as reprs: parameter='value'.
    ("password='hunter2': must be letters", "password=[redacted: 7 characters]: must be letters", "hunter2"),
    ('{"token": "abc", "user": "bob"}', '"user": "bob"', '"abc"'),
    (f"token={CLOUDFLARE_TOKEN} rest", "rest", CLOUDFLARE_TOKEN),
    (f"cannot parse '{OPENSSH_KEY!r}' here", "here", "b3BlbnNzaC1rZXkt"),
    (f"invalid literal for int() with base 10: '{PKCS8_BODY}'", "invalid literal for int()", PKCS8_BODY),
    ("sshKeyConfig='zones': names the setting zones", "sshKeyConfig='zones'", "redacted"),
    ("isp:hosts[2].publicAddress6 = \"2001:db8::1%eth0\": bad", "2001:db8::1%eth0", "redacted"),
])
def test_scrub_free_text(text, kept, gone):
    out = scrub(text)
    assert kept in out, out
    assert gone not in out, out


def test_scrub_cuts_a_pem_block_without_end_at_its_string():
    text = "value '-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA' is not a mail address"
    assert scrub(text) == "value '[redacted: 49 characters]' is not a mail address"


def test_printable_escapes_what_could_forge_or_hide_a_line():
    text = "a\x1b[31mred\u202eevil\u2028line\u0000\ud800\tkept\nkept"
    out = printable(text)
    for char in ("\x1b", "\u202e", "\u2028", "\x00", "\ud800"):
        assert char not in out
    assert "\\u001b" in out and "\\u202e" in out and "\tkept\nkept" in out
