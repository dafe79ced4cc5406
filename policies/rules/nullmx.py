"""The null MX (RFC 7505), lesson 6: a name that accepts no mail says so alone, and sends none.

`null-mx-alone` (mandatory): RFC 7505 §3 defines the null MX as one MX of preference 0 whose
exchange is "." and says a domain that advertises it MUST NOT advertise any other MX. A name
with both loses mail whichever way a sender reads it (it may deliver to the other exchanger or
bounce at once), and `MX 10 .` is not a null MX at all: senders take "." for a mail host with no
address. Neither has a legitimate use, both are fully known at preview (a record's content and
priority do not depend on the zone id), so the policy blocks.

`null-mx-sends-nothing` (advisory): RFC 7505 §4.2-4.3 say a null-MX domain SHOULD NOT send mail;
it tells receivers so with SPF that passes nobody (`v=spf1 -all`, RFC 7208) and DMARC
`p=reject` (RFC 7489). A SHOULD, and a gap that leaks no mail of ours, so it advises.

Each publisher is judged on its own: the Cloudflare records of a name, or one zone file (a
resolver gets one server's answer, never a union of the stack's sources); identical answers
from several publishers (a zone file and its staged copy) are one finding naming them all.
Zone files are read by the existing reader (`$ORIGIN`, relative names, `@`); what it does not
take in (`$INCLUDE`, a file that does not parse) is reported as not judged, and a value unknown
at preview that could change the verdict makes the policy wait for `up`.
"""

from __future__ import annotations

from collections.abc import Iterator

import values
from hostview import stackview
from pulumi_policy import Severity
from readers import dmarcrecord, spfrecord

from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Note, Outcome, declare

NULL_MX_PREFERENCE = 0
ROOT = values.norm_name(".")  # the exchange "." as the pack spells names (no final dot: "")
CLOUDFLARE = "cloudflare"  # RecordFact.source of a Cloudflare record


def _publisher(source: str) -> str:
    return "Cloudflare" if source == CLOUDFLARE else source


def _shown_mx(rec: values.Rec) -> str:
    return f"MX {'?' if rec.priority is None else rec.priority} {rec.value or '.'}"


def _mx_answers(view: stackview.StackView) -> dict[tuple[str, frozenset], list[list[stackview.RecordFact]]]:
    """(name, MX answer) -> the facts of each publisher that gives exactly that answer."""
    by_publisher: dict[tuple[str, str], list[stackview.RecordFact]] = {}
    for fact in view.of_type("MX"):
        by_publisher.setdefault((fact.rec.name, fact.source), []).append(fact)
    out: dict[tuple[str, frozenset], list[list[stackview.RecordFact]]] = {}
    for (name, _source), facts in by_publisher.items():
        out.setdefault((name, frozenset(f.rec for f in facts)), []).append(facts)
    return out


def _waiting(view: stackview.StackView, types: set[str | None], names: set[str] | None) -> list[str]:
    """Values unknown during preview that could change the verdict at `up` (`names` None: any name): DNS
    records, zone files' text, command text (as `hostview.named` waits for it). A file whose path is unknown
    is not taken for a zone file."""
    waiting = [f"DNS record {urn.rsplit('::', 1)[-1]} ({rtype or 'type unknown'}) has a value unknown during preview"
               for name, rtype, urn in view.pending_records
               if rtype in types and (names is None or name is None or name in names)]
    waiting += [f"{f.label}: {f.problem}" for f in view.files_of_kind("zone")
                if f.text is None and "unknown" in (f.problem or "")]
    waiting += [u for u in view.unknowns if u.startswith("the command text of")]
    return waiting


def _unread_zone_data(view: stackview.StackView) -> list[str]:
    """What the zone reader did not take in: an `$INCLUDE` (not followed), a file that does not parse."""
    labels = [f.label + ": " for f in view.files_of_kind("zone")]
    return [p for p in view.problems if p.startswith(tuple(labels))] if labels else []


