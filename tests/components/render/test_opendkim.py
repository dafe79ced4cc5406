"""OpenDKIM's files: the formats of opendkim.conf(5), and Debian's opendkim run on loopback with them,
signing a message handed over the milter protocol as Postfix hands it, verified by dkimpy (an independent
verifier) against the TXT record the stack publishes (RFC 6376 §3.6.1; RFC 8463 §4.2 for ed25519)."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from components.render.opendkim import (
    SigningKey,
    render_key_table,
    render_opendkim_conf,
    render_signing_table,
    render_trusted_hosts,
)
from components.render.quoting import RenderValueError
from tests.components.render.milter_client import Envelope, MilterClient

dkim = pytest.importorskip("dkim")

DOMAIN = "isp.test"
OTHER_DOMAIN = "customer.test"


def _conf(keys=None, **kw) -> str:
    keys = [SigningKey("s2026a")] if keys is None else keys
    return render_opendkim_conf(hostname_fqdn="mail.isp.test", signing_keys=list(keys), **kw)


def _parameters(conf: str) -> dict[str, str]:
    """opendkim.conf(5): comment from `#`, then a name, white space and the value."""
    lines = (line.split("#", 1)[0].strip() for line in conf.splitlines())
    return dict(line.split(None, 1) for line in lines if line)


# -- the formats ---------------------------------------------------------------------------------------


def test_the_conf_signs_and_verifies_on_loopback_with_the_tables_as_the_manual_spells_them():
    params = _parameters(_conf())
    assert params["Mode"] == "sv"
    assert params["Socket"] == "inet:8891@localhost"
    assert params["KeyTable"] == "/etc/opendkim/key.table"
    assert params["SigningTable"] == "refile:/etc/opendkim/signing.table"
    assert params["InternalHosts"] == params["ExternalIgnoreList"] == "/etc/opendkim/trusted.hosts"
    assert params["UserID"] == "opendkim" and params["PidFile"] == "/run/opendkim/opendkim.pid"
    assert "MultipleSignatures" not in params  # one key: one signature


def test_the_tables_map_every_domain_to_the_signing_key():
    keys = [SigningKey("s2026a")]
    table = render_key_table(domains=[DOMAIN, OTHER_DOMAIN], signing_keys=keys)
    rows = [line.split() for line in table.splitlines() if not line.startswith("#")]
    assert rows == [["s2026a._domainkey.isp.test", "isp.test:s2026a:/etc/dkimkeys/s2026a.private"],
                    ["s2026a._domainkey.customer.test", "customer.test:s2026a:/etc/dkimkeys/s2026a.private"]]
    signing = render_signing_table(domains=[DOMAIN, OTHER_DOMAIN], signing_keys=keys)
    rows = [line.split() for line in signing.splitlines() if not line.startswith("#")]
    assert rows == [["*@isp.test", "s2026a._domainkey.isp.test"],
                    ["*@customer.test", "s2026a._domainkey.customer.test"]]


def test_trusted_hosts_are_loopback_and_our_server_networks():
    text = render_trusted_hosts(networks=["10.0.10.0/24", "2001:DB8:10::/64"])
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "127.0.0.1", "::1", "10.0.10.0/24", "2001:db8:10::/64"]  # lowercase IPv6: opendkim.conf(5) PeerList


@pytest.mark.parametrize(("call", "parameter"), [
    (lambda: _conf([SigningKey("s1\nKeyFile /tmp/x")]), "signing_keys[0].selector"),
    (lambda: _conf([SigningKey("s1 #")]), "signing_keys[0].selector"),
    (lambda: _conf([SigningKey("s1:x")]), "signing_keys[0].selector"),
    (lambda: _conf([SigningKey("s1"), SigningKey("s2")]), "signing_keys"),
    # Debian's opendkim 2.11 signs every key with one SignatureAlgorithm: rsa only (see the module).
    (lambda: _conf([SigningKey("s1"), SigningKey("e1", "ed25519")]), "signing_keys[1].algorithm"),
    (lambda: _conf([SigningKey("e1", "ed25519")]), "signing_keys[0].algorithm"),
    (lambda: _conf([SigningKey("s1", "dsa")]), "signing_keys[0].algorithm"),
    (lambda: _conf([]), "signing_keys"),
    (lambda: _conf(key_table="/etc/x y"), "key_table"),
    (lambda: render_opendkim_conf(hostname_fqdn="mail\n.isp.test", signing_keys=[SigningKey("s1")]),
     "hostname_fqdn"),
    (lambda: render_key_table(domains=["isp.test\nx y:z:/k"], signing_keys=[SigningKey("s1")]), "domains[0]"),
    (lambda: render_key_table(domains=[], signing_keys=[SigningKey("s1")]), "domains"),
    (lambda: render_signing_table(domains=["isp.test", "isp.test"], signing_keys=[SigningKey("s1")]), "domains"),
    (lambda: render_key_table(domains=["isp.test"], signing_keys=[SigningKey("s1")], keys_dir="keys"), "keys_dir"),
    (lambda: render_trusted_hosts(networks=["10.0.0.0/8 #"]), "networks[0]"),
    (lambda: render_trusted_hosts(networks="10.0.0.0/8"), "networks"),
])
def test_a_value_that_would_break_a_line_is_refused_naming_its_parameter(call, parameter):
    with pytest.raises(RenderValueError) as caught:
        call()
    assert caught.value.parameter == parameter


# -- Debian's opendkim, for real ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _public_key(private_pem: bytes, algorithm: str) -> str:
    """The p= the stack publishes: rsa the DER SubjectPublicKeyInfo, ed25519 the raw 32 bytes (RFC 8463 §4.2)."""
    key = serialization.load_pem_private_key(private_pem, password=None).public_key()
    if algorithm == "ed25519":
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode()


class RunningOpenDkim:
    def __init__(self, directory: Path, port: int, records: dict[str, str]) -> None:
        self.directory, self.port, self.records = directory, port, records

    def sign(self, envelope: Envelope) -> list[tuple[str, str]]:
        client = MilterClient(self.port)
        try:
            return client.send(envelope)
        finally:
            client.close()

    def dns(self, name: bytes, timeout: float = 5) -> bytes | None:
        return self.records.get(name.decode().rstrip("."), "").encode() or None


def _message(added: list[tuple[str, str]], envelope: Envelope) -> bytes:
    """The message as the MTA passes it on: the filter's headers on top, CRLF line ends."""
    headers = [*added, *envelope.headers]
    text = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + envelope.body
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


