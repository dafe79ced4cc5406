"""The pack through the real pulumi_policy SDK: the servicer the PolicyPack would serve, fed the
protobuf requests the engine sends (without starting a server: PolicyPack() serves forever).

Proves: metadata (ids, severity, enforcement, URLs, config defaults), that verdicts at a first
preview (ids and zoneIds unknown) equal those at update, that unknown file contents give the
SDK's advisory instead of a crash, and that odd input never lets an exception escape.
"""

from __future__ import annotations

import re

import pytest
from pack_builders import ASSET, SIG, UNKNOWN, urn
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Severity
from sdk_requests import POLICIES, copy, diagnostics, servicer, stack_resource, struct

MANDATORY = {"no-open-recursion", "dns-not-cohosted-with-web", "mail-host-fcrdns", "prod-zones-protected",
             "webmail-certificate-matches", "null-mx-alone", "dmarc-enforcement-needs-dkim",
             "dkim-record-matches-signing-key", "mta-sts-policy-matches-mx",
             "mta-sts-enforce-needs-mx-certificates"}










NAMED_OPEN = 'options { directory "/var/cache/bind"; allow-query { any; }; };\n'
NGINX = "server { listen 80; server_name www.example.net; }\n"


def the_stack(known: bool) -> list[proto.AnalyzerResource]:
    """One stack, as AnalyzeStack sees it at a first preview (known=False) or after an update."""
    zone_id = "0123456789abcdef0123456789abcdef" if known else UNKNOWN
    zone_urn = urn("dev", "cloudflare:index/zone:Zone", "example-net")
    zone = stack_resource("cloudflare:index/zone:Zone", "example-net",
                          {"name": "example.net", "account": {"id": "0" * 32}, "id": zone_id})

    def rec(label: str, name: str, rtype: str, content: str, **extra) -> proto.AnalyzerResource:
        props = {"name": name, "type": rtype, "content": content, "ttl": 1, "zoneId": zone_id,
                 "id": f"rec-{label}" if known else UNKNOWN, **extra}
        return stack_resource("cloudflare:index/dnsRecord:DnsRecord", label, props, deps={"zoneId": [zone_urn]})

    return [
        stack_resource("pulumi:pulumi:Stack", "isp-dev", {}),
        zone,
        rec("mx", "example.net", "MX", "mail.example.net", priority=10),
        rec("mail", "mail", "A", "203.0.113.25"),  # relative: placed through the zoneId dependency
        rec("ns1", "ns1.example.net", "A", "203.0.113.53"),
        rec("ns", "example.net", "NS", "ns1.example.net"),
        rec("www", "www.example.net", "A", "203.0.113.53"),
        rec("spf", "example.net", "TXT", '"v=spf1 mx ?all"'),
        copy("named", "10.0.0.53", "/etc/bind/named.conf", NAMED_OPEN),
        copy("site", "10.0.0.53", "/etc/nginx/sites-available/www", NGINX),
    ]




# ---------------------------------------------------------------------------------------


def test_policy_metadata() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 24
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)
    for policy in POLICIES:
        assert policy.description.endswith(".") and policy.description.count(". ") == 0, policy.name
        assert policy.url.startswith("https://") and policy.remediation_steps, policy.name
        assert isinstance(policy.severity, Severity)
        expected = EnforcementLevel.MANDATORY if policy.name in MANDATORY else EnforcementLevel.ADVISORY
        assert policy.enforcement_level == expected, policy.name
        if policy.name in MANDATORY - {"prod-zones-protected"}:
            assert policy.severity == Severity.HIGH
    defaults = {p.name: {k: v.get("default") for k, v in p.config_schema.properties.items()}
                for p in POLICIES if p.config_schema}
    assert defaults["daily-send-limit"] == {"dailyLimitCeiling": 250}
    assert defaults["message-size-limit"] == {"maxMessageSizeBytes": 50 * 1024 * 1024}
    assert defaults["spf-valid"] == {"lookupLimit": 10}
    assert defaults["webmail-certificate-matches"] == {"webmailLabels": ["webmail"], "minimumDaysValid": 0}


def test_analyzer_info_through_the_sdk() -> None:
    info = servicer().GetAnalyzerInfo(None, None)
    by_name = {p.name: p for p in info.policies}
    assert set(by_name) == {p.name for p in POLICIES}
    assert by_name["no-open-recursion"].enforcementLevel == proto.MANDATORY
    assert by_name["no-open-recursion"].policy_type == proto.PolicyType.POLICY_TYPE_STACK  # per host, all files
    assert by_name["spf-valid"].policy_type == proto.PolicyType.POLICY_TYPE_STACK
    assert by_name["mail-host-fcrdns"].severity == proto.POLICY_SEVERITY_HIGH
    assert by_name["daily-send-limit"].configSchema.properties["dailyLimitCeiling"]["default"] == 250
    assert by_name["spf-valid"].url == "https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4"


def test_preview_verdicts_equal_update_verdicts() -> None:
    preview = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=the_stack(known=False)), None)
    update = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=the_stack(known=True)), None)
    assert diagnostics(preview) == diagnostics(update)
    found = {(name, level) for name, _, level, _ in diagnostics(preview)}
    # ns1 and www share 203.0.113.53, and one host gets named.conf and an nginx site.
    assert ("dns-not-cohosted-with-web", proto.MANDATORY) in found
    assert ("mail-host-fcrdns", proto.MANDATORY) in found  # no PTR for 203.0.113.25
    assert ("spf-valid", proto.ADVISORY) in found  # ?all
    assert not any("can't run" in message for _, message, _, _ in diagnostics(preview))
    fcrdns = [m for n, m, _, _ in diagnostics(preview) if n == "mail-host-fcrdns"]
    assert "MX target mail.example.net (MX of example.net) has address 203.0.113.25 with no PTR" in fcrdns[0]


