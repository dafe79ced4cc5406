"""null-mx-alone and null-mx-sends-nothing: violating and compliant stacks, written as operators write them.

The shapes come from RFC 7505 §3 (`example.org. IN MX 0 .`, one MX alone), BIND's zone file syntax
(`$ORIGIN`, `@`, relative owners, `$TTL`, the class optional) and Cloudflare's MX record (content `.`
with priority 0, and the same record as the API may hand it back), never from our renderer's output.
"""

from __future__ import annotations

import pytest
from hostview import evidence
from pack_builders import SECRET, SIG, UNKNOWN, copy_file, record, resource, run, view_of, zone
from pulumi_policy import StackValidationArgs
from rules import nullmx

NS = "ns1.example.net"
SOA = "@ IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300\n@ IN NS ns1.example.net.\n"
NO_MAIL = 'example.org. 3600 IN MX 0 .\nexample.org. 3600 IN TXT "v=spf1 -all"\n' \
          '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.net"\n'


def zone_file(body: str, path: str = "/etc/bind/db.example.org", host: str = NS, **kw):
    return copy_file(host, path, "$TTL 3600\n" + SOA + body, **kw)


def alone(*resources) -> tuple[list[str], str | None]:
    return run(nullmx.null_mx_findings, view_of(*resources))


def senders(*resources) -> tuple[list[str], str | None]:
    return run(nullmx.null_mx_sender_findings, view_of(*resources))


# ---------------------------------------------------------------------------------------
# null-mx-alone: zone files


def test_the_rfc_example_alone_is_compliant_under_both_policies() -> None:
    assert alone(zone_file(NO_MAIL)) == ([], None)
    assert senders(zone_file(NO_MAIL)) == ([], None)


def test_a_null_mx_beside_a_second_mx_line_is_a_violation() -> None:
    (message,), reason = alone(zone_file(NO_MAIL + "example.org. 3600 IN MX 10 mail.example.net.\n"))
    assert message == ("example.org publishes the null MX (MX 0 .) and also MX 10 mail.example.net "
                       "(/etc/bind/db.example.org on ns1.example.net); RFC 7505 §3: a domain that advertises a null "
                       "MX MUST NOT advertise any other MX (senders may deliver to the other exchanger or bounce at "
                       "once); keep 'MX 0 .' alone for no mail, or only the real exchangers")
    assert reason is None


@pytest.mark.parametrize("text", [
    "@ MX 0 .\n@ MX 20 mx2\n",  # relative owner and exchange, class and TTL left out
    "$ORIGIN example.org.\n@ IN MX 0 .\nexample.org. IN MX 5 mail.example.org.\n",
    "$ORIGIN org.\nexample 60 IN MX 0 .\n$ORIGIN example.org.\n@ IN MX 10 mail\n",
])
def test_hand_written_owner_spellings_name_the_same_domain(text: str) -> None:
    (message,), _ = alone(zone_file(text))
    assert message.startswith("example.org publishes the null MX (MX 0 .) and also MX ")


def test_a_subdomain_with_a_null_mx_is_judged_apart_from_the_apex_mail() -> None:
    text = "@ MX 10 mail\nnoreply MX 0 .\nnoreply TXT \"v=spf1 -all\"\n_dmarc TXT \"v=DMARC1; p=reject\"\n"
    assert alone(zone_file(text)) == ([], None)
    # The apex's p=reject covers the subdomain (RFC 7489 §6.3: p applies when sp is absent).
    assert senders(zone_file(text)) == ([], None)


@pytest.mark.parametrize("preference", [10, 1, 65535])
def test_an_exchange_dot_with_another_preference_is_not_the_null_mx(preference: int) -> None:
    (message,), _ = alone(zone_file(f"@ IN MX {preference} .\n"))
    assert message.startswith(f"example.org: MX {preference} . (/etc/bind/db.example.org on ns1.example.net) is "
                              "not the null MX: RFC 7505 §3 defines it as preference 0 with exchange '.'")


