"""DKIM signing behind DMARC enforcement, and DKIM keys that verify (lesson 6), judged on what is deployed.

`dmarc-enforcement-needs-dkim` (mandatory): DMARC passes only when SPF or DKIM passes aligned
with the From domain (RFC 7489 §4.2, §3.1). SPF fails on every plain forward (the forwarder's
address is not in our SPF), so a domain that publishes p=quarantine or p=reject while the mail
host its MX names does not DKIM-sign its mail loses every message its users send to a
forwarding address (alumni, family domains): quarantined or rejected, with no bounce the user
understands. The loss is silent and certain, the config says it in full (DMARC record, MX, the
host's Postfix milters and OpenDKIM or rspamd tables), so the policy blocks. It judges the
signing the host's Postfix reaches (`hostview.mailsigning`), with the DMARC record's own
alignment (`adkim=s`: d= equals the domain; relaxed: the same organizational domain, taken
as the topmost of the stack's zones that holds it, else the last two labels). p=none, a domain
whose MX is elsewhere, and signing the pack cannot read (a table not delivered, a database, a
value unknown at preview: then it waits for `up`) are not judged.

`dkim-record-matches-signing-key` (mandatory): for each (d=, selector) a host signs with, a
verifier fetches `<selector>._domainkey.<d>` (RFC 6376 §3.6.2); no record, an invalid one or a
revoked key (empty p=, §3.6.1) makes every signature fail (permerror), and so does a p= that is
not the public half of the private key the host signs with. Each is certain loss of DKIM for
every message, found entirely from the stack, so the policy blocks. The key is compared when
the stack delivers it as readable PEM (the engine hands the pack decrypted secrets at `up`;
under preflight a secret is a placeholder, so only the record's presence and form are judged);
a key is never printed. A name outside the stack's zones is not judged.

Each publisher (the Cloudflare records of a zone, each zone file) is judged on its own, and
identical findings name every publisher, as `rules.nullmx` does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hostview import mailsigning, stackview
from hostview.mailview import PostfixHost, postfix_hosts
from pulumi_policy import Severity
from readers import dkimrecord, dmarcrecord

from rules.kit import MANDATORY, Finding, NotApplicable, Note, Outcome, declare

CLOUDFLARE = "cloudflare"  # RecordFact.source of a Cloudflare record
ENFORCING = ("quarantine", "reject")
Dmarc = tuple[dmarcrecord.DmarcRecord, str, str]  # the record, where it is published, the policy that applies


def _publisher(source: str) -> str:
    return "Cloudflare" if source == CLOUDFLARE else source


def _hosts(view: stackview.StackView) -> tuple[list[PostfixHost], list[tuple[PostfixHost, Note]]]:
    """The Postfix instances to judge, and those whose main.cf/master.cf cannot be read (with a note each)."""
    judged, unread = [], []
    for ph in postfix_hosts(view):
        why = ph.unreadable() if ph.main_file is not None else None
        if why:
            unread.append((ph, Note(f"{ph.label}: {why}; its DKIM signing is not judged", "unknown" in why)))
        elif ph.main_file is not None:
            judged.append(ph)
    return judged, unread


def _enforcing(view: stackview.StackView, fact: stackview.RecordFact) -> Dmarc | None:
    """The DMARC record, its name and policy when the MX's name is under quarantine or reject (pct > 0)."""
    dmarc = dmarc_of(view, fact.rec.name, fact.source)
    if dmarc is None or dmarc[2] not in ENFORCING or dmarc[0].percent == 0:
        return None
    return dmarc


def _waiting(view: stackview.StackView, names: set[str]) -> list[Note]:
    """Values unknown at preview that could change the verdict: TXT/MX records, zone files, command text."""
    notes = [f"DNS record {urn.rsplit('::', 1)[-1]} ({rtype or 'type unknown'}) has a value unknown during preview"
             for name, rtype, urn in view.pending_records
             if rtype in (None, "TXT", "MX") and (name is None or name in names)]
    notes += [f"{f.label}: {f.problem}" for f in view.files_of_kind("zone")
              if f.text is None and "unknown" in (f.problem or "")]
    notes += [u for u in view.unknowns if u.startswith("the command text of")]
    return [Note(f"DKIM judged at up: {why}", until_up=True) for why in dict.fromkeys(notes)]


def organizational(view: stackview.StackView, name: str) -> str:
    """The organizational domain (RFC 7489 §3.2) as the stack knows it: its topmost zone holding `name`."""
    labels = name.split(".")
    ancestors = [".".join(labels[i:]) for i in range(len(labels))]
    zones = [d for d in ancestors if d in view.zones]
    return zones[-1] if zones else ".".join(labels[-2:])


