"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460), lesson 6: the policy senders fetch is the one deployed.

A domain D takes part when a publisher of the stack (Cloudflare, or one zone file: a resolver
gets one server's answer) gives TXT at `_mta-sts.D`. Its policy is what the stack's web
servers answer for `https://mta-sts.D/.well-known/mta-sts.txt` (`hostview.servedfile`: a
delivered file under the site's root or alias, an nginx `return 200 "..."`, a Caddy
`respond`), and its MX set is that same publisher's MX records for D.

`mta-sts-policy-matches-mx` (mandatory): in mode enforce a sender MUST NOT deliver to an MX
host that matches no `mx:` pattern (RFC 8461 §4.1, §5): mail to D waits in queues, then
bounces. No legitimate deployment wants that, and it is decided before deployment from what
the stack publishes and serves, so it blocks. A policy that cannot be read, or a value
unknown at preview, is not judged (a note; the rule waits for `up`).

`mta-sts-mx-lines-current` (advisory): the same mismatch in mode testing only yields TLS-RPT
reports (§5), and an `mx:` line matching no MX keeps trusting a host the domain left (a
DNS forger may steer mail to it); neither loses mail.

`mta-sts-id-tracks-policy` (advisory): §3.1 says the id MUST change whenever the policy does,
or senders keep their cached policy up to max_age. Nothing ties a hand-chosen id to the text;
our program derives it (the first 32 hex digits of the policy text's SHA-256), so any other id
is reported as a risk, never blocked: an operator with their own scheme may be right.

`mta-sts-valid` (advisory): a TXT that is invalid or not alone, a policy missing, redirected
or malformed, and a TLS-RPT record that does not parse. Senders then fail open: §3.1 and §3.3
say to continue as though D had no MTA-STS (a cached policy still applies, §5.1), and RFC 8460
§3 says to send no reports. The protection is silently lost, but no mail is.

`null-mx-no-mta-sts` (advisory): a name with the null MX (RFC 7505) receives no mail, so an
MTA-STS or TLS-RPT record beside it protects nothing and contradicts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from hostview import hosts as hostmap
from hostview import servedfile, stackview
from pulumi_policy import Severity
from readers import mtasts, tlsrpt

from rules import nullmx
from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Note, Outcome, declare

ID_HEX_DIGITS = 32  # our program's id: the first 32 hex digits of sha256(policy text)
RFC_URL = "https://www.rfc-editor.org/rfc/rfc8461"


def derived_id(policy_text: str) -> str:
    """The id our program publishes for a policy text (components/render/mtasts.py derives the same)."""
    return hashlib.sha256(policy_text.encode()).hexdigest()[:ID_HEX_DIGITS]


@dataclass(frozen=True)
class Published:
    """One publisher's `_mta-sts` TXT answer for a domain."""

    domain: str
    source: str
    urn: str
    texts: tuple[str, ...]

    @property
    def publisher(self) -> str:
        return nullmx._publisher(self.source)

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(t for t in self.texts if mtasts.is_sts(t))

    def record(self) -> mtasts.StsRecord | None:
        """The one valid record senders use (§3.1), else None."""
        if len(self.kept) != 1:
            return None
        record = mtasts.parse_txt(self.kept[0])
        return None if record.errors else record


def _published(view: stackview.StackView, prefix: str) -> list[Published]:
    grouped: dict[tuple[str, str], list[stackview.RecordFact]] = {}
    for fact in view.of_type("TXT"):
        if fact.rec.name.startswith(prefix + "."):
            grouped.setdefault((fact.rec.name[len(prefix) + 1:], fact.source), []).append(fact)
    return [Published(domain, source, facts[0].urn, tuple(f.rec.value for f in facts))
            for (domain, source), facts in sorted(grouped.items())]


def _mx_hosts(view: stackview.StackView, domain: str, source: str) -> list[str]:
    facts = sorted((f.rec for f in view.of_type("MX") if f.rec.name == domain and f.source == source),
                   key=lambda r: (r.priority or 0, r.value))
    return [r.value for r in facts if r.value != nullmx.ROOT]


def _waiting(view: stackview.StackView, domains: set[str]) -> list[str]:
    names = {n for d in domains for n in (d, mtasts.txt_name(d), tlsrpt.record_name(d))}
    pending_sts = any(name and name.startswith((mtasts.TXT_PREFIX + ".", tlsrpt.PREFIX + "."))
                      for name, _rtype, _urn in view.pending_records)
    return nullmx._waiting(view, {None, "MX", "TXT"}, None if pending_sts else names)


def _policies(view: stackview.StackView, domain: str) -> list[servedfile.Answer]:
    key = ("mta-sts-answers", domain)
    if key not in view._parsed:
        view._parsed[key] = servedfile.answers(view, mtasts.policy_host(domain), mtasts.WELL_KNOWN_PATH)
    return view._parsed[key]


def _shown(answer: servedfile.Answer) -> str:
    return f"the policy {answer.origin} ({answer.site})"


def _unjudged(answer: servedfile.Answer, domain: str) -> Note:
    what = f"https://{mtasts.policy_host(domain)}{mtasts.WELL_KNOWN_PATH} on {answer.machine} ({answer.site})"
    return Note(f"{what}: {answer.problem}", until_up=answer.waiting)


def _readable(view: stackview.StackView, domain: str) -> Iterator[tuple[servedfile.Answer, mtasts.Policy] | Note]:
    """Each served policy of `domain` that parses, or a note for one that cannot be read."""
    for answer in _policies(view, domain):
        if answer.text is None:
            if not answer.refused:
                yield _unjudged(answer, domain)
            continue
        policy = mtasts.parse_policy(answer.text)
        if not policy.errors:
            yield answer, policy


def _mx_outcomes(view: stackview.StackView, enforce_only: bool) -> Iterator[Outcome]:
    published = [p for p in _published(view, mtasts.TXT_PREFIX) if p.record() is not None]
    waiting = _waiting(view, {p.domain for p in published})
    if not published and not waiting:
        yield NotApplicable("no domain of the stack publishes a valid _mta-sts TXT record")
        return
    for item in published:
        hosts = _mx_hosts(view, item.domain, item.source)
        for outcome in _readable(view, item.domain):
            if isinstance(outcome, Note):
                yield outcome
                continue
            answer, policy = outcome
            if policy.mode == "none" or (policy.mode == "enforce") != enforce_only:
                continue
            if not hosts:
                yield Note(f"{item.domain}: {item.publisher} publishes no MX for it (senders use its address as an "
                           "implicit MX), not judged")
                continue
            unmatched = [h for h in hosts if not policy.allows(h)]
            if unmatched:
                effect = ("senders that apply MTA-STS refuse to deliver to it, so mail to the domain is deferred "
                          "and then bounced (RFC 8461 §4.1, §5)" if policy.mode == "enforce" else
                          "in mode testing senders still deliver but report a failure (RFC 8461 §5)")
                yield Finding(f"{item.domain}: MX {', '.join(unmatched)} ({item.publisher}) matches no mx: line of "
                              f"{_shown(answer)}, mode {policy.mode} (mx: {', '.join(policy.mx)}); {effect}; list "
                              "every MX host in the policy and change its id", answer.urn or item.urn)
            stale = [] if enforce_only else [p for p in policy.mx if not any(mtasts.mx_matches(p, h) for h in hosts)]
            if stale:
                yield Finding(f"{item.domain}: mx: {', '.join(stale)} of {_shown(answer)} matches no MX of "
                              f"{item.publisher} ({', '.join(hosts)}); a stale pattern keeps trusting a host the "
                              "domain no longer uses: list exactly the MX set", answer.urn or item.urn)
    for problem in nullmx._unread_zone_data(view):
        yield Note(f"{problem} (MX and TXT records there are not read)")
    for why in waiting:
        yield Note(f"MTA-STS judged at up: {why}", until_up=True)


@declare(
    "mta-sts-policy-matches-mx", lesson=6, level=MANDATORY, severity=Severity.HIGH,
    description="An MTA-STS policy in mode enforce lists every MX host of its domain in its mx: lines.",
    remediation="Give the policy one `mx:` line per MX host of the domain (or a `*.` pattern covering one "
                "left-most label), and change the `_mta-sts` id with it; or switch the policy to `mode: testing` "
                "while the MX set changes.",
    url=f"{RFC_URL}#section-4.1",
    tags=["dns", "mail", "web", "lesson-6"],
)
def policy_matches_mx_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    yield from _mx_outcomes(view, enforce_only=True)


@declare(
    "mta-sts-mx-lines-current", lesson=6, level=ADVISORY, severity=Severity.MEDIUM,
    description="An MTA-STS policy in mode testing lists every MX host, and no policy keeps an mx: line that "
                "matches no MX host.",
    remediation="Make the policy's `mx:` lines exactly the domain's MX set, then change the `_mta-sts` id.",
    url=f"{RFC_URL}#section-5",
    tags=["dns", "mail", "web", "lesson-6"],
)
def mx_lines_current_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    yield from _mx_outcomes(view, enforce_only=False)


@declare(
    "mta-sts-id-tracks-policy", lesson=6, level=ADVISORY, severity=Severity.MEDIUM,
    description="The _mta-sts TXT id is derived from the policy text served, so it changes exactly when the "
                "policy does.",
    remediation="Publish `id=` the first 32 hex digits of the SHA-256 of the served policy text (what our "
                "program does), or make sure your own id changes with every edit of the policy: senders keep a "
                "cached policy until the id changes or max_age runs out.",
    url=f"{RFC_URL}#section-3.1",
    tags=["dns", "mail", "lesson-6"],
)
def id_tracks_policy_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    published = [p for p in _published(view, mtasts.TXT_PREFIX) if p.record() is not None]
    waiting = _waiting(view, {p.domain for p in published})
    if not published and not waiting:
        yield NotApplicable("no domain of the stack publishes a valid _mta-sts TXT record")
        return
    for item in published:
        record = item.record()
        for answer in _policies(view, item.domain):
            if answer.text is None:
                if not answer.refused:
                    yield _unjudged(answer, item.domain)
                continue
            expected = derived_id(answer.text)
            if record is not None and record.id is not None and record.id.lower() != expected:
                yield Finding(f"{item.domain}: _mta-sts id={record.id} ({item.publisher}) is not derived from "
                              f"{_shown(answer)} (its SHA-256 begins {expected}); nothing then makes the id change "
                              "when the policy is edited, and senders keep the old policy until max_age runs out "
                              "(RFC 8461 §3.1: the id MUST change with the policy)", item.urn)
    for why in waiting:
        yield Note(f"MTA-STS judged at up: {why}", until_up=True)


def _machines_at(view: stackview.StackView, name: str) -> list[str]:
    addresses = set(view.addresses(name))
    return [m.label for m in hostmap.of(view) if addresses & set(m.addresses)]


def _missing_policy(view: stackview.StackView, item: Published) -> Outcome:
    host = mtasts.policy_host(item.domain)
    url = f"https://{host}{mtasts.WELL_KNOWN_PATH}"
    machines = _machines_at(view, host)
    resolvable = view.addresses(host) or view.values(host, "CNAME")
    if machines or (not resolvable and view.zone_for(host) is not None):
        where = f"{', '.join(machines)} serves no HTTPS site for {host}" if machines else f"{host} has no address"
        return Finding(f"{item.domain} publishes _mta-sts ({item.publisher}) but {where}: senders cannot fetch "
                       f"{url} and go on as though the domain had no MTA-STS (RFC 8461 §3.3); serve the policy "
                       "there over HTTPS or withdraw the TXT record", item.urn)
    return Note(f"{url}: no site of the stack serves it (it may be served outside the stack)")


@declare(
    "mta-sts-valid", lesson=6, level=ADVISORY, severity=Severity.MEDIUM,
    description="A published _mta-sts TXT record is valid and alone, its policy is served and valid, and a "
                "published TLS-RPT record parses.",
    remediation="Publish one `v=STSv1; id=<1-32 letters and digits>` at `_mta-sts.<domain>`, serve "
                "`version: STSv1`, `mode:`, `mx:` lines and `max_age:` (0..31557600) at "
                "https://mta-sts.<domain>/.well-known/mta-sts.txt without a redirect, and publish "
                "`v=TLSRPTv1; rua=mailto:...` at `_smtp._tls.<domain>`.",
    url=f"{RFC_URL}#section-3",
    tags=["dns", "mail", "web", "lesson-6"],
)
def valid_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    sts = _published(view, mtasts.TXT_PREFIX)
    reports = _published(view, tlsrpt.PREFIX)
    waiting = _waiting(view, {p.domain for p in sts + reports})
    if not sts and not reports and not waiting:
        yield NotApplicable("no domain of the stack publishes _mta-sts or _smtp._tls TXT records")
        return
    for item in sts:
        where = f"{mtasts.txt_name(item.domain)} ({item.publisher})"
        if len(item.kept) != 1:
            shown = " | ".join(item.texts)
            count = "no record beginning with 'v=STSv1;'" if not item.kept else f"{len(item.kept)} STSv1 records"
            yield Finding(f"{where} has {count} ({shown}); senders then assume no MTA-STS policy (RFC 8461 §3.1)",
                          item.urn)
            continue
        record = mtasts.parse_txt(item.kept[0])
        if record.errors:
            yield Finding(f"{where} '{record.text}' {'; '.join(record.errors)}: senders discard it and assume no "
                          "MTA-STS policy (RFC 8461 §3.1)", item.urn)
            continue
        answers = _policies(view, item.domain)
        if not answers:
            yield _missing_policy(view, item)
        for answer in answers:
            if answer.text is None:
                if answer.refused:
                    yield Finding(f"{item.domain}: {answer.origin} ({answer.site}) {answer.problem}: senders cannot "
                                  "fetch the policy and go on as though the domain had no MTA-STS (RFC 8461 §3.3)",
                                  answer.urn or item.urn)
                else:
                    yield _unjudged(answer, item.domain)
                continue
            policy = mtasts.parse_policy(answer.text)
            if policy.errors:
                yield Finding(f"{item.domain}: {_shown(answer)} {'; '.join(policy.errors)}: senders reject an invalid "
                              "policy and go on as though the domain had no MTA-STS (RFC 8461 §3.2, §3.3)",
                              answer.urn or item.urn)
    for item in reports:
        where = f"{tlsrpt.record_name(item.domain)} ({item.publisher})"
        kept = [t for t in item.texts if tlsrpt.is_tlsrpt(t)]
        if len(kept) != 1:
            count = "no record beginning with 'v=TLSRPTv1;'" if not kept else f"{len(kept)} TLSRPTv1 records"
            yield Finding(f"{where} has {count} ({' | '.join(item.texts)}); senders then send no TLS reports "
                          "(RFC 8460 §3)", item.urn)
            continue
        parsed = tlsrpt.parse(kept[0])
        if parsed.errors:
            yield Finding(f"{where} '{parsed.text}' {'; '.join(parsed.errors)}: senders send no TLS reports "
                          "(RFC 8460 §3)", item.urn)
    for why in waiting:
        yield Note(f"MTA-STS judged at up: {why}", until_up=True)


@declare(
    "null-mx-no-mta-sts", lesson=6, level=ADVISORY, severity=Severity.LOW,
    description="A name that publishes the null MX (MX 0 .) publishes no MTA-STS or TLS-RPT record.",
    remediation="Remove `_mta-sts.<name>` and `_smtp._tls.<name>` (and the mta-sts.<name> site) from a name that "
                "accepts no mail, or replace its null MX with the real exchangers.",
    url="https://www.rfc-editor.org/rfc/rfc7505#section-3",
    tags=["dns", "mail", "lesson-6"],
)
def null_mx_no_mta_sts_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    null_mx = {(f.rec.name, f.source) for f in view.of_type("MX")
               if f.rec.value == nullmx.ROOT and f.rec.priority == nullmx.NULL_MX_PREFERENCE}
    if not null_mx:
        yield NotApplicable("no name in the stack publishes the null MX (MX 0 .)")
        return
    for item in _published(view, mtasts.TXT_PREFIX) + _published(view, tlsrpt.PREFIX):
        if (item.domain, item.source) in null_mx:
            record = item.texts[0]
            yield Finding(f"{item.domain} publishes the null MX (MX 0 .) and also '{record}' ({item.publisher}): it "
                          "receives no mail, so an MTA-STS or TLS-RPT record protects nothing and contradicts the "
                          "null MX (RFC 7505 §3); remove it", item.urn)
    for why in _waiting(view, {name for name, _ in null_mx}):
        yield Note(f"null MX judged at up: {why}", until_up=True)
