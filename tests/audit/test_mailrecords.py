"""The receiver's reading of mail-authentication records the audit and the lab probes judge with (audit/mailrecords.py).

Cases are the RFCs' own: tag lists (RFC 6376 §3.2), DMARC records and alignment (RFC 7489 §3.1,
§6.3, §6.6), the MTA-STS policy and TXT (RFC 8461 §3.1, §3.2, §4.1), TLS-RPT (RFC 8460 §3).
"""

from __future__ import annotations

import pytest

from audit.mailrecords import (
    RecordError,
    aligned,
    dmarc_verdict,
    header_domain,
    mx_matches,
    organizational_domain,
    parse_dmarc_record,
    parse_mta_sts_policy,
    parse_mta_sts_txt,
    parse_tag_list,
    parse_tlsrpt_txt,
)


def test_tag_lists_ignore_whitespace_and_a_trailing_separator_but_not_a_repeated_tag():
    assert parse_tag_list(" v = DKIM1 ;k=rsa;\tp=MIIB ;") == {"v": "DKIM1", "k": "rsa", "p": "MIIB"}
    with pytest.raises(RecordError, match="twice"):
        parse_tag_list("v=DKIM1; p=a; p=b")
    with pytest.raises(RecordError, match="tag=value"):
        parse_tag_list("v=DKIM1; nonsense")


def test_a_dmarc_record_needs_v_first_and_a_policy_and_defaults_to_relaxed_alignment():
    record = parse_dmarc_record("v=DMARC1; p=reject; rua=mailto:d@isp.test")
    assert (record["p"], record["adkim"], record["aspf"]) == ("reject", "r", "r")  # RFC 7489 §6.3 defaults
    assert parse_dmarc_record("v=DMARC1; p=none; adkim=s")["adkim"] == "s"
    for bad in ("p=reject; v=DMARC1", "v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; p=none; adkim=x", "v=spf1 -all"):
        with pytest.raises(RecordError):
            parse_dmarc_record(bad)


def test_relaxed_alignment_is_the_organizational_domain_and_strict_the_exact_name():
    # RFC 7489 §3.1.1's example: d=example.com aligns relaxed with From a.example.com, not strict.
    assert aligned("example.com", "a.example.com", "r") and not aligned("example.com", "a.example.com", "s")
    assert aligned("mail.isp.test", "news.isp.test", "r")
    assert aligned("ISP.test.", "isp.test", "s")
    assert not aligned("isp.test", "outside.test", "r")
    assert organizational_domain("a.b.isp.test") == "isp.test"


@pytest.mark.parametrize(("name", "organization"), [
    ("mail.example.co.uk", "example.co.uk"),  # a two-label public suffix, where the last two labels mislead
    ("WWW.Example.COM.", "example.com"),
    ("customer.isp.example.com.au", "example.com.au"),
    ("co.uk", "co.uk"),  # a public suffix itself: no label to add
    ("a.b.isp.test", "isp.test"),  # not on the list: its default rule `*`
])
def test_the_organizational_domain_is_the_public_suffix_plus_one_label(name, organization):
    assert organizational_domain(name) == organization


def test_relaxed_alignment_never_joins_two_organizations_under_one_public_suffix():
    # RFC 7489 §3.2: under `.co.uk` every registered domain is its own organization.
    assert aligned("mail.example.co.uk", "example.co.uk", "r")
    assert not aligned("mail.attacker.co.uk", "example.co.uk", "r")


