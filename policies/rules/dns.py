"""DNS lessons: no open recursion (3), SPF (6), and protected production zones.

`prod-zones-protected` is MANDATORY by default (the issue suggested advisory unless
argued). The argument: `protect` is a resource option, fully known at every preview, so
the check has no unknowns and no false positives; the harm it prevents is total (deleting
a production zone drops every record of the domain: web, mail, SPF, the PTR zones with it,
and Cloudflare does not undelete); and the deliberate path stays open and auditable (set
this policy to advisory in the pack config for the one run that retires a zone, after
`protect` was lifted on purpose). An advisory would be read after the zone is gone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import values
from hostview import evidence, mailview, stackview
from pulumi_policy import Severity
from pulumi_policy.proxy import UNKNOWN_ASSET_VALUE, UnknownValueError
from readers import bindconf, spfrecord
from values import AddressSet

from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Outcome, declare, setting

# ---------------------------------------------------------------------------------------
# no-open-recursion


def _own_networks(own_networks: tuple[str, ...]) -> list:
    out = []
    for text in own_networks:
        try:
            out.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            continue
    return out


def _describe(entries: list[tuple[bindconf.AclEntry, AddressSet]]) -> str:
    ranked = sorted(entries, key=lambda item: -(item[1].size(4) * 2**96 + item[1].size(6)))
    return ", ".join(f"'{entry.origin}'" for entry, _ in ranked[:3])


def judge_named_conf(f: evidence.HostFile, own_networks: list) -> Iterator[Finding]:
    """Open-recursion findings for one delivered named.conf (pure: text in, messages out)."""
    if f.text is None:
        yield Finding(f"{f.label}: cannot read the file ({f.problem}); the pack must see the BIND config "
                      "to rule out open recursion")
        return
    conf = bindconf.parse_named_conf(f.text)
    for problem in conf.problems[:3]:
        yield Finding(f"{f.label}: does not parse ({problem}); named would refuse it and the recursion ACL "
                      "cannot be judged")
    if conf.problems:
        return
    resolver = bindconf.AclResolver(conf.acls)
    scopes = bindconf.recursion_scopes(conf, resolver)
    for name in dict.fromkeys(resolver.unresolved):
        yield Finding(f"{f.label}: uses acl '{name}' which this file does not define; define the acl where it is "
                      "used so the recursion ACL can be checked (named-checkconf fails on undefined ACLs)")
    limit = ("our own blocks " + ", ".join(map(str, own_networks))) if own_networks else \
        "our own blocks (no wider than a /8 for IPv4 or a /32 for IPv6)"
    for scope in scopes:
        if not scope.recursion or not bindconf.is_open(scope.admitted, own_networks):
            continue
        sample = bindconf.outside(scope.admitted, own_networks).sample()
        where = "" if scope.scope == "options" else f" for the clients of {scope.scope}"
        yield Finding(
            f"{f.label}: {scope.source}{where} admits any address ({_describe(scope.contributions)}; "
            f"e.g. {sample}); recursion must be limited to {limit}")


@dataclass(frozen=True)
class NoOpenRecursionConfig:
    own_networks: tuple[str, ...] = setting(
        (), 'Our own blocks; when set, any admitted address outside them (and outside private ranges) is open.')


@declare(
    "no-open-recursion", lesson=3, level=MANDATORY, severity=Severity.HIGH,
    resource_types=set(evidence.FILE_TYPES), config=NoOpenRecursionConfig,
    description="BIND must answer recursive queries only for our own address blocks, never for any address.",
    remediation="In options and in every view set `allow-recursion { our_nets; };` and "
                     "`allow-query-cache { our_nets; };` with `acl our_nets { <our blocks>; };`, or `recursion no;` "
                     "on authoritative-only servers. `allow-query { any; };` alone opens recursion: BIND falls back "
                     "to it.",
    url="https://bind9.readthedocs.io/en/v9.18.0/reference.html#namedconf-statement-allow-recursion",
    tags=["dns", "lesson-3"],
)
def open_recursion(raw: evidence.RawResource, config: Mapping[str, Any]) -> Iterator[Outcome]:
    files = [f for f in evidence.files_of(raw) if f.kind == "bind"]
    if not files:
        yield NotApplicable("this resource delivers no BIND configuration (named.conf*)")
        return
    for f in files:
        if f.text is None and f.problem and "unknown" in f.problem:
            # Let the SDK say "can't run during preview"; at update the text is known and judged.
            raise UnknownValueError(UNKNOWN_ASSET_VALUE, ["source"])
        yield from judge_named_conf(f, _own_networks(config.own_networks))


# ---------------------------------------------------------------------------------------
# spf-valid


def _is_forward(name: str) -> bool:
    return not name.endswith(".arpa")


@dataclass(frozen=True)
class SpfValidConfig:
    lookup_limit: int = setting(10, 'Most DNS-querying SPF terms allowed (RFC 7208: 10).', minimum=1)


@declare(
    "spf-valid", lesson=6, level=ADVISORY, severity=Severity.MEDIUM,
    config=SpfValidConfig,
    description="Every mail domain publishes exactly one valid SPF record that authorises our mail hosts.",
    remediation="Publish one TXT 'v=spf1 ...' per mail domain: list our mail hosts with ip4:/ip6:/a/mx, keep "
                     "DNS-querying terms (include, a, mx, ptr, exists, redirect) at 10 or fewer, avoid ptr, end with "
                     "-all.",
    url="https://www.rfc-editor.org/rfc/rfc7208#section-4.6.4",
    tags=["dns", "mail", "lesson-6"],
)
def spf_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    limit = config.lookup_limit
    mx_names = {f.rec.name for f in view.of_type("MX") if _is_forward(f.rec.name)}
    spf_names = {f.rec.name for f in view.of_type("TXT") if spfrecord.is_spf(f.rec.value)}
    names = sorted(mx_names | spf_names)
    if not names:
        yield NotApplicable("no MX and no SPF record in the stack")
        return
    urn_of = {f.rec.name: f.urn for f in view.records}
    mail_hosts = mailview.mail_host_addresses(view)
    postfix = mailview.postfix_hosts(view)
    for name in names:
        urn = urn_of.get(name)
        records = [v for v in view.values(name, "TXT") if spfrecord.is_spf(v)]
        if not records:
            yield Finding(f"{name} has MX records but no SPF record; publish one, e.g. 'v=spf1 mx -all'", urn)
            continue
        if len(records) > 1:
            yield Finding(f"{name} publishes {len(records)} SPF records; RFC 7208 allows exactly 1 (more is a "
                          f"permerror): {' | '.join(records)}", urn)
            continue
        text = records[0]
        record = spfrecord.parse(text)
        for error in record.errors:
            yield Finding(f"{name}: SPF syntax error: {error} in '{text}'", urn)
        if record.errors:
            continue
        count = spfrecord.count_lookups(name, text, view.spf_lookup)
        if count.lookups > limit:
            yield Finding(f"{name}: SPF needs {count.lookups} DNS lookups, the limit is {limit} (RFC 7208 4.6.4): "
                          f"{'; '.join(count.terms)}", urn)
        if count.void_lookups > 2:
            yield Finding(f"{name}: SPF makes {count.void_lookups} void lookups, the limit is 2 (RFC 7208 4.6.4)", urn)
        for error in count.errors:
            yield Finding(f"{name}: SPF {error}", urn)
        all_term = record.all_term
        if all_term is not None and all_term.qualifier in ("+", "?"):
            yield Finding(f"{name}: SPF ends with '{all_term.text}', which authorises everyone or no one says no; "
                          "end with '-all' (or '~all' while testing)", urn)
        if all_term is None and record.redirect is None:
            yield Finding(f"{name}: SPF has no 'all' term, so unlisted senders get 'neutral'; end with '-all'", urn)
        for term in record.mechanisms:
            if term.name == "ptr":
                yield Finding(f"{name}: SPF uses '{term.text}'; ptr is slow, unreliable and deprecated "
                              "(RFC 7208 5.5): list ip4/ip6 or a/mx instead", urn)
        senders = _senders_of(view, name, mail_hosts, postfix)
        for address, how in senders.items():
            result = spfrecord.evaluate(name, address, view.spf_lookup)
            if result not in ("pass", "unknown"):
                yield Finding(f"{name}: mail host {address} ({how}) gets SPF '{result}' from '{text}'; "
                              f"authorise it (ip4:/ip6:/a/mx)", urn)


def _senders_of(view: stackview.StackView, name: str, mail_hosts: dict[str, str],
                postfix: list[mailview.PostfixHost]) -> dict[str, str]:
    """Addresses that send as `name`: its MX targets and Postfix hosts whose mydomain is `name`."""
    senders: dict[str, str] = {}
    for target in view.values(name, "MX"):
        if view.visible(target):
            for address in view.addresses(target):
                senders.setdefault(address, f"MX target {target}")
    for ph in postfix:
        myhostname = ph.value("myhostname") or ""
        mydomain = ph.value("mydomain") or (myhostname.split(".", 1)[1] if "." in myhostname else "")
        if values.norm_name(mydomain) == name:
            for address, how in mailview.public_addresses(view, ph):
                senders.setdefault(address, f"Postfix on {ph.host}, {how}")
    return senders


# ---------------------------------------------------------------------------------------
# prod-zones-protected


@dataclass(frozen=True)
class ProdZonesProtectedConfig:
    prod_stack_pattern: str = setting('^prod$', 'Regular expression matching production stack names.')


@declare(
    "prod-zones-protected", lesson='safety', level=MANDATORY, severity=Severity.HIGH,
    resource_types=set(evidence.ZONE_TYPES) | set(evidence.FILE_TYPES), config=ProdZonesProtectedConfig,
    description="Zones and zone files in a production stack carry protect so no update can delete them.",
    remediation="Create production zones with `opts=pulumi.ResourceOptions(protect=True)` (the stack config "
                     "`isp:protect: true`). To retire a zone on purpose: lift protect in one reviewed change with this "
                     "policy set to advisory for that run.",
    url="https://www.pulumi.com/docs/iac/concepts/options/protect/",
    tags=["dns", "safety"],
)
def zone_protection(raw: evidence.RawResource, config: Mapping[str, Any]) -> Iterator[Outcome]:
    pattern = config.prod_stack_pattern
    stack = stackview.stack_name(raw.urn)
    try:
        is_prod = re.search(pattern, stack) is not None
    except re.error as exc:
        yield Finding(f"prodStackPattern {pattern!r} is not a valid regular expression ({exc})")
        return
    if not is_prod:
        yield NotApplicable(f"stack '{stack}' does not match the production pattern {pattern!r}")
        return
    if raw.rtype in evidence.FILE_TYPES:
        # The name servers' zone data is the other half of a zone: losing it loses every PTR.
        path = raw.fields.get("remotePath")
        if not isinstance(path, str) or evidence.classify(path) != "zone":
            yield NotApplicable("this resource delivers no zone file")
            return
        if not raw.protect:
            yield Finding(f"zone file {path} on {raw.fields.get('host')} in production stack '{stack}' has "
                          "protect=False; production zone data needs protect=True so that no update can delete it")
        return
    if not raw.protect:
        zone = raw.fields.get("name")
        shown = zone if isinstance(zone, str) else raw.name
        yield Finding(f"zone {shown} in production stack '{stack}' has protect=False; production zones need "
                      "protect=True so that no update can delete them")
