"""no-open-recursion, spf-valid and prod-zones-protected: violating and compliant stacks."""

from __future__ import annotations

import pytest
from hostview import evidence, stackview
from pack_builders import UNKNOWN, copy_file, named_checkconf, record, resource, run, view_of, zone
from pulumi_policy import StackValidationArgs
from rules import dns as dns_rules
from rules import kit as rulekit

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
# Debian's split configuration as README.Debian and the BIND 9.18 ARM have operators write it.
NAMED = 'include "/etc/bind/named.conf.options";\ninclude "/etc/bind/named.conf.local";\n'
OPTIONS_ANY = 'options {\n\tdirectory "/var/cache/bind";\n\tallow-query { any; };\n};\n'
LOCAL_RESOLVER = 'view "resolver" {\n\trecursion yes;\n\tinclude "/etc/bind/named.conf.default-zones";\n};\n'
OPTIONS_TRUSTED = ('options {\n\tdirectory "/var/cache/bind";\n\tallow-query { any; };\n'
                   '\tallow-recursion { trusted; };\n\tallow-query-cache { trusted; };\n};\n')
LOCAL_TRUSTED = 'acl trusted { 198.51.100.0/24; 10.0.0.0/8; };\n'


def ns1(files: dict[str, str], *extra) -> stackview.StackView:
    z = zone("example.net")
    return view_of(z, record("ns1.example.net", "A", "198.51.100.53", zone_resource=z),
                   *[copy_file("ns1.example.net", path, text, name=path.rsplit("/", 1)[-1].replace(".", "-"))
                     for path, text in files.items()], *extra)


def recursion(files: dict[str, str] | str, path: str = "/etc/bind/named.conf",
              config: dict | None = None) -> tuple[list[str], str | None]:
    view = ns1(files) if isinstance(files, dict) else view_of(copy_file(NS_HOST, path, files))
    return run(dns_rules.open_recursion, view, config)


def test_the_issue_example_names_the_host_the_files_and_the_effective_value() -> None:
    (message,), reason = recursion({"/etc/bind/named.conf": NAMED, "/etc/bind/named.conf.options": OPTIONS_ANY,
                                    "/etc/bind/named.conf.local": LOCAL_RESOLVER})
    assert message.startswith('ns1.example.net (198.51.100.53): recursion open to any — view "resolver" '
                              "(named.conf.local) has recursion yes and no allow-recursion, inheriting allow-query "
                              "{ any; } (named.conf.options); recursion must be limited to our own blocks")
    assert reason is None


def test_the_finding_points_at_the_file_that_opens_recursion() -> None:
    view = ns1({"/etc/bind/named.conf": NAMED, "/etc/bind/named.conf.options": OPTIONS_ANY,
                "/etc/bind/named.conf.local": LOCAL_RESOLVER})
    (finding,) = list(dns_rules.open_recursion(view, dns_rules.NoOpenRecursionConfig()))
    assert finding.urn.endswith("::named-conf-options")


def test_open_named_conf_is_reported_with_value_and_limit() -> None:
    assert named_checkconf(OPEN_NAMED).returncode == 0
    (message,), _ = recursion(OPEN_NAMED)
    assert message == ("10.0.0.53: recursion open to any — the options block (named.conf) leaves recursion at its "
                       "default (yes) and has no allow-recursion, inheriting allow-query { any; }; recursion must be "
                       "limited to our own blocks (no wider than a /8 for IPv4 or a /32 for IPv6)")


def test_closed_named_conf_passes() -> None:
    assert named_checkconf(CLOSED_NAMED).returncode == 0
    assert recursion(CLOSED_NAMED) == ([], None)


def test_an_acl_defined_in_another_file_of_the_host_is_normal() -> None:
    files = {"/etc/bind/named.conf.options": OPTIONS_TRUSTED, "/etc/bind/named.conf.local": LOCAL_TRUSTED}
    assert recursion(files) == ([], None)
    opened = {**files, "/etc/bind/named.conf.local": "acl trusted { any; };\n"}
    (message,), _ = recursion(opened)
    assert ("the options block (named.conf.options) leaves recursion at its default (yes) and has allow-recursion "
            "{ trusted; }; acl trusted (named.conf.local) admits any;") in message


def test_recursion_no_in_options_reopened_by_a_view_of_another_file() -> None:
    options = OPTIONS_ANY.replace("\tallow-query", "\trecursion no;\n\tallow-query")
    (message,), _ = recursion({"/etc/bind/named.conf": NAMED, "/etc/bind/named.conf.options": options,
                               "/etc/bind/named.conf.local": LOCAL_RESOLVER})
    assert 'view "resolver" (named.conf.local) has recursion yes and no allow-recursion' in message
    closed = LOCAL_RESOLVER.replace("recursion yes;", "recursion yes;\n\tallow-recursion { 198.51.100.0/24; };")
    assert recursion({"/etc/bind/named.conf": NAMED, "/etc/bind/named.conf.options": options,
                      "/etc/bind/named.conf.local": closed}) == ([], None)


