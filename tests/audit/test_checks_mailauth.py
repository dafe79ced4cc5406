"""Lesson 6 from the live DNS: SPF, DKIM, DMARC, MTA-STS and TLS-RPT, each held and each broken as the
RFCs say a receiver would see it (fakes on loopback)."""

from __future__ import annotations

import dataclasses

import pytest

import audit.checks  # noqa: F401 - registers the checks
from audit.mailrecords import RecordError, parse_dkim_key_record
from tests.audit.fakes import FakeHttps, fake_ca, make_certificate
from tests.audit.mail_world import (
    DMARC,
    DOMAIN,
    KEY_NEXT,
    KEY_SIGNING,
    LOOPBACK,
    POLICY,
    POLICY_ID,
    expectation,
    good_zones,
    one,
    run,
    text,
    world,
)

POLICY_PATH = "/.well-known/mta-sts.txt"


def edited(changes: dict) -> dict:
    zones = good_zones()
    for key, value in changes.items():
        if value is None:
            zones.pop(key, None)
        else:
            zones[key] = value
    return zones


# ------------------------------------------------------------------------------------------- spf


def test_spf_passes_for_the_mail_host_and_refuses_a_stranger():
    with world() as ctx:
        result = one("spf", ctx)
    assert result.status == "PASS", text(result)
    assert "v=spf1 ip4:127.0.0.1" in text(result)
    assert "-> pass" in text(result) and "192.0.2.1" in text(result) and "-> fail" in text(result)


def test_spf_with_plus_all_fails_because_a_stranger_passes_too():
    with world(edited({(DOMAIN, "TXT"): [f"v=spf1 ip4:{LOOPBACK} +all"]})) as ctx:
        result = one("spf", ctx)
    assert result.status == "FAIL", text(result)
    assert "stranger" in result.summary


def test_spf_that_leaves_out_the_mail_host_fails():
    with world(edited({(DOMAIN, "TXT"): ["v=spf1 ip4:192.0.2.25 -all"]})) as ctx:
        result = one("spf", ctx)
    assert result.status == "FAIL" and "gives fail" in result.summary, text(result)


def _lookups(count: int) -> dict:
    """An SPF record with `count` a: mechanisms (one DNS-querying term each, RFC 7208 §4.6.4) before ours."""
    zones = good_zones()
    names = [f"h{n}.{DOMAIN}" for n in range(1, count + 1)]
    for number, name in enumerate(names, start=1):
        zones[(name, "A")] = [f"192.0.2.{number + 100}"]
    zones[(DOMAIN, "TXT")] = [" ".join(["v=spf1", *(f"a:{n}" for n in names), f"ip4:{LOOPBACK}", "-all"])]
    return zones


def test_spf_with_ten_lookups_passes_and_eleven_fail():
    with world(_lookups(10)) as ctx:
        ten = one("spf", ctx)
    with world(_lookups(11)) as ctx:
        eleven = one("spf", ctx)
    assert ten.status == "PASS", text(ten)
    assert "10 DNS-querying terms" in text(ten)
    assert eleven.status == "FAIL", text(eleven)
    assert "11 DNS lookups" in eleven.summary


def test_spf_without_an_answer_is_a_warning():
    with world(dns_behaviour="silent") as ctx:
        result = one("spf", ctx)
    assert result.status == "WARN", text(result)


# -------------------------------------------------------------------------------- dkim-published


def test_dkim_keys_signing_and_next_are_published():
    with world() as ctx:
        results = run("dkim-published", ctx)
    assert [r.status for r in results] == ["PASS", "PASS"], [text(r) for r in results]
    assert {r.target for r in results} == {f"s2026._domainkey.{DOMAIN} (signing)",
                                           f"s2027._domainkey.{DOMAIN} (published, not signing)"}


def test_dkim_key_rotated_on_the_host_but_not_in_dns_fails():
    rotated = expectation(dkim=(dataclasses.replace(expectation().dkim[0], public_key=KEY_NEXT[::-1]),))
    with world(expect=rotated) as ctx:
        result = one("dkim-published", ctx)
    assert result.status == "FAIL" and "rotated on the host but not in DNS" in result.summary, text(result)


def test_dkim_missing_revoked_or_folded():
    with world(edited({(f"s2026._domainkey.{DOMAIN}", "TXT"): None,
                       (f"s2027._domainkey.{DOMAIN}", "TXT"): ["v=DKIM1; k=rsa; p="]})) as ctx:
        missing, revoked = run("dkim-published", ctx)
    assert missing.status == "FAIL" and "no key at" in missing.summary, text(missing)
    assert revoked.status == "FAIL" and "revoked" in revoked.summary, text(revoked)
    folded = f"v=DKIM1; k=rsa; p={KEY_SIGNING[:30]} {KEY_SIGNING[30:]}"  # whitespace in p= is not significant
    with world(edited({(f"s2026._domainkey.{DOMAIN}", "TXT"): [folded]})) as ctx:
        assert one("dkim-published", ctx, "s2026").status == "PASS"


