"""audit/checks/customer.py against loopback fakes: the audit as run from a customer line."""

from __future__ import annotations

import contextlib
import socket

import pytest
from context_builder import SILENCE_TIMEOUT, Endpoint, context, expectation, results
from fakes import FakeDns, FakeSmtp, fake_ca, make_certificate

from audit.checks.customer import own_mail_reachable, port25_blocked, recursion_offered

NS, MAIL, OUTSIDE_MX = "127.0.0.53", "127.0.0.25", "127.0.0.26"
MAIL_NAME = "mx1.example.net"
MAIL_HOST = Endpoint(MAIL_NAME, (MAIL,))
OUTSIDE_NAME = "www.outside.test"
SOA = "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 300"


def _closed_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _ctx(ports, **options):
    expect = expectation(name_servers=[Endpoint("ns1.example.net", (NS,))], mail_hosts=[MAIL_HOST],
                         bind_zones=["example.net"])
    return context(expect, ports=ports, extra=[OUTSIDE_MX], resolver=object(), vantage="customer",
                   outside_name=OUTSIDE_NAME, cafile=fake_ca().cafile, **options)


# ----------------------------------------------------------------------------------------- port25-blocked

def test_port25_reachable_outside_fails_with_the_banner():
    with FakeSmtp("220 mx.outside.test ESMTP", host=OUTSIDE_MX) as outside:
        [result] = results(port25_blocked, _ctx(outside.ports(25), outside_smtp=OUTSIDE_MX))
    assert (result.status, result.target) == ("FAIL", f"{OUTSIDE_MX}:25")
    assert "mx.outside.test" in result.summary and "220 mx.outside.test ESMTP" in result.evidence[0]


def test_port25_refused_passes():
    [result] = results(port25_blocked, _ctx({25: _closed_port(OUTSIDE_MX)}, outside_smtp=OUTSIDE_MX))
    assert result.status == "PASS" and "refused" in result.summary


def test_port25_without_outside_smtp_is_not_checked():
    [result] = results(port25_blocked, _ctx({}))
    assert result.status == "WARN" and "--outside-smtp" in result.summary


def test_port25_given_a_name_is_not_checked():
    [result] = results(port25_blocked, _ctx({}, outside_smtp="mx.outside.test"))
    assert result.status == "WARN" and "not an address" in result.summary


# ------------------------------------------------------------------------------------- own-mail-reachable

CERTIFICATE = make_certificate([MAIL_NAME], ca=fake_ca())


@contextlib.contextmanager
def _mail(smtp=None, submission=None, smtps=None):
    """Our mail host: 25, 587 and 465 behaving well unless a FakeSmtp's keywords are given."""
    banner = f"220 {MAIL_NAME} ESMTP"
    p587_options = {"ehlo_lines": ("PIPELINING",), "tls_ehlo_lines": ("AUTH PLAIN",), "certificate": CERTIFICATE,
                    **(submission or {})}
    p465_options = {"ehlo_lines": ("AUTH PLAIN",), "implicit_tls": True, "starttls": False,
                    "certificate": CERTIFICATE, **(smtps or {})}
    with FakeSmtp(banner, **(smtp or {}), host=MAIL) as port25, FakeSmtp(banner, **p587_options, host=MAIL) as p587, \
            FakeSmtp(banner, **p465_options, host=MAIL) as p465:
        yield {**port25.ports(25), **p587.ports(587), **p465.ports(465)}, p587


def test_mail_host_reachable_on_every_port_passes():
    with _mail() as (ports, p587):
        [result] = results(own_mail_reachable, _ctx(ports))
    assert (result.status, result.target) == ("PASS", f"{MAIL_NAME} {MAIL}")
    assert result.summary.startswith(f"25: 220 {MAIL_NAME}") and "587: STARTTLS" in result.summary
    assert "465: TLS" in result.summary
    assert not any(c.startswith(("AUTH", "DATA", "MAIL")) for c in p587.commands)  # only looks


def test_auth_before_starttls_fails():
    with _mail(submission={"ehlo_lines": ("AUTH PLAIN LOGIN",)}) as (ports, _):
        [result] = results(own_mail_reachable, _ctx(ports))
    assert result.status == "FAIL" and "587: AUTH offered before STARTTLS" in result.summary
    assert any("AUTH PLAIN LOGIN" in line for line in result.evidence)


def test_no_starttls_on_587_fails():
    with _mail(submission={"starttls": False}) as (ports, _):
        [result] = results(own_mail_reachable, _ctx(ports))
    assert result.status == "FAIL" and "587: STARTTLS not offered" in result.summary


def test_no_auth_after_tls_fails():
    with _mail(submission={"tls_ehlo_lines": ("PIPELINING",)}) as (ports, _):
        [result] = results(own_mail_reachable, _ctx(ports))
    assert result.status == "FAIL" and "no AUTH offered over TLS" in result.summary


def test_port25_refused_from_the_customer_line_fails():
    with _mail() as (ports, _):
        [result] = results(own_mail_reachable, _ctx({**ports, 25: _closed_port(MAIL)}))
    assert result.status == "FAIL" and "25: refused" in result.summary


@pytest.mark.parametrize(("broken", "status", "text"), [
    ({"submission": {"silent": True}}, "WARN", "587: no SMTP session (no greeting: timeout"),
    ({"smtps": {"garbage": True}}, "FAIL", "465: no SMTP session"),
    ({"smtp": {"silent": True}}, "WARN", "25: connected, but no greeting"),
    ({"smtp": {"garbage": True}}, "FAIL", "25: no 220 greeting"),
])
def test_silence_warns_and_garbage_fails(broken, status, text):
    with _mail(**broken) as (ports, _):
        [result] = results(own_mail_reachable, _ctx(ports, timeout=SILENCE_TIMEOUT))
    assert result.status == status and text in result.summary


def test_submission_certificate_is_not_judged_here():
    with _mail(smtps={"certificate": make_certificate([MAIL_NAME])}) as (ports, _):  # self-signed
        [result] = results(own_mail_reachable, _ctx(ports))
    assert result.status == "PASS"


# -------------------------------------------------------------------------------------- recursion-offered

def _quick_if_silent(fake: dict) -> dict:
    return {"timeout": SILENCE_TIMEOUT} if fake.get("behaviour") == "silent" else {}


@pytest.mark.parametrize(("fake", "status", "text"), [
    ({"refuse_recursion": False}, "PASS", "NXDOMAIN with RA"),
    ({"refuse_recursion": True}, "FAIL", "customers get no recursion"),
    ({"refuse_recursion": False, "rcodes": {OUTSIDE_NAME: "SERVFAIL"}}, "WARN", "SERVFAIL with RA"),
    ({"behaviour": "silent"}, "WARN", "no answer"),
])
def test_recursion_offered(fake, status, text):
    with FakeDns({("example.net", "SOA"): [SOA]}, host=NS, **fake) as ns:
        [result] = results(recursion_offered, _ctx(ns.ports(53), **_quick_if_silent(fake)))
    assert (result.status, result.target) == (status, f"ns1.example.net {NS}")
    assert text in result.summary and f"{OUTSIDE_NAME}. A +rd" in result.evidence[0]


def test_recursion_offered_with_data_passes():
    zone = {("example.net", "SOA"): [SOA], (OUTSIDE_NAME, "A"): ["192.0.2.7"]}
    with FakeDns(zone, origins=["example.net"], refuse_recursion=False, host=NS) as ns:
        [result] = results(recursion_offered, _ctx(ns.ports(53)))
    assert result.status == "PASS" and "192.0.2.7" in result.evidence[0]