def test_dmarc_passes_only_on_an_aligned_identifier_that_passed():
    record = parse_dmarc_record("v=DMARC1; p=reject; adkim=s")
    assert dmarc_verdict(from_domain="isp.test", record=record, dkim_passed_domains=["isp.test"]).result == "pass"
    # Strict alignment: a signature of the parent does not cover a subdomain's From (RFC 7489 §3.1.1).
    assert dmarc_verdict(from_domain="news.isp.test", record=record,
                         dkim_passed_domains=["isp.test"]).result == "fail"
    # A valid signature by someone else's domain is no DMARC pass (the point of alignment).
    unaligned = dmarc_verdict(from_domain="isp.test", record=record, dkim_passed_domains=["outside.test"])
    assert (unaligned.result, unaligned.policy) == ("fail", "reject")
    relaxed = parse_dmarc_record("v=DMARC1; p=reject")
    assert dmarc_verdict(from_domain="isp.test", record=relaxed, dkim_passed_domains=[],
                         spf_passed_domain="bounce.isp.test").result == "pass"


def test_the_from_header_must_hold_exactly_one_address():
    assert header_domain('"Lab User" <labuser@ISP.test>') == "isp.test"
    with pytest.raises(RecordError):
        header_domain("a@isp.test, b@outside.test")  # RFC 7489 §6.6.1: no single author domain
    with pytest.raises(RecordError):
        header_domain("undisclosed-recipients:;")


RFC_8461_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n" \
                  "mx: backupmx.example.com\r\nmax_age: 604800\r\n"


def test_the_policy_of_rfc_8461_parses_with_crlf_or_lf_and_ignores_unknown_fields():
    policy = parse_mta_sts_policy(RFC_8461_POLICY)  # §3.2's example
    assert (policy.version, policy.mode, policy.max_age) == ("STSv1", "enforce", 604800)
    assert policy.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert parse_mta_sts_policy(RFC_8461_POLICY.replace("\r\n", "\n") + "future_key: x\n") == policy


@pytest.mark.parametrize("broken", [
    RFC_8461_POLICY.replace("STSv1", "STSv2"),
    RFC_8461_POLICY.replace("enforce", "strict"),
    RFC_8461_POLICY.replace("604800", "31557601"),  # over a year
    RFC_8461_POLICY.replace("604800", "-1"),
    "version: STSv1\nmode: enforce\nmax_age: 86400\n",  # no mx outside mode none
    RFC_8461_POLICY + "mode: testing\n",
    "version STSv1\n",
])
def test_a_policy_a_sender_would_not_use_is_refused(broken):
    with pytest.raises(RecordError):
        parse_mta_sts_policy(broken)


def test_mode_none_needs_no_mx():
    assert parse_mta_sts_policy("version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()


def test_mx_patterns_match_a_name_or_one_leftmost_label():
    # RFC 8461 §4.1: "*.example.com" matches "mx1.example.com" but not "example.com" or "a.b.example.com".
    assert mx_matches("*.example.com", "mx1.example.com")
    assert not mx_matches("*.example.com", "example.com")
    assert not mx_matches("*.example.com", "a.b.example.com")
    assert mx_matches("mail.isp.test", "MAIL.isp.test.") and not mx_matches("mail.isp.test", "mx.isp.test")


def test_the_sts_txt_record_carries_an_id_of_up_to_32_letters_and_digits():
    assert parse_mta_sts_txt("v=STSv1; id=20160831085700Z;") == "20160831085700Z"  # §3.1's example
    for bad in ("v=STSv1;", "v=STSv1; id=has-hyphen", "v=STSv1; id=" + "a" * 33, "id=1; v=STSv1"):
        with pytest.raises(RecordError):
            parse_mta_sts_txt(bad)


def test_the_tlsrpt_record_lists_mailto_or_https_report_uris():
    assert parse_tlsrpt_txt("v=TLSRPTv1;rua=mailto:reports@example.com") == ["mailto:reports@example.com"]
    assert parse_tlsrpt_txt("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt,mailto:r@example.com") == [
        "https://reporting.example.com/v1/tlsrpt", "mailto:r@example.com"]
    for bad in ("v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x.example", "rua=mailto:r@example.com; v=TLSRPTv1"):
        with pytest.raises(RecordError):
            parse_tlsrpt_txt(bad)
