"""DNS lessons: no open recursion (3), SPF (6), and protected production zones.

`no-open-recursion` judges each host's effective BIND configuration (`hostview.named`), never
one file: an acl defined in named.conf.options and used in named.conf.local is normal, and
recursion opened in one file by an ACL of another is found. A violation only on a
configuration fully read; an include the pack cannot see, a file that does not parse or that
named refuses is a note ("not judged"), and a file unknown at preview waits for `up`.

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
from collections.abc import Iterator
from dataclasses import dataclass

import values
from hostview import evidence, mailview, named, stackview
from pulumi_policy import Severity
from readers import bindconf, spfrecord

from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Note, Outcome, declare, setting

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


def _shown(stmt: bindconf.Statement, limit: int = 100) -> str:
    """`allow-query { any; }` as written (shortened)."""
    text = stmt.text().rstrip(";")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _who(scope: bindconf.RecursionScope, own: list) -> list[bindconf.AclEntry]:
    """The elements that admit outside addresses, widest first."""
    wide = [(entry, bindconf.outside(part, own)) for entry, part in scope.contributions]
    wide = [(entry, part) for entry, part in wide if not part.is_empty()]
    wide.sort(key=lambda item: -(item[1].size(4) * 2**96 + item[1].size(6)))
    return [entry for entry, _ in wide[:3]]


def _in(eff: named.EffectiveNamed, stmt: bindconf.Statement | None, shown_file: str | None = None) -> str:
    """` (named.conf.options)` after a statement, unless it is the file just named."""
    if stmt is None or not stmt.file or stmt.file == shown_file:
        return ""
    return f" ({eff.label(stmt.file)})"


def recursion_message(eff: named.EffectiveNamed, scope: bindconf.RecursionScope, own: list,
                      conf: bindconf.NamedConf) -> str:
    """`ns1 (198.51.100.53): recursion open to any — view "resolver" (named.conf.local) has recursion yes and no
    allow-recursion, inheriting allow-query { any; } (named.conf.options)`."""
    by_via: dict[tuple[str, ...], list[str]] = {}
    for entry in _who(scope, own):
        by_via.setdefault(entry.via, []).append(entry.origin.split(" (via ", 1)[0])
    who = "; ".join(", ".join(written) + (f" (via acl {' -> '.join(via)})" if via else "")
                    for via, written in by_via.items()) or bindconf.outside(scope.admitted, own).sample()
    view, rec, acl = scope.view, scope.recursion_stmt, scope.acl_stmt
    if view is not None:
        extra = f", {_shown(view.match_clients)}" if view.match_clients is not None else ""
        subject, subject_file = f'view "{view.name}" ({eff.label(view.file)}{extra})', view.file
    else:
        decisive = acl if scope.acl_in == "options" else rec
        subject_file = decisive.file if decisive is not None else None
        subject = f"the options block ({eff.label(subject_file)})" if subject_file else "the options block"
    if rec is None:
        recursion = "leaves recursion at its default (yes)"
    elif view is not None and scope.recursion_in == "options":
        recursion = f"inherits {_shown(rec)} from options{_in(eff, rec)}"
    else:
        recursion = f"has {_shown(rec)}{_in(eff, rec, subject_file)}"
    own_scope = "options" if view is None else f"view {view.name}"
    if scope.acl_option == "allow-recursion" and scope.acl_in == own_scope:
        granted = f"{_shown(acl)}{_in(eff, acl, subject_file)}"
    elif scope.acl_option == "allow-recursion":
        granted = f"no allow-recursion of its own, inheriting {_shown(acl)} from options{_in(eff, acl)}"
    else:
        granted = f"no allow-recursion, inheriting {_shown(acl)}{_in(eff, acl, subject_file)}"
    granted = granted if recursion.startswith("has ") else "has " + granted
    defined = []
    for via, written in by_via.items():
        stmt = conf.acl_statements.get(via[-1]) if via else None
        if stmt is not None:
            defined.append(f"; acl {via[-1]} ({eff.label(stmt.file)}) admits {', '.join(written)}")
    limit = ("our own blocks " + ", ".join(map(str, own))) if own else \
        "our own blocks (no wider than a /8 for IPv4 or a /32 for IPv6)"
    return (f"{eff.host.label}: recursion open to {who} — {subject} {recursion} and {granted}{''.join(defined)}; "
            f"recursion must be limited to {limit}")


def judge_recursion(eff: named.EffectiveNamed, own: list) -> Iterator[Outcome]:
    """Open-recursion findings (or notes) for one host's effective configuration."""
    for note in eff.notes:
        yield Note(f"{eff.host.label}: {note}")
    if eff.waiting:
        for why in eff.waiting:
            yield Note(f"{eff.host.label}: recursion judged at up: {why}", until_up=True)
        return
    if eff.gaps or eff.conf is None:
        yield Note(f"{eff.host.label}: {'; '.join(eff.gaps[:3]) or 'no BIND configuration read'}")
        return
    conf = eff.conf
    resolver = bindconf.AclResolver(conf.acls)
    scopes = bindconf.recursion_scopes(conf, resolver)
    undefined = list(dict.fromkeys(resolver.unresolved))
    if undefined or resolver.unparsed:
        what = [f"acl '{name}' is used but defined in no file of {', '.join(eff.label(s.path) for s in eff.sources)}"
                for name in undefined] + [f"'{text}' is not an address match element" for text in resolver.unparsed]
        yield Note(f"{eff.host.label}: {'; '.join(what[:3])}; named refuses the configuration")
        return
    if bindconf.listens_only_on_loopback(conf):
        return  # a local resolver: no outside client reaches it, whatever it admits
    for scope in scopes:
        if scope.recursion and bindconf.is_open(scope.admitted, own):
            decisive = [s.file for s in (scope.acl_stmt, scope.recursion_stmt) if s is not None]
            urn = eff.urn(*decisive, *([scope.view.file] if scope.view else []))
            yield Finding(recursion_message(eff, scope, own, conf), urn)


@dataclass(frozen=True)
class NoOpenRecursionConfig:
    own_networks: tuple[str, ...] = setting(
        (), 'Our own blocks; when set, any admitted address outside them (and outside private ranges) is open.')


@declare(
    "no-open-recursion", lesson=3, level=MANDATORY, severity=Severity.HIGH, config=NoOpenRecursionConfig,
    description="BIND must answer recursive queries only for our own address blocks, never for any address.",
    remediation="In options and in every view set `allow-recursion { our_nets; };` and "
                "`allow-query-cache { our_nets; };` with `acl our_nets { <our blocks>; };`, or `recursion no;` "
                "on authoritative-only servers. `allow-query { any; };` alone opens recursion: BIND falls back "
                "to it.",
    url="https://bind9.readthedocs.io/en/v9.18.0/reference.html#namedconf-statement-allow-recursion",
    tags=["dns", "lesson-3"],
)
def open_recursion(view: stackview.StackView, config: NoOpenRecursionConfig) -> Iterator[Outcome]:
    """Each host's effective named.conf (hostview.named: includes joined, Debian's defaults where the stack is
    silent), judged with BIND's inheritance; what the pack cannot see or read is a note, never a violation."""
    configs = named.of(view)
    if not configs:
        yield NotApplicable("no host receives BIND configuration (named.conf*) or installs bind9")
        return
    own = _own_networks(config.own_networks)
    for eff in configs:
        yield from judge_recursion(eff, own)


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
def spf_findings(view: stackview.StackView, config: SpfValidConfig) -> Iterator[Outcome]:
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
def zone_protection(raw: evidence.RawResource, config: ProdZonesProtectedConfig) -> Iterator[Outcome]:
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