def test_mx_10_dot_beside_a_null_mx_is_both_a_second_mx_and_not_a_null_mx() -> None:
    messages, _ = alone(zone_file("@ MX 0 .\n@ MX 10 .\n"))
    assert len(messages) == 2
    assert "MX 10 . (" in messages[0] and "and also MX 10 ." in messages[1]


def test_a_zone_file_written_by_a_command_heredoc_is_judged() -> None:
    text = "$TTL 3600\n" + SOA + "@ MX 0 .\n@ MX 10 mail.example.net.\n"
    command = resource("command:remote:Command", "zone-by-hand", {
        "connection": {SIG: SECRET, "value": {"host": NS, "user": "root", "privateKey": "k"}},
        "create": f"cat > /etc/bind/db.example.org <<'EOF'\n{text}EOF\nrndc reload\n"})
    (message,), _ = alone(command)
    assert "(/etc/bind/db.example.org on ns1.example.net (heredoc in command zone-by-hand" in message


def test_each_publisher_is_judged_alone_and_identical_copies_are_one_finding() -> None:
    # Cloudflare answers MX 10 mail; the lab's BIND file answers MX 0 . alone: no resolver sees both.
    z = zone("example.org")
    assert alone(z, record("example.org", "MX", "mail.example.net", 10, zone_resource=z),
                 zone_file("@ MX 0 .\n")) == ([], None)
    staged = zone_file("@ MX 0 .\n@ MX 10 mail\n", path="/etc/bind/zones/isp-staging/db.example.org", name="staged")
    (message,), _ = alone(zone_file("@ MX 0 .\n@ MX 10 mail\n"), staged)
    assert message.endswith("(/etc/bind/db.example.org on ns1.example.net, /etc/bind/zones/isp-staging/"
                            "db.example.org on ns1.example.net); RFC 7505 §3: a domain that advertises a null MX "
                            "MUST NOT advertise any other MX (senders may deliver to the other exchanger or bounce "
                            "at once); keep 'MX 0 .' alone for no mail, or only the real exchangers")


def test_an_include_the_reader_does_not_follow_is_not_judged_never_a_pass() -> None:
    messages, reason = alone(zone_file('@ MX 0 .\n$INCLUDE "/etc/bind/mx.inc"\n'))
    assert messages == []
    assert reason == ('not judged: /etc/bind/db.example.org on ns1.example.net: line 5: $INCLUDE "/etc/bind/mx.inc" '
                      "is not followed (MX records there are not read)")


def test_no_dot_exchange_anywhere_is_not_applicable() -> None:
    assert alone(zone_file("@ MX 10 mail\n")) == ([], "no MX record in the stack has the exchange '.'")


# ---------------------------------------------------------------------------------------
# null-mx-alone: Cloudflare records, zone ids unknown at preview


@pytest.mark.parametrize("content,priority", [(".", 0), ("", 0), ("0 .", None)])
def test_a_cloudflare_null_mx_as_written_or_as_stored_is_the_null_mx(content: str, priority: int | None) -> None:
    z = zone("example.org")
    null = record("@", "MX", content, priority, zone_resource=z, resource_name="null-mx")
    assert alone(z, null) == ([], None)
    (message,), _ = alone(z, null, record("example.org", "MX", "mail.example.net", 10, zone_resource=z))
    assert message.startswith("example.org publishes the null MX (MX 0 .) and also MX 10 mail.example.net "
                              "(Cloudflare)")


def test_a_cloudflare_mx_dot_with_priority_10_is_a_violation() -> None:
    z = zone("example.org")
    (message,), _ = alone(z, record("@", "MX", ".", 10, zone_resource=z))
    assert message.startswith("example.org: MX 10 . (Cloudflare) is not the null MX")