@pytest.mark.parametrize("path,judged", [("/var/tmp/isp-staging/named.conf", True),
                                         ("/etc/bind/named.conf.options.new", True),
                                         ("/etc/named.conf", True),
                                         ("/etc/bind/recursion.conf", False)])
def test_staged_and_split_files_are_judged_where_bind_reads_them(path: str, judged: bool) -> None:
    findings, reason = recursion(OPEN_NAMED, path)
    assert bool(findings) is judged
    if not judged:  # nothing includes it, so BIND never reads it
        assert reason == ("not judged: 10.0.0.53: /etc/bind/recursion.conf is delivered but no named.conf includes "
                          "it, so BIND does not read it (not judged)")


def test_what_named_refuses_or_the_pack_cannot_see_is_not_judged_never_a_violation() -> None:
    assert recursion("options { allow-recursion { trusted; }; };") == (
        [], "not judged: 10.0.0.53: acl 'trusted' is used but defined in no file of named.conf; named refuses the "
            "configuration")
    findings, reason = recursion("options { allow-recursion { any; };")
    assert findings == [] and "does not parse" in reason
    findings, reason = recursion({"/etc/bind/named.conf.options": OPTIONS_ANY,
                                  "/etc/bind/named.conf.local": 'include "/etc/bind/customers.acl";\n'})
    assert findings == [] and reason.startswith(
        'not judged: ns1.example.net (198.51.100.53): named.conf.local line 1: include "/etc/bind/customers.acl" '
        "names /etc/bind/customers.acl, which the stack does not deliver and Debian does not ship")


def test_a_local_resolver_listening_on_loopback_only_is_closed() -> None:
    text = "options { listen-on { 127.0.0.1; }; listen-on-v6 { ::1; }; allow-recursion { any; }; };"
    assert named_checkconf(text).returncode == 0
    assert recursion(text) == ([], None)
    assert recursion(text.replace("{ ::1; }", "{ any; }"))[0]


def test_own_networks_config_narrows_the_limit() -> None:
    text = "options { allow-recursion { 198.51.100.0/24; 192.0.2.0/24; }; };"
    assert recursion(text) == ([], None)
    (message,), _ = recursion(text, config={"ownNetworks": ["198.51.100.0/24"]})
    assert "recursion open to 192.0.2.0/24" in message and message.endswith("our own blocks 198.51.100.0/24")


def test_no_bind_anywhere_is_not_applicable() -> None:
    view = view_of(copy_file(NS_HOST, "/etc/postfix/main.cf", "myhostname = x\n"))
    assert run(dns_rules.open_recursion, view) == (
        [], "no host receives BIND configuration (named.conf*) or installs bind9")


def test_unknown_text_at_preview_waits_for_up_host_by_host() -> None:
    unknown = resource("command:remote:CopyToRemote", "later-options", {
        "connection": {"host": "10.0.0.54"}, "remotePath": "/etc/bind/named.conf.options", "source": UNKNOWN})
    view = view_of(copy_file(NS_HOST, "/etc/bind/named.conf", OPEN_NAMED), unknown,
                   copy_file("10.0.0.54", "/etc/bind/named.conf.local", LOCAL_TRUSTED))
    declaration = dns_rules.open_recursion.declaration
    verdict = rulekit.judge(dns_rules.open_recursion, view, rulekit.typed_config(declaration.config, {}),
                            declaration.id)
    # The host whose files are known is judged; the other waits for `up`, so the SDK says "can't run".
    assert [f.message.split(":")[0] for f in verdict.findings] == ["10.0.0.53"]
    error = verdict.unknown()
    assert error is not None and error.message == (
        "10.0.0.54: recursion judged at up: named.conf.options: the source is unknown during preview")
    with pytest.raises(evidence.UnknownValueError):
        run(dns_rules.open_recursion, view)


def test_the_wrapper_reports_findings_then_notes_without_blocking_on_them() -> None:
    resources = [copy_file(NS_HOST, "/etc/bind/named.conf", OPEN_NAMED),
                 copy_file("10.0.0.54", "/etc/bind/named.conf.local", 'include "/etc/bind/missing.conf";\n')]
    reported = []
    policy = dns_rules.open_recursion.declaration.policy()
    with pytest.raises(Exception) as raised:
        policy.validate(StackValidationArgs(resources, {}), lambda message, urn: reported.append((message, urn)))
    assert type(raised.value).__name__ == "_NotApplicableError"
    assert raised.value.reason.startswith('not judged: 10.0.0.54: named.conf.local line 1: include '
                                          '"/etc/bind/missing.conf"')
    assert [(m.split(":")[0], urn.rsplit("::", 1)[-1]) for m, urn in reported] == [
        ("10.0.0.53", "10-0-0-53--etc-bind-named-conf")]


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