@declare(
    "null-mx-alone", lesson=6, level=MANDATORY, severity=Severity.HIGH,
    description="A name that publishes the null MX (MX 0 .) publishes no other MX, and '.' is never an exchange "
                "of another preference.",
    remediation="A domain that accepts no mail publishes exactly one MX, `MX 0 .` (Cloudflare: content `.`, "
                "priority 0); a domain that accepts mail publishes only its real exchangers.",
    url="https://www.rfc-editor.org/rfc/rfc7505#section-3",
    tags=["dns", "mail", "lesson-6"],
)
def null_mx_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    answers = _mx_answers(view)
    waiting = _waiting(view, {None, "MX"}, None)
    unread = _unread_zone_data(view)
    if not any(rec.value == ROOT for _name, answer in answers for rec in answer) and not waiting and not unread:
        yield NotApplicable("no MX record in the stack has the exchange '.'")
        return
    for (name, answer), groups in sorted(answers.items(), key=lambda item: (item[0][0], sorted(map(str, item[0][1])))):
        roots = sorted((r for r in answer if r.value == ROOT), key=lambda r: r.priority or 0)
        if not roots:
            continue
        urn = next(f.urn for f in groups[0] if f.rec.value == ROOT)
        where = ", ".join(dict.fromkeys(_publisher(facts[0].source) for facts in groups))
        for rec in roots:
            if rec.priority is None:
                yield Note(f"{name}: the MX '.' of {where} has no priority, which Cloudflare requires for MX")
            elif rec.priority != NULL_MX_PREFERENCE:
                yield Finding(f"{name}: {_shown_mx(rec)} ({where}) is not the null MX: RFC 7505 §3 defines it as "
                              "preference 0 with exchange '.', and senders take this '.' for a mail host with no "
                              "address; publish 'MX 0 .' alone for a name that accepts no mail", urn)
        null = next((r for r in roots if r.priority == NULL_MX_PREFERENCE), None)
        if null is not None and len(answer) > 1:
            others = sorted(answer - {null}, key=lambda r: (r.priority or 0, r.value))
            yield Finding(f"{name} publishes the null MX (MX 0 .) and also {', '.join(map(_shown_mx, others))} "
                          f"({where}); RFC 7505 §3: a domain that advertises a null MX MUST NOT advertise any other "
                          "MX (senders may deliver to the other exchanger or bounce at once); keep 'MX 0 .' alone "
                          "for no mail, or only the real exchangers", urn)
    for problem in unread:
        yield Note(f"{problem} (MX records there are not read)")
    for why in waiting:
        yield Note(f"null MX judged at up: {why}", until_up=True)


def _txt(view: stackview.StackView, name: str, source: str) -> list[str]:
    return [f.rec.value for f in view.of_type("TXT") if f.rec.name == name and f.source == source]


def spf_problem(texts: list[str]) -> str | None:
    """Why the TXT answer of a name could authorise a sender; None for an SPF policy that passes nobody:
    one record ending in '-all' with no '+' mechanism before it (RFC 7208 §4.6.2: the first matching
    mechanism decides, terms after 'all' are never tested, and a redirect beside 'all' is ignored, §6.1)."""
    records = [t for t in texts if spfrecord.is_spf(t)]
    if not records:
        return "publishes no SPF record"
    if len(records) > 1:
        return f"publishes {len(records)} SPF records (a permerror, RFC 7208 §4.5): {' | '.join(records)}"
    record = spfrecord.parse(records[0])
    if record.errors:
        return f"has an SPF syntax error ({record.errors[0]}) in '{records[0]}'"
    all_term = record.all_term
    if all_term is None or all_term.qualifier != "-":
        return f"has SPF '{records[0]}', which does not end in '-all'"
    before = record.mechanisms[: record.mechanisms.index(all_term)]
    passing = [t.text for t in before if t.qualifier == "+"]
    return f"has SPF '{records[0]}', where {', '.join(passing)} can pass" if passing else None


def _dmarc_domains(view: stackview.StackView, name: str) -> list[str]:
    """Where a receiver finds the DMARC policy of `name`: its own `_dmarc`, then its ancestors up to the
    topmost zone of the stack that holds it, which stands for the organizational domain (RFC 7489 §6.6.3
    step 3): a subdomain zone such as pool.example.org takes example.org's policy when both are ours."""
    labels = name.split(".")
    ancestors = [".".join(labels[i:]) for i in range(len(labels))]
    zones = [i for i, domain in enumerate(ancestors) if domain in view.zones]
    return ancestors[: zones[-1] + 1] if zones else [name]


