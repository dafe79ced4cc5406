"""audit/net.py against the loopback fakes: answers become facts, trouble becomes an error fact within
timeout x tries, and nothing outside the allowlist is ever contacted."""

from __future__ import annotations

import datetime
import socket
import time

import pytest

from audit.net import BODY_LIMIT, Net
from tests.audit.fakes import FakeDns, FakeHttp, FakeHttps, FakeSmtp, FakeTls, fake_ca, make_certificate

LOOPBACK = "127.0.0.1"
TIMEOUT = 0.4
NOW = datetime.datetime.now(datetime.UTC)
ZONES = {
    ("example.com", "SOA"): ["ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300"],
    ("www.example.com", "A"): ["192.0.2.80"],
    ("example.com", "TXT"): ['"v=spf1 " "ip4:192.0.2.25 -all"'],
}


def net(*servers, tries: int = 2, well_known: int = 53, allowed: tuple[str, ...] = (LOOPBACK,)) -> Net:
    ports = {}
    for server in servers:
        ports.update(server.ports(well_known))
    return Net(frozenset(allowed), timeout=TIMEOUT, tries=tries, ports=ports)


def mail_certificate(name: str = "mx.example.com", **dates) -> tuple[bytes, bytes]:
    return make_certificate([name], ca=fake_ca(), **dates)


class Bounded:
    """Asserts the block took no longer than `limit` seconds (monotonic clock), and at least `least`."""

    def __init__(self, limit: float, least: float = 0.0):
        self.limit, self.least = limit, least

    def __enter__(self):
        self.started = time.monotonic()

    def __exit__(self, *exc_info):
        elapsed = time.monotonic() - self.started
        assert self.least <= elapsed <= self.limit, f"{elapsed:.2f} s, expected {self.least:.2f}..{self.limit:.2f}"


# ---------------------------------------------------------------------------------------------- DNS


def test_dns_authoritative_answer_as_facts():
    with FakeDns(ZONES) as server:
        answer = net(server).dns(LOOPBACK, "www.example.com", "A", rd=False)
        spf = net(server).dns(LOOPBACK, "example.com", "TXT")
    assert answer.error is None and answer.rcode == "NOERROR"
    assert {"qr", "aa"} <= answer.flags and "ra" not in answer.flags
    assert answer.records("A") == ("192.0.2.80",)
    assert answer.query_text == "127.0.0.1: www.example.com. A +nord"
    assert server.queries[0] == ("udp", "www.example.com.", "A", False)
    assert spf.records("TXT") == ("v=spf1 ip4:192.0.2.25 -all",)  # strings joined, unquoted
    assert spf.transport == "udp"


def test_dns_refused_and_open_resolver():
    elsewhere = {**ZONES, ("www.other.org", "A"): ["203.0.113.7"]}  # outside its zone example.com
    with FakeDns(elsewhere) as closed, FakeDns(elsewhere, refuse_recursion=False, host="127.0.0.2") as open_:
        refused = net(closed).dns(LOOPBACK, "www.other.org", "A")
        recursive = Net(frozenset({"127.0.0.2"}), timeout=TIMEOUT, tries=1, ports=open_.ports(53)).dns(
            "127.0.0.2", "www.other.org", "A")
    assert refused.rcode == "REFUSED" and "ra" not in refused.flags and refused.answer == ()
    assert "ra" in recursive.flags and "aa" not in recursive.flags
    assert recursive.records("A") == ("203.0.113.7",)


def test_dns_truncated_udp_is_asked_again_over_tcp():
    with FakeDns(ZONES, truncate=True) as server:
        answer = net(server).dns(LOOPBACK, "www.example.com", "A")
    assert answer.transport == "tcp" and answer.records("A") == ("192.0.2.80",)
    assert [q[0] for q in server.queries] == ["udp", "tcp"]


def test_dns_silence_is_an_error_within_timeout_times_tries():
    with FakeDns(ZONES, behaviour="silent") as server, Bounded(TIMEOUT * 2 + 0.5, least=TIMEOUT * 2 * 0.9):
        answer = net(server, tries=2).dns(LOOPBACK, "www.example.com", "A")
    assert answer.error is not None and "timeout" in answer.error and answer.rcode == ""
    assert "2 tries" in answer.error


