"""audit/checks/web.py against loopback fakes: a FakeDns as our name server (the StackResolver asks it),
FakeHttps/FakeHttp as the web host; certificates from the fakes' test CA."""

from __future__ import annotations

import contextlib
import datetime
import socket

import pytest
from context_builder import SILENCE_TIMEOUT, Endpoint, MtaStsExpectation, WebName, context, expectation, results
from fakes import FakeDns, FakeHttp, FakeHttps, FakeSmtp, fake_ca, make_certificate

from audit.checks.web import dns_not_www, mta_sts_certificate, webmail_certificate

NS, WEB = "127.0.0.53", "127.0.0.80"
DOMAIN = "example.net"
WEBMAIL = f"webmail.{DOMAIN}"
MTA_STS = f"mta-sts.{DOMAIN}"
SOA = "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 300"
NOW = datetime.datetime.now(datetime.UTC)
NAME_SERVER = Endpoint(f"ns1.{DOMAIN}", (NS,))
WEB_HOST = Endpoint(f"web1.{DOMAIN}", (WEB,))


def _zone(**addresses: str) -> dict:
    """Our zone with `label=address` A records ("apex" for the domain itself)."""
    zone = {(DOMAIN, "SOA"): [SOA], (NAME_SERVER.name, "A"): [NS]}
    for label, address in addresses.items():
        zone[(DOMAIN if label == "apex" else f"{label.replace('_', '-')}.{DOMAIN}", "A")] = [address]
    return zone


def _certificate(name: str, days: float = 90, **kw):
    return make_certificate([name], not_after=NOW + datetime.timedelta(days=days), ca=kw.get("ca", fake_ca()))