def _dmarc_texts(view: stackview.StackView, domain: str, name: str, source: str) -> list[str]:
    """The name's own record from its publisher; an ancestor's from whichever publisher holds that zone."""
    where = dmarcrecord.record_name(domain)
    texts = _txt(view, where, source) if domain == name else view.values(where, "TXT")
    return [t for t in texts if dmarcrecord.is_dmarc(t)]


def dmarc_problem(view: stackview.StackView, name: str, source: str) -> str | None:
    """Why receivers would not reject mail forged as `name`; None for one DMARC record giving reject to all."""
    domains = _dmarc_domains(view, name)
    for domain in domains:
        where = dmarcrecord.record_name(domain)
        records = _dmarc_texts(view, domain, name, source)
        if not records:
            continue
        if len(records) > 1:
            return f"{where} has {len(records)} DMARC records, so receivers apply none (RFC 7489 §6.6.3)"
        record = dmarcrecord.parse(records[0])
        if record.errors:
            return f"{where} '{records[0]}' {record.errors[0]}"
        own = domain == name or "sp" not in record.tags  # RFC 7489 §6.3: sp for subdomains, else p
        policy = record.policy if domain == name else record.subdomain_policy
        if policy != "reject":
            return f"{where} '{records[0]}' gives {'p' if own else 'sp'}={policy}, not reject"
        if record.percent != 100:
            return f"{where} '{records[0]}' rejects only pct={record.percent} of forged mail"
        return None
    return f"has no DMARC record at {dmarcrecord.record_name(name)}" + (
        f" nor up to {domains[-1]}" if domains[-1] != name else "")


@declare(
    "null-mx-sends-nothing", lesson=6, level=ADVISORY, severity=Severity.MEDIUM,
    description="A name that publishes the null MX says it sends no mail either: SPF 'v=spf1 -all' and DMARC "
                "p=reject.",
    remediation="Beside `MX 0 .` publish TXT `v=spf1 -all` at the name and TXT `v=DMARC1; p=reject` at "
                "`_dmarc.<name>` (or `sp=reject` at its domain's), so receivers reject mail forged in its name.",
    url="https://www.rfc-editor.org/rfc/rfc7505#section-4.2",
    tags=["dns", "mail", "lesson-6"],
)
def null_mx_sender_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    null_mx: dict[tuple[str, str], str] = {}
    for fact in view.of_type("MX"):
        if fact.rec.value == ROOT and fact.rec.priority == NULL_MX_PREFERENCE:
            null_mx.setdefault((fact.rec.name, fact.source), fact.urn)
    if not null_mx:
        yield NotApplicable("no name in the stack publishes the null MX (MX 0 .)")
        return
    found: dict[str, tuple[str, list[str]]] = {}  # message -> (urn, publishers)
    for (name, source), urn in sorted(null_mx.items()):
        spf = spf_problem(_txt(view, name, source))
        dmarc = dmarc_problem(view, name, source)
        if dmarc is not None and dmarc.startswith("has no DMARC") and view.zone_for(name) is None:
            yield Note(f"{name}: no DMARC record in the stack, and its domain's may be published outside it")
            dmarc = None
        if spf or dmarc:
            message = f"{name} publishes the null MX but {'; '.join(p for p in (spf, dmarc) if p)}"
            found.setdefault(message, (urn, []))[1].append(_publisher(source))
    for message, (urn, publishers) in found.items():
        yield Finding(f"{message} ({', '.join(dict.fromkeys(publishers))}); publish 'v=spf1 -all' and "
                      "'v=DMARC1; p=reject' so receivers reject mail forged in its name (RFC 7505 §4.2-4.3)", urn)
    names = {n for n, _ in null_mx} | {dmarcrecord.record_name(d) for n, _ in null_mx for d in _dmarc_domains(view, n)}
    for why in _waiting(view, {None, "TXT"}, names):
        yield Note(f"null MX judged at up: {why}", until_up=True)
