"""no-open-recursion, spf-valid and prod-zones-protected: violating and compliant stacks."""

from __future__ import annotations

import pytest
from hostview import evidence, stackview
from pack_builders import copy_file, named_checkconf, record, run, view_of, zone
from rules import dns as dns_rules

NS_HOST = "10.0.0.53"

OPEN_NAMED = """acl isp { 198.51.100.0/24; 10.0.0.0/8; };
options {
    directory "/var/cache/bind";
    allow-query { any; };
};
zone "example.net" { type primary; file "/etc/bind/db.example.net"; };
"""
CLOSED_NAMED = OPEN_NAMED.replace(
    "allow-query { any; };", "allow-query { any; };\n    allow-recursion { isp; };\n    allow-query-cache { isp; };")


def recursion(text: str, path: str = "/etc/bind/named.conf", config: dict | None = None) -> list[str]:
    raw = evidence.raw_resource(copy_file(NS_HOST, path, text))
    findings, skipped = run(dns_rules.open_recursion, raw, config)
    assert skipped is None
    return findings


def test_open_named_conf_is_reported_with_value_and_limit() -> None:
    assert named_checkconf(OPEN_NAMED).returncode == 0
    (message,) = recursion(OPEN_NAMED)
    assert message.startswith("/etc/bind/named.conf on 10.0.0.53: allow-recursion (inherited from allow-query) "
                              "in options admits any address ('any'")
    assert "recursion must be limited to our own blocks" in message


def test_closed_named_conf_passes() -> None:
    assert named_checkconf(CLOSED_NAMED).returncode == 0
    assert recursion(CLOSED_NAMED) == []


@pytest.mark.parametrize("path", ["/var/tmp/isp-staging/named.conf", "/etc/bind/named.conf.options.new",
                                  "/etc/bind/recursion.conf"])
def test_staged_and_split_files_are_judged_by_name(path: str) -> None:
    assert recursion(OPEN_NAMED, path)


def test_undefined_acl_and_unparsable_file_are_violations() -> None:
    (message,) = recursion("options { allow-recursion { trusted; }; };")
    assert "acl 'trusted'" in message and "does not define" in message
    broken = recursion("options { allow-recursion { any; };")
    assert broken and "does not parse" in broken[0]


def test_own_networks_config_narrows_the_limit() -> None:
    text = "options { allow-recursion { 198.51.100.0/24; 192.0.2.0/24; }; };"
    assert recursion(text) == []
    (message,) = recursion(text, config={"ownNetworks": ["198.51.100.0/24"]})
    assert "192.0.2.0" in message and "198.51.100.0/24" in message


def test_other_files_are_not_applicable() -> None:
    raw = evidence.raw_resource(copy_file(NS_HOST, "/etc/postfix/main.cf", "myhostname = x\n"))
    assert run(dns_rules.open_recursion, raw) == ([], "this resource delivers no BIND configuration (named.conf*)")


# ---------------------------------------------------------------------------------------
# spf-valid


def mail_zone(spf: list[str], extra=()) -> stackview.StackView:
    z = zone("example.net")
    resources = [z, record("example.net", "MX", "mail.example.net", 10, zone_resource=z),
                 record("mail.example.net", "A", "198.51.100.25", zone_resource=z),
                 *[record("example.net", "TXT", text, zone_resource=z, resource_name=f"spf{i}")
                   for i, text in enumerate(spf)], *extra]
    return view_of(*resources)


def spf(view: stackview.StackView, config: dict | None = None) -> list[str]:
    return run(dns_rules.spf_findings, view, config)[0]


def test_compliant_spf() -> None:
    assert spf(mail_zone(['"v=spf1 mx -all"'])) == []
    assert spf(mail_zone(["v=spf1 a:mail.example.net ~all"])) == []


@pytest.mark.parametrize("records,expected", [
    ([], "has MX records but no SPF record"),
    (["v=spf1 mx -all", "v=spf1 a -all"], "publishes 2 SPF records"),
    (["v=spf1 mx ip4:1.2.3.999 -all"], "SPF syntax error"),
    (["v=spf1 mx +all"], "ends with '+all'"),
    (["v=spf1 mx ?all"], "ends with '?all'"),
    (["v=spf1 mx"], "has no 'all' term"),
    (["v=spf1 ptr mx -all"], "uses 'ptr'"),
    (["v=spf1 ip4:192.0.2.0/24 -all"], "mail host 198.51.100.25 (MX target mail.example.net) gets SPF 'fail'"),
])
def test_spf_violations(records: list[str], expected: str) -> None:
    messages = spf(mail_zone(records))
    assert any(expected in m for m in messages), messages


def test_lookup_limit_boundary_and_config() -> None:
    ten = "v=spf1 mx " + " ".join(f"~include:i{i}.example.org" for i in range(8)) + " ?exists:e.example.org -all"
    eleven = ten.replace(" -all", " +a -all")
    assert spf(mail_zone([ten])) == []
    (message,) = spf(mail_zone([eleven]))
    assert "needs 11 DNS lookups, the limit is 10" in message
    assert spf(mail_zone([eleven]), {"lookupLimit": 11}) == []


def test_includes_in_the_stack_are_counted_and_followed() -> None:
    z = zone("example.net")
    inner = record("_spf.example.net", "TXT", "v=spf1 " + " ".join(["a"] * 10) + " -all", zone_resource=z,
                   resource_name="inner")
    messages = spf(mail_zone(["v=spf1 include:_spf.example.net -all"], extra=[inner]))
    assert any("needs 11 DNS lookups" in m for m in messages)


def test_no_mail_is_not_applicable() -> None:
    assert run(dns_rules.spf_findings, view_of(zone("example.net")), {})[1] == "no MX and no SPF record in the stack"


# ---------------------------------------------------------------------------------------
# prod-zones-protected


def protection(stack: str, protect: bool, config: dict | None = None):
    raw = evidence.raw_resource(zone("example.net", stack=stack, protect=protect))
    return run(dns_rules.zone_protection, raw, config)


def test_prod_zone_without_protect_is_reported() -> None:
    (message,), _ = protection("prod", False)
    assert message.startswith("zone example.net in production stack 'prod' has protect=False")


def test_prod_zone_with_protect_passes_and_dev_is_not_applicable() -> None:
    assert protection("prod", True) == ([], None)
    assert protection("dev", False)[1].startswith("stack 'dev' does not match")
    assert protection("production-eu", False, {"prodStackPattern": "^prod"})[0]
    assert "not a valid regular expression" in protection("prod", False, {"prodStackPattern": "("})[0][0]


def test_prod_zone_file_without_protect_is_reported():
    from hostview.evidence import RawResource
    from rules.dns import ProdZonesProtectedConfig, zone_protection

    config = ProdZonesProtectedConfig()

    def raw(path: str, protect: bool) -> RawResource:
        return RawResource("urn:pulumi:prod::p::command:remote:CopyToRemote::z", "command:remote:CopyToRemote", "z",
                           protect, {"remotePath": path, "host": "ns1.example.net"})

    unprotected = list(zone_protection(raw("/etc/bind/zones/isp-staging/db.100.51.198.in-addr.arpa", False), config))
    assert [type(o).__name__ for o in unprotected] == ["Finding"]
    assert "db.100.51.198.in-addr.arpa" in unprotected[0].message
    assert [type(o).__name__ for o in zone_protection(raw("/etc/bind/db.example.net", True), config)] == []
    assert [type(o).__name__ for o in zone_protection(raw("/etc/postfix/main.cf", False), config)] == ["NotApplicable"]