def test_the_zone_id_unknown_at_preview_does_not_change_the_verdict() -> None:
    # At preview zoneId is unknown (the builder sends it so); the record is placed through its dependency.
    z = zone("example.org")
    preview = [z, record("@", "MX", ".", 0, zone_resource=z), record("@", "MX", "mx.example.org", 20, zone_resource=z)]
    up = [resource("cloudflare:index/zone:Zone", "example-org", {"name": "example.org", "id": "0123abcd"}),
          *[resource("cloudflare:index/dnsRecord:DnsRecord", f"mx{i}", {
              "name": "example.org", "type": "MX", "content": content, "priority": priority, "zoneId": "0123abcd"})
            for i, (content, priority) in enumerate([(".", 0), ("mx.example.org", 20)])]]
    assert alone(*preview)[0] == alone(*up)[0] != []


def test_a_record_value_unknown_at_preview_waits_for_up() -> None:
    z = zone("example.org")
    later = resource("cloudflare:index/dnsRecord:DnsRecord", "later-mx", {
        "name": "example.org", "type": "MX", "content": UNKNOWN, "priority": 10, "zoneId": UNKNOWN}, zone=z)
    with pytest.raises(evidence.UnknownValueError) as raised:
        alone(z, record("@", "MX", ".", 0, zone_resource=z), later)
    assert raised.value.message == "null MX judged at up: DNS record later-mx (MX) has a value unknown during preview"


def test_the_policy_reports_through_the_sdk_at_its_level() -> None:
    reported = []
    policy = nullmx.null_mx_findings.declaration.policy()
    policy.validate(StackValidationArgs([zone_file("@ MX 0 .\n@ MX 10 mail\n")], {}),
                    lambda message, urn: reported.append((message, urn)))
    assert [urn.rsplit("::", 1)[-1] for _m, urn in reported] == ["ns1-example-net--etc-bind-db-example-org"]
    assert policy.enforcement_level.value == "mandatory"


# ---------------------------------------------------------------------------------------
# null-mx-sends-nothing


@pytest.mark.parametrize("spf,expected", [
    (None, "example.org publishes the null MX but publishes no SPF record ("),
    ("v=spf1 ~all", "has SPF 'v=spf1 ~all', which does not end in '-all'"),
    ("v=spf1 mx -all", "has SPF 'v=spf1 mx -all', where mx can pass"),
    ("v=spf1 include:_spf.example.net -all", "where include:_spf.example.net can pass"),
    ("v=spf1 redirect=_spf.example.net", "which does not end in '-all'"),
    ("v=spf1 -all -all ip4:192.0.2.0/24 extra", "has an SPF syntax error"),
])
def test_a_null_mx_name_whose_spf_could_authorise_a_sender(spf: str | None, expected: str) -> None:
    body = NO_MAIL.replace('"v=spf1 -all"', f'"{spf}"') if spf else NO_MAIL.replace(
        'example.org. 3600 IN TXT "v=spf1 -all"\n', "")
    (message,), _ = senders(zone_file(body))
    assert expected in message
    assert message.endswith("publish 'v=spf1 -all' and 'v=DMARC1; p=reject' so receivers reject mail forged in its "
                            "name (RFC 7505 §4.2-4.3)")


@pytest.mark.parametrize("spf", ["v=spf1 -all", "V=SPF1 -ALL", "v=spf1 -ip4:192.0.2.1 ?a -all",
                                 "v=spf1 -all ip4:192.0.2.0/24", "v=spf1 -all redirect=_spf.example.net"])
def test_spf_that_passes_nobody_is_compliant(spf: str) -> None:
    assert nullmx.spf_problem([spf, "google-site-verification=abc"]) is None


def test_two_spf_records_are_a_permerror() -> None:
    assert nullmx.spf_problem(["v=spf1 -all", "v=spf1 -all"]).startswith("publishes 2 SPF records (a permerror")


