"""The MTA-STS policy and TXT records (RFC 8461 §3) and the TLS-RPT record (RFC 8460 §3), as senders read them."""

from __future__ import annotations

import re

import pytest

from components.render import quoting
from components.render.mtasts import mta_sts_record, policy_id, render_mta_sts_policy, tls_rpt_record


def read_policy(text: str) -> list[tuple[str, str]]:
    """RFC 8461 §3.2's grammar: `field: value` lines ended by LF or CRLF; version first."""
    lines = re.split(r"\r?\n", text.removesuffix("\n").removesuffix("\r"))
    pairs = []
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_]+):[ \t]*([\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)", line)
        assert match, f"not an sts-policy-field: {line!r}"
        pairs.append((match[1], match[2]))
    return pairs


def test_the_policy_is_rfc_8461s_example_shape():
    """§3.2's example: version, mode, one mx per MX pattern in order, max_age."""
    text = render_mta_sts_policy("enforce", ["mail.example.com", "*.example.net", "backupmx.example.com"], 604800)
    assert read_policy(text) == [("version", "STSv1"), ("mode", "enforce"), ("mx", "mail.example.com"),
                                 ("mx", "*.example.net"), ("mx", "backupmx.example.com"), ("max_age", "604800")]


@pytest.mark.parametrize("mode", ["enforce", "testing", "none"])
def test_each_mode_of_rfc_8461(mode):
    assert ("mode", mode) in read_policy(render_mta_sts_policy(mode, ["mx.example.net"], 86400))


@pytest.mark.parametrize("mode,mx,max_age,parameter", [
    ("on", ["mx.example.net"], 86400, "mode"),
    ("enforce", [], 86400, "mx_hosts"),
    ("enforce", ["mx.example.net\nmode: none"], 86400, "mx_hosts[0]"),  # a line of its own would override
    ("enforce", ["MX.example.net"], 86400, "mx_hosts[0]"),
    ("enforce", ["mx..example.net"], 86400, "mx_hosts[0]"),
    ("enforce", ["mail"], 86400, "mx_hosts[0]"),  # an MX target is fully qualified (RFC 5321 §5.1)
    ("enforce", ["*.net"], 86400, "mx_hosts[0]"),
    ("enforce", ["a" * 64 + ".example.net"], 86400, "mx_hosts[0]"),  # a DNS label is at most 63 octets
    ("enforce", ["mx.-example.net"], 86400, "mx_hosts[0]"),
    ("enforce", "mx.example.net", 86400, "mx_hosts"),  # a bare string: its characters are no MX hosts
    ("enforce", None, 86400, "mx_hosts"),
    ("enforce", ["mx.example.net"], 31557601, "max_age"),  # §3.2: at most 31557600
    ("enforce", ["mx.example.net"], -1, "max_age"),
    ("enforce", ["mx.example.net"], "604800", "max_age"),
])
def test_what_no_sender_could_read_is_refused(mode, mx, max_age, parameter):
    with pytest.raises(quoting.RenderValueError) as caught:
        render_mta_sts_policy(mode, mx, max_age)
    assert caught.value.parameter == parameter


def test_the_id_changes_exactly_when_the_policy_does():
    """§3.1: senders refetch the policy only when the id differs from the one they cached."""
    base = render_mta_sts_policy("testing", ["mx1.example.net", "mx2.example.net"], 604800)
    changed = [render_mta_sts_policy("enforce", ["mx1.example.net", "mx2.example.net"], 604800),
               render_mta_sts_policy("testing", ["mx1.example.net"], 604800),
               render_mta_sts_policy("testing", ["mx2.example.net", "mx1.example.net"], 604800),
               render_mta_sts_policy("testing", ["mx1.example.net", "mx2.example.net"], 86400)]
    ids = {policy_id(text) for text in [base, *changed]}
    assert len(ids) == 5
    again = render_mta_sts_policy("testing", ["mx1.example.net", "mx2.example.net"], 604800)
    assert policy_id(again) == policy_id(base)


def test_the_txt_record_is_rfc_8461s():
    """§3.1: `v=STSv1; id=<1 to 32 alphanumerics>`, v first."""
    record = mta_sts_record(policy_id(render_mta_sts_policy("enforce", ["mx.example.net"], 86400)))
    assert re.fullmatch(r"v=STSv1; id=[A-Za-z0-9]{1,32}", record)
    assert mta_sts_record("20160831085700Z") == "v=STSv1; id=20160831085700Z"  # §3.1's own example id


@pytest.mark.parametrize("bad", ["", "a" * 33, "id-with-dash", "x; v=STSv1", 7])
def test_an_id_outside_rfc_8461s_alphabet_is_refused(bad):
    with pytest.raises(quoting.RenderValueError):
        mta_sts_record(bad)


def test_the_tls_rpt_record_is_rfc_8460s():
    """§3: `v=TLSRPTv1; rua=<uri>[,<uri>]`, mailto: or https:."""
    assert tls_rpt_record(["mailto:reports@example.com"]) == "v=TLSRPTv1; rua=mailto:reports@example.com"
    assert tls_rpt_record(["mailto:reports@example.com", "https://reporting.example.com/v1/tlsrpt"]) == (
        "v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt")


@pytest.mark.parametrize("ruas", [[], ["reports@example.com"], ["mailto:a@example.com,mailto:b@example.com"],
                                  ["mailto:a@example.com; v=TLSRPTv1"], ["http://reports.example.com/"],
                                  ["mailto:a@example.com!10m"], [None]])
def test_a_rua_no_reporter_could_use_is_refused(ruas):
    with pytest.raises(quoting.RenderValueError):
        tls_rpt_record(ruas)
