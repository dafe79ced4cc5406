"""Lessons 4, 5 and 10 on the mail ports: FCrDNS, the banner, TLS and certificates, relay and submission,
each held and each broken as RFC 5321, 3207, 4954, 8314 and 6125 say (fakes on loopback)."""

from __future__ import annotations

import datetime
import socket

import pytest

import audit.checks  # noqa: F401 - registers the checks
from tests.audit.fakes import FakeSmtp, FakeTls
from tests.audit.mail_world import (
    LOOPBACK,
    MX_NAME,
    MX_V6,
    REVERSE_V6,
    Endpoint,
    expectation,
    good_zones,
    mail_certificate,
    one,
    run,
    text,
    world,
)

NOW = datetime.datetime.now(datetime.UTC)


def edited(changes: dict) -> dict:
    zones = good_zones()
    for key, value in changes.items():
        if value is None:
            zones.pop(key, None)
        else:
            zones[key] = value
    return zones


class _Renaming:
    """A socket whose EHLO greeting line names `name` instead of the fake's own `fake.test`."""

    def __init__(self, sock: socket.socket, name: str):
        self._sock, self._name = sock, name

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data.replace(b"fake.test greets you", self._name.encode()))

    def __getattr__(self, attribute):
        return getattr(self._sock, attribute)


class NamedSmtp(FakeSmtp):
    """FakeSmtp whose greeting and EHLO reply name `name` (plain: STARTTLS needs the real socket)."""

    def __init__(self, name: str = MX_NAME, *, ehlo_name: str | None = None, **options):
        super().__init__(banner=f"220 {name} ESMTP", starttls=False, **options)
        self.ehlo_name = ehlo_name or name

    def _dialogue(self, connection, secure):
        super()._dialogue(_Renaming(connection, self.ehlo_name), secure)


# ---------------------------------------------------------------------------------------- fcrdns

DUAL_STACK = expectation(mail_hosts=(Endpoint(MX_NAME, (LOOPBACK, MX_V6)),))


def test_fcrdns_holds_for_ipv4_and_ipv6():
    with world(expect=DUAL_STACK) as ctx:
        results = run("fcrdns", ctx)
    assert [(r.target, r.status) for r in results] == [(f"{MX_NAME} {LOOPBACK}", "PASS"),
                                                         (f"{MX_NAME} {MX_V6}", "PASS")], [text(r) for r in results]
    assert f"ip6.arpa. PTR +nord -> NOERROR {MX_NAME}" in text(results[1])


@pytest.mark.parametrize(("changes", "words"), [
    ({(REVERSE_V6, "PTR"): ["mail.other.example."]}, "names mail.other.example, not exactly mx.isp.test"),
    ({(REVERSE_V6, "PTR"): None}, "names nothing"),
    ({(MX_NAME, "AAAA"): ["2001:db8::99"]}, "does not give 2001:db8::25 back"),
    ({(REVERSE_V6, "PTR"): [f"{MX_NAME}.", "other.isp.test."]}, "not exactly"),
])
def test_fcrdns_broken(changes, words):
    with world(edited(changes), expect=DUAL_STACK) as ctx:
        result = one("fcrdns", ctx, MX_V6)
    assert result.status == "FAIL" and words in result.summary, text(result)


def test_fcrdns_without_an_answer_is_a_warning():
    with world(dns_behaviour="silent") as ctx:
        result = one("fcrdns", ctx)
    assert result.status == "WARN", text(result)


# ----------------------------------------------------------------------------------- smtp-banner


def test_banner_and_ehlo_name_the_ptr_name():
    with world(servers={25: NamedSmtp()}) as ctx:
        result = one("smtp-banner", ctx)
    assert result.status == "PASS", text(result)
    assert f"greeting: '220 {MX_NAME} ESMTP'" in text(result)


@pytest.mark.parametrize(("server", "words"), [
    (lambda: NamedSmtp("mail.other.example"), "the greeting names mail.other.example, not mx.isp.test"),
    (lambda: NamedSmtp(ehlo_name="localhost"), "the EHLO reply names localhost"),
    (lambda: FakeSmtp(banner="554 mx.isp.test no service"), "not 220"),
])
def test_banner_naming_another_host_fails(server, words):
    with world(servers={25: server()}) as ctx:
        result = one("smtp-banner", ctx)
    assert result.status == "FAIL" and words in result.summary, text(result)


def test_banner_silence_and_garbage():
    with world(servers={25: FakeSmtp(silent=True)}) as ctx:
        silent = one("smtp-banner", ctx)
    assert silent.status == "WARN", text(silent)
    with world(servers={25: FakeSmtp(garbage=True)}) as ctx:
        garbage = one("smtp-banner", ctx)
    assert garbage.status == "FAIL" and "no SMTP greeting" in garbage.summary, text(garbage)


# -------------------------------------------------------------------------------------- mail-tls


def tls_servers(certificate=None, *, starttls_25=True) -> dict:
    certificate = certificate or mail_certificate()
    return {25: FakeSmtp(certificate=certificate, starttls=starttls_25),
            587: FakeSmtp(certificate=certificate, ehlo_lines=("PIPELINING",), tls_ehlo_lines=("AUTH PLAIN",)),
            465: FakeSmtp(certificate=certificate, implicit_tls=True, ehlo_lines=("AUTH PLAIN",)),
            993: FakeTls(certificate, greeting=b"* OK IMAP ready\r\n")}


