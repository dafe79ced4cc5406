"""The agent's DKIM check and the outside sink's raw copy: a signed message verifies, a changed one does not.

No root: dkimpy signs with a key made here, the key record comes from a stand-in for the lab's name
server, and the sink runs on the loopback in this process.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import threading

import dkim
import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import mailauth_agent
from lab.internet import SinkLog, _smtp_session
from lab.mailauth_setup import ensure_dkim_key

MESSAGE = (b"From: Lab User <labuser@isp.test>\r\nTo: <dkim@outside.test>\r\nSubject: probe\r\n"
           b"Message-ID: <1@lab>\r\n\r\nHello.\r\n.A line that SMTP dot-stuffs.\r\n")


@pytest.fixture
def signed(tmp_path, monkeypatch):
    """(message file, DNS records) for a message signed d=isp.test s=s2026a with the lab's own key maker."""
    monkeypatch.setattr(dns.resolver, "default_resolver", None)  # dkim_verify replaces it; put it back after
    key_file, public = ensure_dkim_key("s2026a", secrets_dir=tmp_path)
    signature = dkim.sign(MESSAGE, b"s2026a", b"isp.test", key_file.read_bytes(), include_headers=[b"from", b"to",
                                                                                                   b"subject"])
    records = {"s2026a._domainkey.isp.test": [f"v=DKIM1; k=rsa; p={public}"],
               "_dmarc.isp.test": ["v=DMARC1; p=reject; adkim=r; aspf=r"]}
    asked = []

    def txt(resolver, name):
        asked.append(name)
        return records.get(name, [])

    monkeypatch.setattr(mailauth_agent, "_txt", txt)
    path = tmp_path / "message.eml"
    path.write_bytes(signature + MESSAGE)
    return path, records, asked


def test_a_signed_message_verifies_against_the_published_key_and_finds_the_dmarc_record(signed):
    path, _, asked = signed
    result = mailauth_agent.dkim_verify(str(path), "198.51.100.53")
    [sig] = result["signatures"]
    assert (sig["d"], sig["s"], sig["verified"]) == ("isp.test", "s2026a", True)
    assert result["from_domain"] == "isp.test"
    assert result["dmarc"] == {"name": "_dmarc.isp.test", "records": ["v=DMARC1; p=reject; adkim=r; aspf=r"]}
    assert "s2026a._domainkey.isp.test" in asked


def test_a_changed_body_or_another_key_fails(signed):
    path, records, _ = signed
    path.write_bytes(path.read_bytes().replace(b"Hello.", b"Hullo."))
    assert mailauth_agent.dkim_verify(str(path), "198.51.100.53")["signatures"][0]["verified"] is False
    path.write_bytes(path.read_bytes().replace(b"Hullo.", b"Hello."))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    records["s2026a._domainkey.isp.test"] = [f"v=DKIM1; k=rsa; p={base64.b64encode(other).decode()}"]
    assert mailauth_agent.dkim_verify(str(path), "198.51.100.53")["signatures"][0]["verified"] is False


def test_an_unsigned_message_has_no_signature(tmp_path, monkeypatch):
    monkeypatch.setattr(dns.resolver, "default_resolver", None)
    monkeypatch.setattr(mailauth_agent, "_txt", lambda resolver, name: [])
    path = tmp_path / "plain.eml"
    path.write_bytes(MESSAGE)
    result = mailauth_agent.dkim_verify(str(path), "198.51.100.53")
    assert result["signatures"] == [] and "dmarc" not in result


def test_the_lab_resolver_asks_only_the_name_server_it_was_given(monkeypatch):
    monkeypatch.setattr(dns.resolver, "default_resolver", None)
    asked = []
    resolver = mailauth_agent._resolver("198.51.100.53", asked)
    assert resolver.nameservers == ["198.51.100.53"] and dns.resolver.default_resolver is resolver
    assert resolver.search == [] and resolver.domain == dns.name.root


def test_the_sink_keeps_each_message_as_received_with_dots_unstuffed(tmp_path):
    log = SinkLog(tmp_path / "sink.jsonl", tmp_path / "messages")
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(
        lambda r, w: _smtp_session("mx.outside.test ESMTP", 25, log, r, w), "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("labuser@isp.test", ["dkim@outside.test"], MESSAGE)  # smtplib stuffs the dot
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        server.close()
    [record] = [json.loads(line) for line in (tmp_path / "sink.jsonl").read_text().splitlines()
                if json.loads(line)["event"] == "message"]
    from pathlib import Path

    assert Path(record["raw_file"]).read_bytes() == MESSAGE  # RFC 5321 §4.5.2: the dot is the sender's, removed
    assert record["bytes"] == len(MESSAGE) and Path(record["raw_file"]).parent == tmp_path / "messages"