@pytest.fixture(scope="module")
def opendkim() -> Iterator[RunningOpenDkim]:
    if shutil.which("opendkim") is None or shutil.which("openssl") is None:
        pytest.skip("needs Debian's opendkim and openssl")
    if os.geteuid() != 0:
        pytest.skip("opendkim drops to the opendkim user (UserID): needs root")
    try:
        user = pwd.getpwnam("opendkim")
    except KeyError:
        pytest.skip("no opendkim user")
    # Not under pytest's tmp_path (root's 0700: the opendkim user must reach the keys) nor /tmp: with
    # RequireSafeKeys opendkim refuses a key below a directory others may write ("key data is not secure").
    directory = Path(tempfile.mkdtemp(prefix="isp-opendkim-", dir="/run"))
    try:
        yield from _start(directory, user)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start(directory: Path, user: pwd.struct_passwd) -> Iterator[RunningOpenDkim]:
    """opendkim with our files and an rsa 2048 key from `openssl genpkey`; the TXT records the stack publishes."""
    keys = [SigningKey("s2026a", "rsa")]
    pem = directory / "s2026a.private"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pem)],
                   check=True, capture_output=True)
    records = {f"s2026a._domainkey.{domain}": f"v=DKIM1; k=rsa; p={_public_key(pem.read_bytes(), 'rsa')}"
               for domain in (DOMAIN, OTHER_DOMAIN)}
    port = _free_port()
    files = {
        "opendkim.conf": render_opendkim_conf(
            hostname_fqdn="mail.isp.test", signing_keys=keys, key_table=str(directory / "key.table"),
            signing_table=str(directory / "signing.table"), trusted_hosts=str(directory / "trusted.hosts"),
            port=port),
        "key.table": render_key_table(domains=[DOMAIN, OTHER_DOMAIN], signing_keys=keys, keys_dir=str(directory)),
        "signing.table": render_signing_table(domains=[DOMAIN, OTHER_DOMAIN], signing_keys=keys),
        "trusted.hosts": render_trusted_hosts(networks=["10.0.10.0/24"]),
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    for path in [directory, *directory.iterdir()]:
        os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o700 if path.is_dir() else 0o600)  # RequireSafeKeys: owner-only keys
    daemon = subprocess.Popen(["opendkim", "-f", "-x", str(directory / "opendkim.conf"), "-P",
                               str(directory / "opendkim.pid")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:  # ready when the milter port accepts connections
            assert daemon.poll() is None, daemon.stdout.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "opendkim did not listen within 20 s"
                time.sleep(0.05)
        yield RunningOpenDkim(directory, port, records)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _envelope(client: str, sender: str, auth_user: str | None = None) -> Envelope:
    return Envelope(
        client_address=client, sender=sender, recipient="friend@example.org", auth_user=auth_user,
        headers=[("From", f"Alice <{sender}>"), ("To", "friend@example.org"), ("Subject", "DKIM test"),
                 ("Date", "Sun, 06 Dec 2026 04:00:00 +0000"), ("Message-ID", "<dkim-test@isp.test>")],
        body="Hello,\r\nsigned by OpenDKIM.\r\n",
    )


def _signatures(added: list[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for name, value in added:
        if name.lower() == "dkim-signature":
            tags = (tag.strip().split("=", 1) for tag in "".join(value.split()).split(";") if tag.strip())
            out.append({k: v for k, v in tags})
    return out


@pytest.mark.parametrize(("client", "auth_user", "sender"), [
    ("127.0.0.1", None, "alice@isp.test"),          # InternalHosts: loopback (the web host's pickup, cron)
    ("10.0.10.25", None, "alice@isp.test"),          # InternalHosts: our server network
    ("198.51.100.7", "alice", "alice@isp.test"),     # a customer, authenticated (SMTP AUTH)
    ("198.51.100.7", "bob", "bob@customer.test"),    # a hosted customer domain
], ids=["loopback", "server-network", "authenticated", "hosted-domain"])
def test_opendkim_signs_our_mail_and_dkimpy_verifies_it_against_the_published_txt(opendkim, client, auth_user,
                                                                                  sender):
    envelope = _envelope(client, sender, auth_user)
    added = opendkim.sign(envelope)
    [signature] = _signatures(added)
    # RFC 7489 §3.1.1: d= is the From: domain, so DKIM aligns strictly as well as relaxed.
    assert (signature["a"], signature["d"], signature["s"]) == ("rsa-sha256", sender.split("@")[1], "s2026a")
    assert "from" in signature["h"].lower().split(":")
    assert dkim.verify(_message(added, envelope), dnsfunc=opendkim.dns)


def test_a_signature_against_a_different_published_key_fails_to_verify(opendkim):
    envelope = _envelope("127.0.0.1", "alice@isp.test")
    added = opendkim.sign(envelope)
    wrong = RunningOpenDkim(opendkim.directory, opendkim.port, {
        name: record.replace(record.split("p=")[1], _public_key(_other_rsa_key(), "rsa"))
        for name, record in opendkim.records.items()})
    assert not dkim.verify(_message(added, envelope), dnsfunc=wrong.dns)


def _other_rsa_key() -> bytes:
    return subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                          check=True, capture_output=True).stdout


@pytest.mark.parametrize(("client", "auth_user", "sender"), [
    ("198.51.100.7", None, "alice@isp.test"),         # not ours, not logged in: relayed mail is never signed
    ("127.0.0.1", None, "someone@elsewhere.example"),  # not one of our domains: no SigningTable line
    ("198.51.100.7", "alice", "alice@sub.isp.test"),   # `*@isp.test` does not cover subdomains
], ids=["unauthenticated-outsider", "foreign-domain", "subdomain"])
def test_opendkim_signs_nothing_else(opendkim, client, auth_user, sender):
    assert _signatures(opendkim.sign(_envelope(client, sender, auth_user))) == []


def test_opendkim_accepts_the_rendered_conf_and_refuses_a_broken_one(opendkim, tmp_path):
    conf = (opendkim.directory / "opendkim.conf").read_text()
    ok = subprocess.run(["opendkim", "-n", "-x", "/dev/stdin"], input=conf, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = conf.replace(str(opendkim.directory / "key.table"), str(tmp_path / "missing.table"))
    bad = subprocess.run(["opendkim", "-n", "-x", "/dev/stdin"], input=broken, capture_output=True, text=True)
    assert bad.returncode != 0 and "missing.table" in bad.stderr