@pytest.mark.parametrize("behaviour", ["garbage", "wrong-id"])
def test_dns_garbage_or_a_wrong_id_is_an_error_not_an_answer(behaviour):
    with FakeDns(ZONES, behaviour=behaviour) as server, Bounded(TIMEOUT * 2 + 0.5):
        answer = net(server).dns(LOOPBACK, "www.example.com", "A")
    assert answer.error is not None and answer.answer == ()


def test_dns_txt_records_and_dnssec_flag_in_query_text():
    with FakeDns(ZONES) as server:
        answer = net(server).dns(LOOPBACK, "example.com", "TXT", dnssec=True)
    assert answer.query_text.endswith("+rd +dnssec")


# ---------------------------------------------------------------------------------------- allowlist


@pytest.mark.parametrize("call", [
    lambda n, host: n.dns(host, "www.example.com", "A"),
    lambda n, host: n.connect(host, 25),
    lambda n, host: n.smtp(host, 25, helo="probe.test", starttls=True, server_name="mx", cafile=None),
    lambda n, host: n.tls(host, 443, server_name="www", cafile=None),
    lambda n, host: n.https_get(host, 443, server_name="www", path="/", cafile=None),
    lambda n, host: n.http_get(host, 80, host_header="www", path="/"),
])
def test_an_address_outside_the_allowlist_is_refused_before_any_packet(call):
    with FakeDns(ZONES, host="127.0.0.3") as server, FakeSmtp(host="127.0.0.3") as mail:
        guarded = Net(frozenset({LOOPBACK}), timeout=TIMEOUT, tries=1,
                      ports={**server.ports(53), **mail.ports(25), 443: mail.port, 80: mail.port})
        with pytest.raises(ValueError, match="not an address of this stack"):
            call(guarded, "127.0.0.3")
        with pytest.raises(ValueError, match="not an address"):
            call(guarded, "localhost")  # a name: nothing here resolves names
    assert server.queries == [] and mail.commands == []


# ------------------------------------------------------------------------------------------ connect


def test_connect_reads_the_banner_and_tells_refused_from_silent():
    with FakeSmtp(banner="220 mx.example.com ESMTP") as mail:
        connected = net(mail, well_known=25).connect(LOOPBACK, 25)
    closed = socket.socket()
    closed.bind((LOOPBACK, 0))
    port = closed.getsockname()[1]
    closed.close()  # a port nobody listens on: the kernel answers with a reset
    refused = Net(frozenset({LOOPBACK}), timeout=TIMEOUT, tries=2, ports={25: port}).connect(LOOPBACK, 25)
    with FakeSmtp(silent=True) as silent, Bounded(TIMEOUT + 0.5):
        quiet = net(silent, well_known=25).connect(LOOPBACK, 25)
    assert connected.outcome == "connected" and connected.banner == "220 mx.example.com ESMTP"
    assert refused.outcome == "refused" and refused.error
    assert quiet.outcome == "connected" and quiet.banner == ""


# --------------------------------------------------------------------------------------------- SMTP


def smtp(server, *, name="mx.example.com", cafile=None, **options):
    options.setdefault("starttls", not server.implicit_tls)
    return net(server, well_known=25).smtp(LOOPBACK, 25, helo="probe.outside.test", server_name=name,
                                           cafile=cafile if cafile is not None else fake_ca().cafile, **options)


def test_smtp_starttls_session_with_a_trusted_certificate():
    with FakeSmtp(banner="220 mx.example.com ESMTP", ehlo_lines=("PIPELINING",),
                  tls_ehlo_lines=("PIPELINING", "AUTH PLAIN LOGIN"), certificate=mail_certificate()) as server:
        session = smtp(server, rcpt=("probe@outside.test", "nobody@example.com"))
    assert session.error is None and session.banner == "220 mx.example.com ESMTP"
    assert session.banner_name == "mx.example.com" and session.ehlo_name == "fake.test"
    assert session.starttls_offered and session.tls
    assert not session.auth_before_tls and session.auth_after_tls
    assert "AUTH PLAIN LOGIN" in session.ehlo_after_tls and "STARTTLS" in session.ehlo
    assert session.certificate.verified and session.certificate.dns_names == ("mx.example.com",)
    assert session.mail_code == 250 and session.rcpt_code == 554
    verbs = [c.split()[0].upper() for c in server.commands]
    assert verbs == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "RSET", "QUIT"]  # never DATA
    assert "> RCPT TO:<nobody@example.com>" in session.transcript