def test_open_recursion_through_analyze() -> None:
    named = copy("named", "10.0.0.53", "/etc/bind/named.conf", NAMED_OPEN)
    response = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=[named]), None)
    (diag,) = [d for d in response.diagnostics if d.policyName == "no-open-recursion"]
    assert diag.enforcementLevel == proto.MANDATORY and diag.severity == proto.POLICY_SEVERITY_HIGH
    assert diag.urn == named.urn
    assert ("10.0.0.53: recursion open to any \u2014 the options block (named.conf) leaves recursion at its default "
            "(yes) and has no allow-recursion, inheriting allow-query { any; }") in diag.message


def test_unknown_file_content_is_the_sdk_preview_advisory() -> None:
    named = copy("named", "10.0.0.53", "/etc/bind/named.conf", UNKNOWN)
    response = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=[named]), None)
    (diag,) = [d for d in response.diagnostics if d.policyName == "no-open-recursion"]
    assert diag.enforcementLevel == proto.ADVISORY
    assert diag.message == ("can't run policy 'no-open-recursion' from policy pack 'isp-lessons@v0.1.0' during "
                            "preview: 10.0.0.53: recursion judged at up: named.conf: the source is unknown during "
                            "preview")


def test_unknown_values_in_a_stack_never_escape() -> None:
    resources = the_stack(known=False) + [
        stack_resource("cloudflare:index/dnsRecord:DnsRecord", "computed",
                       {"name": "x.example.net", "type": "A", "content": UNKNOWN, "zoneId": UNKNOWN}),
        copy("later", UNKNOWN, "/etc/postfix/main.cf", UNKNOWN),
        stack_resource("command:remote:CopyToRemote", "unknown-connection",
                       {"connection": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", "remotePath": UNKNOWN,
                        "source": {SIG: ASSET, "text": "x"}}),
    ]
    response = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    assert not any("could not" in d.message for d in response.diagnostics), diagnostics(response)
    # A main.cf whose text is unknown at preview: the Postfix rules wait for `up` (the SDK's "can't run
    # during preview"), as a resource policy on that file would; nothing else does.
    waiting = {d.policyName for d in response.diagnostics if "can't run" in d.message}
    assert waiting <= {"smtp-banner-matches-ptr", "submission-requires-auth", "daily-send-limit",
                       "message-size-limit", "maildir-not-mbox"}, diagnostics(response)
    fcrdns = [d.message for d in response.diagnostics if d.policyName == "mail-host-fcrdns"]
    assert fcrdns and "(note: unknown during preview: " in fcrdns[0] and "content of DNS record computed" in fcrdns[0]


@pytest.mark.parametrize("props", [
    {"name": 5, "type": ["A"], "content": {"a": 1}, "priority": "ten"},
    {"name": "", "type": "MX", "content": "", "priority": -3},
    {},
])
def test_odd_record_types_never_escape(props) -> None:
    resources = [stack_resource("cloudflare:index/dnsRecord:DnsRecord", "odd", props),
                 stack_resource("cloudflare:index/zone:Zone", "z", {"name": 42}),
                 stack_resource("command:remote:CopyToRemote", "odd-copy",
                                {"connection": [], "source": 7, "remotePath": {"x": 1}}),
                 copy("bad-zone", "10.0.0.53", "/etc/bind/db.example.net", "@ IN SOA (((\n"),
                 copy("bad-nft", "10.0.0.1", "/etc/nftables.conf", "table {{{ ;;; }"),
                 copy("bad-main", "10.0.1.25", "/etc/postfix/main.cf", "= = =\n\x00\n")]
    response = servicer().AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None)
    assert not any("could not" in d.message for d in response.diagnostics), diagnostics(response)
    for resource in resources:
        request = proto.AnalyzeRequest(type=resource.type, properties=resource.properties, urn=resource.urn,
                                       name=resource.name, options=resource.options)
        servicer().Analyze(request, None)  # must not raise


def test_configure_overrides_levels_and_thresholds() -> None:
    sdk = servicer()
    sdk.Configure(proto.ConfigureAnalyzerRequest(policyConfig={
        "spf-valid": proto.PolicyConfig(enforcementLevel=proto.MANDATORY, properties=struct({"lookupLimit": 1})),
        "dns-not-cohosted-with-web": proto.PolicyConfig(enforcementLevel=proto.DISABLED),
    }), None)
    resources = the_stack(known=True)
    resources[7] = stack_resource("cloudflare:index/dnsRecord:DnsRecord", "spf", {
        "name": "example.net", "type": "TXT", "content": "v=spf1 mx a -all", "ttl": 1})
    found = diagnostics(sdk.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None))
    assert not any(name == "dns-not-cohosted-with-web" for name, *_ in found)
    (spf,) = [(m, level) for name, m, level, _ in found if name == "spf-valid"]
    assert "needs 2 DNS lookups, the limit is 1" in spf[0] and spf[1] == proto.MANDATORY