def aligned(view: stackview.StackView, signing_domain: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1.1: strict = the same name; relaxed = the same organizational domain."""
    if mode == "s":
        return signing_domain == from_domain
    return organizational(view, signing_domain) == organizational(view, from_domain)


def _txt(view: stackview.StackView, name: str, source: str) -> list[str]:
    return [f.rec.value for f in view.of_type("TXT") if f.rec.name == name and f.source == source]


def dmarc_of(view: stackview.StackView, name: str, source: str) -> Dmarc | None:
    """(record, where, the policy that applies to `name`) as a receiver finds it (RFC 7489 §6.6.3): the
    name's own record from this publisher, else its organizational domain's (sp, else p); None: no
    single valid record (receivers then apply no DMARC)."""
    org = organizational(view, name)
    for domain in dict.fromkeys((name, org)):
        where = dmarcrecord.record_name(domain)
        texts = _txt(view, where, source) if domain == name else view.values(where, "TXT")
        records = [t for t in texts if dmarcrecord.is_dmarc(t)]
        if not records:
            continue
        record = dmarcrecord.parse(records[0])
        if len(records) > 1 or record.errors:
            return None
        return record, where, (record.policy if domain == name else record.subdomain_policy) or "none"
    return None


def _why_not(view: stackview.StackView, ph: PostfixHost, name: str, signing: mailsigning.DomainSigning,
             host: mailsigning.HostSigning, mode: str) -> str:
    reasons = list(signing.gaps)
    reasons += [f"{s.signer} signs it with d={s.domain} ({s.where}), not aligned with {name} "
                f"(adkim={mode})" for s in signing.signatures]
    if not host.signers:
        milters = ", ".join(host.milters) or "none"
        reasons.append(f"its Postfix ({ph.files}) reaches no DKIM signer (smtpd_milters/non_smtpd_milters: {milters})")
    return "; ".join(reasons)


@declare(
    "dmarc-enforcement-needs-dkim", lesson=6, level=MANDATORY, severity=Severity.HIGH,
    description="A domain that publishes DMARC p=quarantine or p=reject is DKIM-signed, aligned, by every mail "
                "host its MX names.",
    remediation="Sign the domain's mail on its mail host (OpenDKIM: a SigningTable entry `*@<domain>` naming a "
                "KeyTable key with d=<domain>, and Postfix `smtpd_milters`/`non_smtpd_milters` reaching its Socket; "
                "rspamd: a dkim_signing key for it) and publish the key, or publish p=none until it is signed.",
    url="https://www.rfc-editor.org/rfc/rfc7489#section-4.2",
    tags=["dns", "mail", "dkim", "dmarc", "lesson-6"],
)
def enforcement_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    hosts, unread = _hosts(view)
    notes: list[Note] = []
    found: dict[str, tuple[str, list[str]]] = {}
    judged = 0
    names: set[str] = set()
    claimed: set[stackview.RecordFact] = set()
    for ph in hosts:
        host = mailsigning.host_signing(view, ph)
        for fact in mailsigning.mx_naming(view, ph):
            claimed.add(fact)
            name, source = fact.rec.name, fact.source
            names |= {name, dmarcrecord.record_name(name), dmarcrecord.record_name(organizational(view, name))}
            dmarc = _enforcing(view, fact)
            if dmarc is None:
                continue
            record, where, policy = dmarc
            judged += 1
            mode = record.tags.get("adkim", "r").lower()
            signing = host.for_domain(view, name)
            if any(aligned(view, s.domain, name, mode) for s in signing.signatures):
                continue
            if signing.unknown:
                for why, until_up in signing.unknown:
                    notes.append(Note(f"{name}: whether {ph.label} signs it is not judged: {why}", until_up))
                continue
            message = (f"{name} publishes DMARC p={policy} ({where}) and its MX names {ph.label}, which does not "
                       f"DKIM-sign its mail: {_why_not(view, ph, name, signing, host, mode)}")
            urn = next((f.urn for f in view.of_type("TXT") if f.rec.name == where and f.source == source), fact.urn)
            found.setdefault(message, (urn, []))[1].append(_publisher(source))
    # A Postfix whose files cannot be read matters only if an enforced domain's MX may name it.
    if any(f.rec.value and f not in claimed and _enforcing(view, f) for f in view.of_type("MX")):
        notes += [note for _ph, note in unread]
    if not judged and not notes:
        yield NotApplicable("no domain with DMARC p=quarantine or p=reject has an MX naming a mail host of the stack")
    for message, (urn, publishers) in found.items():
        yield Finding(f"{message} (published by {', '.join(dict.fromkeys(publishers))}); SPF fails on every "
                      "forward, so DMARC needs an aligned DKIM pass (RFC 7489 §4.2): sign the domain's mail there "
                      "or publish p=none until it is signed", urn)
    yield from dict.fromkeys(notes)
    yield from _waiting(view, names)


# ---------------------------------------------------------------------------------------
# dkim-record-matches-signing-key


def key_matches(record: dkimrecord.DkimKey, private_text: str) -> bool | None:
    """Whether the record's p= is the public half of `private_text` (PEM, or the base64 DER a KeyTable may
    hold inline); None when the private key cannot be read (a placeholder, an encrypted key)."""
    data = private_text.strip().encode()
    try:
        if data.startswith(b"-----BEGIN"):
            private = serialization.load_pem_private_key(data, password=None)
        else:
            private = serialization.load_der_private_key(base64.b64decode(data, validate=True), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error):
        return None
    published = record.key_bytes() or b""
    public = private.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        return record.key_type == "ed25519" and published == public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(public, rsa.RSAPublicKey):
        if record.key_type != "rsa":
            return False
        try:
            # p= is a SubjectPublicKeyInfo (what opendkim-genkey writes) or, per RFC 6376 §3.6.1, RSAPublicKey
            loaded = serialization.load_der_public_key(published)
        except (ValueError, UnsupportedAlgorithm):
            return False
        return isinstance(loaded, rsa.RSAPublicKey) and loaded.public_numbers() == public.public_numbers()
    return None


def _publishers(view: stackview.StackView, zone: str) -> list[str]:
    sources = [f.source for f in view.records if view.zone_for(f.rec.name) == zone]
    return list(dict.fromkeys([view.zones[zone].source, *sources]))


def _record_problem(texts: list[str], name: str, signatures: list[mailsigning.Signature],
                    notes: list[Note]) -> str | None:
    records = [t for t in texts if dkimrecord.is_dkim(t)]
    if not records:
        return f"publishes no DKIM key at {name}"
    problems = []
    for text in records:
        record = dkimrecord.parse(text)
        if record.errors:
            problems.append(f"{name} {record.errors[0]} (verifiers fail the signature: permerror)")
        elif record.revoked:
            problems.append(f"{name} has an empty p=: the key is revoked (RFC 6376 §3.6.1)")
        else:
            for sig in signatures:
                if sig.key_text is None:
                    continue
                verdict = key_matches(record, sig.key_text)
                if verdict is False:
                    problems.append(f"{name} p= is not the public half of {sig.key_path}, the key {sig.signer} "
                                    f"signs with ({sig.where})")
                elif verdict is None:
                    notes.append(Note(f"{name}: the private key {sig.key_path} is not readable PEM here (a secret "
                                      "under preflight?); its match with p= is not judged"))
    return "; ".join(dict.fromkeys(problems)) or None


@declare(
    "dkim-record-matches-signing-key", lesson=6, level=MANDATORY, severity=Severity.HIGH,
    description="Every (domain, selector) a mail host signs with has its <selector>._domainkey.<domain> TXT, not "
                "revoked, whose p= is the public half of the private key the host signs with.",
    remediation="Publish `<selector>._domainkey.<domain> TXT \"v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>\"` "
                "(opendkim-genkey writes it in <selector>.txt) before signing with the selector; rotate by "
                "publishing the next selector first.",
    url="https://www.rfc-editor.org/rfc/rfc6376#section-3.6.1",
    tags=["dns", "mail", "dkim", "lesson-6"],
)
def record_findings(view: stackview.StackView, _config: None) -> Iterator[Outcome]:
    hosts, unread = _hosts(view)
    # A Postfix whose files cannot be read matters only on a machine where a signer is configured.
    notes = [note for ph, note in unread if ph.machine is not None and mailsigning.has_signer(ph.machine)]
    signed: dict[tuple[str, str], list[mailsigning.Signature]] = {}
    for ph in hosts:
        host = mailsigning.host_signing(view, ph)
        if not host.signers:
            continue
        domains = host.explicit_domains() + [f.rec.name for f in mailsigning.mx_naming(view, ph)]
        for domain in dict.fromkeys(domains):
            signing = host.for_domain(view, domain)
            for sig in signing.signatures:
                signed.setdefault((sig.domain, sig.selector), []).append(sig)
            notes += [Note(f"{domain}: the keys {ph.label} signs with are not all known: {why}", up)
                      for why, up in signing.unknown]
    if not signed and not notes:
        yield NotApplicable("no mail host of the stack DKIM-signs")
        return
    found: dict[str, tuple[str, list[str]]] = {}
    for (domain, selector), signatures in sorted(signed.items()):
        name = dkimrecord.record_name(selector, domain)
        zone = view.zone_for(name)
        if zone is None:
            notes.append(Note(f"{name}: outside the stack's zones (published elsewhere, if at all)"))
            continue
        for source in _publishers(view, zone):
            problem = _record_problem(_txt(view, name, source), name, signatures, notes)
            if problem is not None:
                urn = next((f.urn for f in view.records if f.source == source and view.zone_for(f.rec.name) == zone
                            and f.rec.name in (name, zone)), view.zones[zone].urn)
                found.setdefault(f"{signatures[0].signer} signs mail of {domain} with selector {selector}, but "
                                 f"{problem}", (urn, []))[1].append(_publisher(source))
    for message, (urn, publishers) in found.items():
        yield Finding(f"{message} ({', '.join(dict.fromkeys(publishers))}); every signature then fails "
                      "verification (RFC 6376 §6.1.2): publish the selector's key before signing with it", urn)
    yield from dict.fromkeys(notes)
    yield from _waiting(view, {dkimrecord.record_name(s, d) for d, s in signed})