@pytest.mark.parametrize("dmarc,expected", [
    (None, "has no DMARC record at _dmarc.example.org"),
    ("v=DMARC1; p=none", "'v=DMARC1; p=none' gives p=none, not reject"),
    ("v=DMARC1; p=quarantine", "gives p=quarantine, not reject"),
    ("v=DMARC1; p=reject; pct=50", "rejects only pct=50 of forged mail"),
    ("v=DMARC1; rua=mailto:d@example.net", "has no p= tag"),
    ("v=dmarc1; p=reject", "has no DMARC record"),  # not DMARC1 exactly: receivers discard it (RFC 7489 §6.6.3)
])
def test_a_null_mx_name_without_dmarc_reject(dmarc: str | None, expected: str) -> None:
    line = '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.net"\n'
    body = NO_MAIL.replace(line, f'_dmarc.example.org. IN TXT "{dmarc}"\n' if dmarc else "")
    (message,), _ = senders(zone_file(body))
    assert expected in message, message


def test_a_subdomain_takes_sp_from_its_domain() -> None:
    text = "@ MX 10 mail\nnoreply MX 0 .\nnoreply TXT \"v=spf1 -all\"\n_dmarc TXT \"v=DMARC1; p=reject; sp=none\"\n"
    (message,), _ = senders(zone_file(text))
    assert "_dmarc.example.org 'v=DMARC1; p=reject; sp=none' gives sp=none, not reject" in message


def test_cloudflare_no_mail_records_as_an_operator_writes_them() -> None:
    z = zone("example.org")
    records = [record("@", "MX", ".", 0, zone_resource=z), record("@", "TXT", '"v=spf1 -all"', zone_resource=z),
               record("_dmarc", "TXT", "v=DMARC1; p=reject;", zone_resource=z)]
    assert senders(z, *records) == ([], None)
    (message,), _ = senders(z, *records[:2])
    assert message.startswith("example.org publishes the null MX but has no DMARC record at _dmarc.example.org "
                              "(Cloudflare)")


def test_mx_10_dot_is_no_null_mx_so_sends_nothing_does_not_apply() -> None:
    assert senders(zone_file("@ MX 10 .\n")) == ([], "no name in the stack publishes the null MX (MX 0 .)")


def test_a_subdomain_zone_takes_the_policy_of_its_domains_zone_from_another_publisher() -> None:
    # pool.example.org is a BIND zone of ours; example.org, with its DMARC record, is on Cloudflare.
    z = zone("example.org")
    pool = zone_file('@ MX 0 .\n@ TXT "v=spf1 -all"\n', path="/etc/bind/db.pool.example.org")
    assert senders(z, pool, record("_dmarc", "TXT", "v=DMARC1; p=reject", zone_resource=z)) == ([], None)
    (message,), _ = senders(z, pool, record("_dmarc", "TXT", "v=DMARC1; p=reject; sp=none", zone_resource=z))
    assert message.startswith("pool.example.org publishes the null MX but _dmarc.example.org 'v=DMARC1; p=reject; "
                              "sp=none' gives sp=none, not reject (/etc/bind/db.pool.example.org on ns1.example.net)")
    (message,), _ = senders(pool)
    assert "has no DMARC record at _dmarc.pool.example.org (" in message


def test_a_name_in_no_zone_of_the_stack_without_dmarc_is_not_judged() -> None:
    null = resource("cloudflare:index/dnsRecord:DnsRecord", "null", {
        "name": "noreply.example.org", "type": "MX", "content": ".", "priority": 0, "zoneId": "given-by-hand"})
    spf = resource("cloudflare:index/dnsRecord:DnsRecord", "spf", {
        "name": "noreply.example.org", "type": "TXT", "content": "v=spf1 -all", "zoneId": "given-by-hand"})
    assert senders(null, spf) == ([], "not judged: noreply.example.org: no DMARC record in the stack, and its "
                                      "domain's may be published outside it")


def test_a_zone_file_whose_text_is_unknown_at_preview_waits_for_up() -> None:
    later = resource("command:remote:CopyToRemote", "later-zone", {
        "connection": {"host": NS}, "remotePath": "/etc/bind/db.example.com", "source": UNKNOWN})
    with pytest.raises(evidence.UnknownValueError) as raised:
        alone(zone_file(NO_MAIL), later)
    assert raised.value.message == ("null MX judged at up: /etc/bind/db.example.com on ns1.example.net: the source "
                                    "is unknown during preview")