def test_smtp_auth_in_clear_text_is_seen():
    with FakeSmtp(ehlo_lines=("AUTH PLAIN",), certificate=mail_certificate()) as server:
        session = smtp(server)
    assert session.auth_before_tls and session.auth_after_tls


def test_smtp_certificate_for_another_name_is_read_but_not_verified():
    with FakeSmtp(certificate=mail_certificate("other.example.net")) as server:
        session = smtp(server)
    assert session.tls and session.error is None and session.ehlo_after_tls  # the session went on
    assert not session.certificate.verified and "mismatch" in session.certificate.verify_error.lower()
    assert session.certificate.dns_names == ("other.example.net",)


def test_smtp_self_signed_is_not_trusted_and_the_ca_only_via_cafile(tmp_path):
    self_signed = make_certificate(["mx.example.com"])
    with FakeSmtp(certificate=self_signed) as server:
        untrusted = smtp(server)
    with FakeSmtp(certificate=mail_certificate()) as server:
        elsewhere = net(server, well_known=25).smtp(LOOPBACK, 25, helo="p", starttls=True,
                                                    server_name="mx.example.com", cafile=None)
    assert not untrusted.certificate.verified and "self" in untrusted.certificate.verify_error.lower()
    assert untrusted.certificate.subject == "mx.example.com"
    assert not elsewhere.certificate.verified  # the system's trust store does not know the test CA


def test_smtp_implicit_tls():
    with FakeSmtp(implicit_tls=True, certificate=mail_certificate(), ehlo_lines=("AUTH PLAIN",)) as server:
        session = smtp(server, implicit_tls=True)
    assert session.tls and session.certificate.verified and session.banner.startswith("220")
    assert session.auth_after_tls and not session.starttls_offered


def test_smtp_starttls_without_a_certificate_is_refused_not_raised():
    with FakeSmtp(certificate=None) as server:
        session = smtp(server)
    assert session.starttls_offered and not session.tls and "454" in session.error


def test_smtp_silent_server_is_an_error_within_timeout_times_tries():
    with FakeSmtp(silent=True) as server, Bounded(TIMEOUT * 2 + 0.5, least=TIMEOUT * 2 * 0.9):
        session = smtp(server)
    assert session.error and "timeout" in session.error and session.banner == ""


def test_smtp_greeting_other_than_220_is_reported_and_the_session_ends():
    with FakeSmtp(banner="554 5.7.1 no service for you") as server:
        session = smtp(server)
    assert session.banner_code == 554 and session.error == "greeting 554, not 220" and session.ehlo == ()
    assert server.commands == ["QUIT"]


def test_smtp_garbage_is_an_error():
    with FakeSmtp(garbage=True) as server, Bounded(TIMEOUT * 2 + 0.5):
        session = smtp(server)
    assert session.error and "not an SMTP reply" in session.error


# ---------------------------------------------------------------------------------------------- TLS


def tls(server, name="www.example.com", cafile=None):
    return net(server, well_known=443).tls(LOOPBACK, 443, server_name=name,
                                           cafile=cafile if cafile is not None else fake_ca().cafile)


def test_tls_facts_of_a_good_certificate_and_sni():
    with FakeTls(make_certificate(["www.example.com", "example.com"], ca=fake_ca())) as server:
        certificate = tls(server)
    assert certificate.verified and certificate.error is None
    assert certificate.subject == "www.example.com" and certificate.dns_names == ("www.example.com", "example.com")
    assert certificate.not_after.tzinfo is not None and 89.9 < certificate.days_left(NOW) < 90.1
    assert "www.example.com" in server.server_names
    assert certificate.names("WWW.example.com.") and not certificate.names("mail.example.com")