def test_mail_tls_on_every_port_with_a_good_certificate():
    with world(servers=tls_servers()) as ctx:
        results = run("mail-tls", ctx)
    assert [(r.target.rsplit(":", 1)[1], r.status) for r in results] == [
        ("25", "PASS"), ("587", "PASS"), ("465", "PASS"), ("993", "PASS")], [text(r) for r in results]
    assert all(f"names {MX_NAME}" in text(r) and "Audit Test CA" in text(r) for r in results)


def test_mail_tls_wrong_name_expired_and_expiring():
    with world(servers=tls_servers(mail_certificate(("webmail.isp.test",)))) as ctx:
        wrong = run("mail-tls", ctx)
    assert {r.status for r in wrong} == {"FAIL"} and all("does not name mx.isp.test" in r.summary for r in wrong)
    expired = mail_certificate(not_before=NOW - datetime.timedelta(days=100),
                               not_after=NOW - datetime.timedelta(days=1))
    with world(servers=tls_servers(expired)) as ctx:
        result = one("mail-tls", ctx, ":993")
    assert result.status == "FAIL" and "out of date" in result.summary, text(result)
    soon = mail_certificate(not_after=NOW + datetime.timedelta(days=5))
    with world(servers=tls_servers(soon)) as ctx:
        result = one("mail-tls", ctx, ":465")
    assert result.status == "WARN" and "expires in" in result.summary and "days left" in text(result), text(result)


def test_mail_tls_without_starttls_fails_and_silence_warns():
    with world(servers=tls_servers(starttls_25=False)) as ctx:
        result = one("mail-tls", ctx, ":25")
    assert result.status == "FAIL" and "does not offer STARTTLS" in result.summary, text(result)
    with world() as ctx:  # nothing listens anywhere
        results = run("mail-tls", ctx)
    assert {r.status for r in results} == {"WARN"}, [text(r) for r in results]


def test_mail_tls_untrusted_certificate_fails():
    from tests.audit.fakes import make_certificate

    with world(servers=tls_servers(make_certificate([MX_NAME]))) as ctx:  # self-signed: not the tests' CA
        result = one("mail-tls", ctx, ":587")
    assert result.status == "FAIL" and "does not verify" in result.summary, text(result)


# --------------------------------------------------------------------------------- no-open-relay


def test_relay_refused_passes_and_never_sends_data():
    server = FakeSmtp(rcpt_code=554)
    with world(servers={25: server}) as ctx:
        result = one("no-open-relay", ctx)
    assert result.status == "PASS", text(result)
    assert "RCPT TO:<relay-test@example.com>" in server.commands
    assert not any(c.upper().startswith("DATA") for c in server.commands)


@pytest.mark.parametrize(("code", "status"), [(250, "FAIL"), (451, "WARN")])
def test_relay_accepted_fails_and_deferred_warns(code, status):
    server = FakeSmtp(rcpt_code=code)
    with world(servers={25: server}) as ctx:
        result = one("no-open-relay", ctx)
    assert result.status == status, text(result)
    assert not any(c.upper().startswith("DATA") for c in server.commands)


class _RefusingMail(_Renaming):
    """Every `250 ok` (MAIL FROM, RSET) becomes 550: a server that will not take the sender's domain."""

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data.replace(b"250 2.0.0 ok", b"550 5.7.1 sender refused"))


class RefusingSender(FakeSmtp):
    def _dialogue(self, connection, secure):
        super()._dialogue(_RefusingMail(connection, "fake.test"), secure)


def test_relay_not_asked_when_mail_from_is_refused():
    server = RefusingSender()
    with world(servers={25: server}) as ctx:
        result = one("no-open-relay", ctx)
    assert result.status == "WARN" and "not asked" in result.summary, text(result)
    assert not any(c.upper().startswith("RCPT") for c in server.commands)


def test_relay_silence_warns():
    with world(servers={25: FakeSmtp(silent=True)}) as ctx:
        assert one("no-open-relay", ctx).status == "WARN"


# ------------------------------------------------------------------------------- submission-auth


def test_submission_offers_auth_only_under_tls():
    with world(servers=tls_servers()) as ctx:
        results = run("submission-auth", ctx)
    assert [r.status for r in results] == ["PASS", "PASS"], [text(r) for r in results]


def test_submission_auth_in_clear_fails():
    servers = tls_servers()
    servers[587] = FakeSmtp(certificate=mail_certificate(), ehlo_lines=("AUTH PLAIN LOGIN",))
    with world(servers=servers) as ctx:
        result = one("submission-auth", ctx, ":587")
    assert result.status == "FAIL" and "AUTH before TLS" in result.summary, text(result)


def test_submission_without_auth_or_starttls_fails():
    servers = tls_servers()
    servers[587] = FakeSmtp(certificate=mail_certificate())  # STARTTLS, but no AUTH after it
    with world(servers=servers) as ctx:
        result = one("submission-auth", ctx, ":587")
    assert result.status == "FAIL" and "no AUTH under TLS" in result.summary, text(result)
    servers = tls_servers()
    servers[587] = FakeSmtp(starttls=False)
    with world(servers=servers) as ctx:
        result = one("submission-auth", ctx, ":587")
    assert result.status == "FAIL" and "no STARTTLS" in result.summary, text(result)