def test_dkim_key_record_reading():
    assert parse_dkim_key_record("k=ed25519; p=abc").key_type == "ed25519"
    assert parse_dkim_key_record("p=").revoked
    with pytest.raises(RecordError):
        parse_dkim_key_record("k=rsa; v=DKIM1; p=abc")  # v= must come first (RFC 6376 §3.6.1)
    with pytest.raises(RecordError):
        parse_dkim_key_record("v=DKIM1; k=rsa")


# ------------------------------------------------------------------------------------------ dmarc


def test_dmarc_as_expected_passes():
    with world() as ctx:
        result = one("dmarc", ctx)
    assert result.status == "PASS" and result.target == f"_dmarc.{DOMAIN}", text(result)


@pytest.mark.parametrize(("records", "status", "words"), [
    (None, "FAIL", "0 DMARC records"),
    (["v=DMARC1; p=none; adkim=r; aspf=r; rua=mailto:postmaster@isp.test"], "FAIL", "weaker"),
    ([DMARC, "v=DMARC1; p=reject"], "FAIL", "2 DMARC records"),
    (["v=DMARC1; p=reject; adkim=s; aspf=r; rua=mailto:postmaster@isp.test"], "WARN", "adkim=s, expected r"),
    (["v=DMARC1; p=reject"], "WARN", "no rua"),
    (["p=reject; v=DMARC1"], "FAIL", "0 DMARC records"),  # v= not first: discarded (RFC 7489 §6.6.3)
])
def test_dmarc_broken(records, status, words):
    with world(edited({(f"_dmarc.{DOMAIN}", "TXT"): records})) as ctx:
        result = one("dmarc", ctx)
    assert result.status == status and words in result.summary, text(result)


def test_dmarc_of_a_zone_we_may_not_ask_is_a_warning():
    outside = expectation(dmarc=(dataclasses.replace(expectation().dmarc[0], zone="customer.example"),))
    with world(expect=outside) as ctx:
        result = one("dmarc", ctx)
    assert result.status == "WARN" and "--resolver" in text(result), text(result)


# ---------------------------------------------------------------------------------------- mta-sts


def policy_server(body: str = POLICY, *, status: int = 200, content_type: str = "text/plain",
                  names=(f"mta-sts.{DOMAIN}",)) -> FakeHttps:
    certificate = make_certificate(list(names), ca=fake_ca())
    return FakeHttps({POLICY_PATH: (status, {"Content-Type": content_type}, body)}, certificate)


def test_mta_sts_as_expected_passes_with_evidence():
    server = policy_server()
    with world(servers={443: server}) as ctx:
        result = one("mta-sts", ctx)
    assert result.status == "PASS" and "as expected" in result.summary, text(result)
    assert f"id={POLICY_ID}" in text(result) and "200" in text(result)
    assert server.server_names == [f"mta-sts.{DOMAIN}"]  # SNI: the policy host's name


def test_mta_sts_policy_whose_mx_lines_lack_an_mx_fails():
    zones = edited({(DOMAIN, "MX"): ["10 mx.isp.test.", "20 mx2.isp.test."]})
    with world(zones, servers={443: policy_server()}) as ctx:
        result = one("mta-sts", ctx)
    assert result.status == "FAIL" and "lack mx2.isp.test" in result.summary, text(result)


@pytest.mark.parametrize(("server", "zones", "words"), [
    (lambda: policy_server(status=301), None, "not 200"),
    (lambda: policy_server(content_type="text/html"), None, "not text/plain"),
    (lambda: policy_server(names=("www.isp.test",)), None, "does not verify"),
    (lambda: policy_server(POLICY.replace("enforce", "testing")), None, "mode testing, expected enforce"),
    (policy_server, {(f"_mta-sts.{DOMAIN}", "TXT"): ["v=STSv1; id=stale1"]}, "id stale1"),
    (policy_server, {(f"_mta-sts.{DOMAIN}", "TXT"): None}, "0 STSv1 records"),
])
def test_mta_sts_broken(server, zones, words):
    with world(edited(zones or {}), servers={443: server()}) as ctx:
        result = one("mta-sts", ctx)
    assert result.status == "FAIL" and words in result.summary, text(result)


def test_mta_sts_policy_text_may_differ_if_mode_and_mx_hold():
    with world(servers={443: policy_server(POLICY.replace("604800", "86400"))}) as ctx:
        result = one("mta-sts", ctx)
    assert result.status == "PASS" and "differs in text" in result.summary, text(result)


def test_mta_sts_host_that_does_not_answer_is_a_warning():
    with world() as ctx:  # nothing listens on 443
        result = one("mta-sts", ctx)
    assert result.status == "WARN", text(result)


# ---------------------------------------------------------------------------------------- tls-rpt


@pytest.mark.parametrize(("records", "status", "words"), [
    (None, "PASS", "rua mailto:tls-reports@isp.test"),
    (["v=TLSRPTv1"], "FAIL", "does not parse"),
    (["v=TLSRPTv1; rua=mailto:someone@else.example"], "FAIL", "expected mailto:tls-reports@isp.test"),
    ([], "FAIL", "0 TLSRPTv1 records"),
])
def test_tls_rpt(records, status, words):
    changes = {} if records is None else {(f"_smtp._tls.{DOMAIN}", "TXT"): records or None}
    with world(edited(changes)) as ctx:
        result = one("tls-rpt", ctx)
    assert result.status == status and words in result.summary, text(result)