def test_tls_expired_and_expiring():
    expired = make_certificate(["www.example.com"], ca=fake_ca(), not_before=NOW - datetime.timedelta(days=90),
                               not_after=NOW - datetime.timedelta(days=1))
    soon = make_certificate(["www.example.com"], ca=fake_ca(), not_after=NOW + datetime.timedelta(days=5))
    with FakeTls(expired) as old, FakeTls(soon) as young:
        was = tls(old)
        will = tls(young)
    assert not was.verified and "expired" in was.verify_error and was.days_left(NOW) < 0
    assert will.verified and 4.9 < will.days_left(NOW) < 5.1


def test_tls_wrong_name_and_self_signed():
    with FakeTls(make_certificate(["webmail.example.net"], ca=fake_ca())) as other, \
            FakeTls(make_certificate(["www.example.com"])) as alone:
        wrong = tls(other)
        unsigned = tls(alone)
    assert not wrong.verified and "mismatch" in wrong.verify_error.lower()
    assert wrong.dns_names == ("webmail.example.net",)
    assert not unsigned.verified and unsigned.issuer == "CN=www.example.com"


def test_tls_to_a_silent_server_is_an_error_within_timeout_times_tries():
    with FakeSmtp(silent=True) as server, Bounded(TIMEOUT * 2 + 0.5, least=TIMEOUT * 2 * 0.9):
        certificate = tls(server)
    assert certificate.error and "timeout" in certificate.error and not certificate.verified


# --------------------------------------------------------------------------------------------- HTTP


def test_https_get_reads_status_headers_body_and_does_not_follow_redirects():
    routes = {"/.well-known/mta-sts.txt": (200, {"Content-Type": "text/plain"}, "version: STSv1\r\nmode: enforce\r\n"),
              "/old": (301, {"Location": "https://www.example.com/new"}, b""),
              "/big": (200, {}, b"x" * (BODY_LIMIT + 1000))}
    with FakeHttps(routes, make_certificate(["mta-sts.example.com"], ca=fake_ca())) as server:
        client = net(server, well_known=443)
        get = lambda path: client.https_get(LOOPBACK, 443, server_name="mta-sts.example.com",  # noqa: E731
                                            path=path, cafile=fake_ca().cafile)
        policy, moved, missing, big = get("/.well-known/mta-sts.txt"), get("/old"), get("/none"), get("/big")
    assert policy.status == 200 and policy.verified and policy.header("Content-Type") == "text/plain"
    assert policy.body.startswith(b"version: STSv1")
    assert moved.status == 301 and moved.headers["location"] == "https://www.example.com/new"
    assert [path for _, path, _ in server.requests].count("/new") == 0
    assert missing.status == 404 and len(big.body) == BODY_LIMIT


def test_https_get_with_a_bad_certificate_still_reads_the_response_but_is_not_verified():
    with FakeHttps({"/": (200, {}, b"hello")}, make_certificate(["www.example.com"])) as server:
        response = net(server, well_known=443).https_get(LOOPBACK, 443, server_name="www.example.com", path="/",
                                                         cafile=fake_ca().cafile)
    assert response.status == 200 and not response.verified and response.certificate.verify_error


def test_http_get_by_host_header_and_garbage():
    routes = {("www.example.com", "/"): (301, {"Location": "https://www.example.com/"}, b""),
              "/": (200, {}, b"default")}
    with FakeHttp(routes) as server, FakeSmtp(garbage=True) as noise:
        client = net(server, well_known=80)
        redirect = client.http_get(LOOPBACK, 80, host_header="www.example.com", path="/")
        other = client.http_get(LOOPBACK, 80, host_header="example.com", path="/")
        junk = net(noise, well_known=80).http_get(LOOPBACK, 80, host_header="www.example.com", path="/")
    assert redirect.status == 301 and redirect.header("location") == "https://www.example.com/"
    assert other.status == 200 and other.body == b"default" and other.certificate is None
    assert junk.status is None and "not an HTTP response" in junk.error