def _redirect(name: str, status: int = 301) -> dict:
    return {"/": (status, {"Location": f"https://{name}/"}, b"")}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind((WEB, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _web(zone, certificate, routes, *, https=None, http=None):
    """A name server with `zone`, HTTPS with `certificate` and HTTP with `routes` on the web host; `https`
    or `http` given instead: that server (e.g. a silent one) in its place."""
    with contextlib.ExitStack() as stack:
        ns = stack.enter_context(FakeDns(zone, host=NS))
        secure = https or stack.enter_context(FakeHttps({}, certificate, host=WEB))
        plain = http or stack.enter_context(FakeHttp(routes, host=WEB))
        yield {**ns.ports(53), **secure.ports(443), **plain.ports(80)}, secure, plain


def _run(function, ports, web_names, *, mta_sts=(), extra=(), **options):
    expect = expectation(name_servers=[NAME_SERVER], bind_zones=[DOMAIN], web_names=web_names, mta_sts=mta_sts)
    return results(function, context(expect, ports=ports, extra=extra, cafile=fake_ca().cafile, **options))


WEBMAIL_NAMES = [WebName(WEBMAIL, "webmail", WEB_HOST)]


# ---------------------------------------------------------------------------------- webmail-certificate

def test_webmail_verified_and_redirecting_passes():
    with _web(_zone(webmail=WEB), _certificate(WEBMAIL), _redirect(WEBMAIL, 308)) as (ports, secure, plain):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert (result.status, result.target) == ("PASS", f"{WEBMAIL} {WEB}")
    assert secure.server_names == [WEBMAIL]  # SNI sent
    assert plain.requests == [("GET", "/", WEBMAIL)]
    text = "\n".join(result.evidence)
    assert "webmail.example.net. A +nord" in text and WEB in text  # the lookup, from our name server
    assert f"names {WEBMAIL}" in text and "Audit Test CA" in text and "days left" in text
    assert f"308 to https://{WEBMAIL}/" in text


def test_wrong_name_fails():
    with _web(_zone(webmail=WEB), _certificate(f"www.{DOMAIN}"), _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "FAIL" and f"does not name {WEBMAIL}" in result.summary
    assert any(f"names www.{DOMAIN}" in line for line in result.evidence)


def test_expired_certificate_fails():
    expired = make_certificate([WEBMAIL], not_before=NOW - datetime.timedelta(days=100),
                               not_after=NOW - datetime.timedelta(days=3), ca=fake_ca())
    with _web(_zone(webmail=WEB), expired, _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "FAIL" and "expired 3 days ago" in result.summary


def test_untrusted_issuer_fails():
    self_signed = make_certificate([WEBMAIL])
    with _web(_zone(webmail=WEB), self_signed, _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "FAIL" and "does not verify" in result.summary


@pytest.mark.parametrize(("days", "status"), [(10, "WARN"), (30, "PASS")])
def test_expiring_within_warn_days_is_a_warn(days, status):
    with _web(_zone(webmail=WEB), _certificate(WEBMAIL, days), _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES, warn_days=21)
    assert result.status == status
    if status == "WARN":
        assert "expires in 10 days" in result.summary


@pytest.mark.parametrize("routes", [
    {"/": (200, {"Content-Type": "text/html"}, b"<html>login</html>")},  # served over plain HTTP
    _redirect(f"evil.{DOMAIN}"),  # to another name
    {"/": (301, {"Location": f"http://{WEBMAIL}/"}, b"")},  # to plain HTTP again
])
def test_plain_http_that_does_not_redirect_to_https_fails(routes):
    with _web(_zone(webmail=WEB), _certificate(WEBMAIL), routes) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "FAIL" and "expected a redirect" in result.summary


def test_silent_https_is_a_warn_not_a_hang():
    with FakeSmtp(silent=True, host=WEB) as silent, \
            _web(_zone(webmail=WEB), None, _redirect(WEBMAIL), https=silent) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES, timeout=SILENCE_TIMEOUT)
    assert result.status == "WARN" and "no TLS answer" in result.summary


def test_silent_http_is_a_warn():
    with FakeSmtp(silent=True, host=WEB) as silent, \
            _web(_zone(webmail=WEB), _certificate(WEBMAIL), {}, http=silent) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES, timeout=SILENCE_TIMEOUT)
    assert result.status == "WARN" and "plain HTTP" in result.summary


def test_https_refused_fails():
    with _web(_zone(webmail=WEB), _certificate(WEBMAIL), _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, {**ports, 443: _closed_port()}, WEBMAIL_NAMES)
    assert result.status == "FAIL" and "no certificate served" in result.summary


def test_name_leading_elsewhere_fails_without_contacting_it():
    with _web(_zone(webmail="127.0.0.99"), _certificate(WEBMAIL), _redirect(WEBMAIL)) as (ports, secure, plain):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "FAIL" and "127.0.0.99" in result.summary and "not contacted" in result.summary
    assert secure.server_names == [] and plain.requests == []


def test_unresolved_name_is_probed_on_its_host_and_said_so():
    with _web(_zone(), _certificate(WEBMAIL), _redirect(WEBMAIL)) as (ports, _, _):
        [result] = _run(webmail_certificate, ports, WEBMAIL_NAMES)
    assert result.status == "PASS"
    assert any("probing web1.example.net" in line for line in result.evidence)


# ---------------------------------------------------------------------------------- mta-sts-certificate

def _mta_sts_names():
    policy = f"version: STSv1\nmode: enforce\nmx: mx1.{DOMAIN}\nmax_age: 86400\n"
    return [WebName(MTA_STS, "mta-sts", WEB_HOST)], [MtaStsExpectation(DOMAIN, policy, "0" * 32, (f"mx1.{DOMAIN}",))]


def test_mta_sts_certificate_passes_and_fails_on_a_wrong_name():
    names, policies = _mta_sts_names()
    with _web(_zone(mta_sts=WEB), _certificate(MTA_STS), _redirect(MTA_STS)) as (ports, _, _):
        [good] = _run(mta_sts_certificate, ports, names, mta_sts=policies)
    with _web(_zone(mta_sts=WEB), _certificate(WEBMAIL), _redirect(MTA_STS)) as (ports, _, _):
        [bad] = _run(mta_sts_certificate, ports, names, mta_sts=policies)
    assert (good.status, good.target, good.lesson) == ("PASS", f"{MTA_STS} {WEB}", "6, 10")
    assert bad.status == "FAIL" and f"does not name {MTA_STS}" in bad.summary


def test_mta_sts_check_ignores_webmail_names():
    with _web(_zone(webmail=WEB), _certificate(WEBMAIL), _redirect(WEBMAIL)) as (ports, _, _):
        assert _run(mta_sts_certificate, ports, WEBMAIL_NAMES) == []


# ------------------------------------------------------------------------------------------ dns-not-www

WWW_NAMES = [WebName(f"www.{DOMAIN}", "www", WEB_HOST), WebName(DOMAIN, "apex", WEB_HOST),
             WebName(WEBMAIL, "webmail", WEB_HOST), WebName(MTA_STS, "mta-sts", WEB_HOST)]


def _dns_not_www(zone):
    with FakeDns(zone, host=NS) as ns:
        found = _run(dns_not_www, ns.ports(53), WWW_NAMES)
    return {r.target: r for r in found}


def test_web_names_apart_from_name_servers_pass():
    found = _dns_not_www(_zone(www=WEB, apex=WEB, webmail=WEB, mta_sts=NS))
    assert set(found) == {f"www.{DOMAIN}", DOMAIN, WEBMAIL}  # mta-sts is not one of lesson 8's names
    assert all(r.status == "PASS" for r in found.values())


def test_web_name_on_a_name_server_fails_naming_both():
    found = _dns_not_www(_zone(www=NS, apex=WEB, webmail=WEB))
    www = found[f"www.{DOMAIN}"]
    assert www.status == "FAIL" and f"{NS} (ns1.{DOMAIN})" in www.summary
    assert found[DOMAIN].status == "PASS"


def test_name_server_resolving_to_the_web_host_fails():
    zone = _zone(www=WEB, apex=WEB, webmail=WEB)
    zone[(NAME_SERVER.name, "A")] = [WEB]  # a hand edit moved ns1 onto the web host
    assert all(r.status == "FAIL" for r in _dns_not_www(zone).values())


def test_unresolvable_web_name_is_a_warn():
    found = _dns_not_www(_zone(www=WEB, apex=WEB))
    assert found[WEBMAIL].status == "WARN" and found[f"www.{DOMAIN}"].status == "PASS"
