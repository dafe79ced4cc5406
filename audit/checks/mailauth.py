"""Lesson 6 as a receiver reads it from the live DNS (and HTTPS, for MTA-STS).

- `spf`: pyspf (RFC 7208) evaluates each hosted mail domain for each mail-host address, its DNS questions
  sent through the stack resolver, its DNS-querying terms counted (§4.6.4: at most 10); a record that
  also lets a stranger's address pass (`+all`, `?all` is neutral) authorizes the world and fails;
- `dkim-published`: `<selector>._domainkey.<domain>` holds the configured public key (RFC 6376 §3.6.1),
  not revoked, for the signing key and every key kept published;
- `dmarc`: `_dmarc.<zone>` holds one record (RFC 7489 §6.6.3) with the policy and alignment the stack sets;
- `mta-sts`: `_mta-sts.<domain>` has the expected id (RFC 8461 §3.1) and the policy served over HTTPS
  (§3.3: 200, text/plain, a certificate valid for mta-sts.<domain>, no redirect) is the expected one, or at
  least has its mode and exactly the MX set the DNS gives (§3.2, §4.1);
- `tls-rpt`: `_smtp._tls.<domain>` has one TLSRPTv1 record with the expected rua (RFC 8460 §3).

Records are read with audit/mailrecords.py (written from the RFCs), never with the stack's renderers.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator

import spf as pyspf

from audit.checks.mail import timed
from audit.mailrecords import (
    RecordError,
    mx_matches,
    parse_dkim_key_record,
    parse_dmarc_record,
    parse_mta_sts_policy,
    parse_mta_sts_txt,
    parse_tag_list,
    parse_tlsrpt_txt,
)
from audit.model import AuditContext, Result, Status, check

SPF_LOOKUP_LIMIT = pyspf.MAX_LOOKUP  # RFC 7208 §4.6.4: 10 DNS-querying terms
SPF_SECONDS = 20.0  # RFC 7208 §4.6.4: at least 20 s for the whole evaluation
# Addresses for documentation (RFC 5737, RFC 3849): nobody sends from them, so an SPF pass for one means the
# record authorizes any address. The first outside our blocks is used.
STRANGER_ADDRESSES = ("192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1")
MTA_STS_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.3
HTTPS_PORT = 443
DMARC_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}
_SPF_HOOK = threading.Lock()  # pyspf looks names up through one module-level function: one at a time


def _txt(ctx: AuditContext, name: str, prefix: str) -> tuple[list[str], str | None, str]:
    """The TXT records at `name` that start with `prefix` (RFC 7489 §6.6.3, RFC 8461 §3.1, RFC 8460 §3
    discard the others): (records, error, evidence line)."""
    answer = ctx.resolver.query(name, "TXT")
    texts = answer.records("TXT")
    line = f"{answer.query_text} -> {answer.error or answer.rcode} {' | '.join(repr(t) for t in texts) or '(none)'}"
    return [t for t in texts if t.strip().lower().startswith(prefix.lower())], answer.error, line


# ------------------------------------------------------------------------------------------- spf


def stranger_address(ctx: AuditContext) -> str:
    blocks = [ipaddress.ip_network(b, strict=False) for b in ctx.expect.public_blocks]
    return next(a for a in STRANGER_ADDRESSES if not any(ipaddress.ip_address(a) in b for b in blocks))


def evaluate_spf(ctx: AuditContext, address: str, domain: str, helo: str) -> tuple[str, str, int]:
    """pyspf's (result, explanation, DNS-querying terms counted) for MAIL FROM postmaster@domain at address."""
    with _SPF_HOOK, ctx.resolver.pyspf():
        query = pyspf.query(i=address, s=f"postmaster@{domain}", h=helo, querytime=SPF_SECONDS)
        result, _code, explanation = query.check()
    return result, explanation, query.lookups


@check("spf", lesson="6", vantage="outside",
       claim="each hosted mail domain's SPF (RFC 7208, evaluated by pyspf with lookups counted, at most 10) "
             "passes for every mail-host address and not for a stranger's address")
def spf(ctx: AuditContext) -> Iterator[Result]:
    for domain in ctx.expect.hosted_mail_domains:
        for host in ctx.expect.mail_hosts:
            for address in host.addresses:
                yield timed(lambda d=domain, h=host.name, a=address: _spf_one(ctx, d, h, a))


def _spf_one(ctx: AuditContext, domain: str, helo: str, address: str) -> Result:
    target = f"{domain} {address}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("spf", "6", target, status, summary, tuple(evidence))

    records, error, line = _txt(ctx, domain, "v=spf1")
    evidence = [line]
    if error:
        return result("WARN", f"the SPF record of {domain} could not be asked", evidence)
    verdict, explanation, lookups = evaluate_spf(ctx, address, domain, helo)
    evidence.append(f"pyspf check2(i={address}, s=postmaster@{domain}, h={helo}) -> {verdict} "
                    f"({explanation}); {lookups} DNS-querying terms (limit {SPF_LOOKUP_LIMIT}, RFC 7208 §4.6.4)")
    if verdict == "temperror":
        return result("WARN", f"SPF for {domain} could not be evaluated: {explanation}", evidence)
    if lookups > SPF_LOOKUP_LIMIT:
        return result("FAIL", f"SPF of {domain} needs {lookups} DNS lookups, over {SPF_LOOKUP_LIMIT}: permerror "
                              f"at receivers", evidence)
    if verdict != "pass":
        return result("FAIL", f"SPF of {domain} gives {verdict} for our mail host {address}", evidence)
    stranger = stranger_address(ctx)
    other, other_explanation, _ = evaluate_spf(ctx, stranger, domain, helo)
    evidence.append(f"pyspf for a stranger's address {stranger} (RFC 5737/3849) -> {other} ({other_explanation})")
    if other in ("pass", "neutral", "none"):
        return result("FAIL", f"SPF of {domain} does not refuse a stranger's address ({other}): anyone may send "
                              f"as {domain}", evidence)
    return result("PASS", f"SPF of {domain}: pass for {address}, {other} for a stranger, {lookups} lookups",
                  evidence)


# -------------------------------------------------------------------------------- dkim-published


@check("dkim-published", lesson="6", vantage="outside",
       claim="each configured DKIM key (signing and kept published) is at <selector>._domainkey.<domain>: one "
             "valid record (RFC 6376 §3.6.1), not revoked, p= the configured public key")
def dkim_published(ctx: AuditContext) -> Iterator[Result]:
    for expected in ctx.expect.dkim:
        yield timed(lambda e=expected: _dkim_one(ctx, e))


def _dkim_one(ctx: AuditContext, expected) -> Result:
    role = "signing" if expected.signing else "published, not signing"
    target = f"{expected.name} ({role})"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("dkim-published", "6", target, status, summary, tuple(evidence))

    answer = ctx.resolver.query(expected.name, "TXT")
    texts = answer.records("TXT")
    evidence = [f"{answer.query_text} -> {answer.error or answer.rcode} "
                f"{' | '.join(repr(_short(t)) for t in texts) or '(none)'}",
                f"configured: k={expected.algorithm} p={_short(expected.public_key)}"]
    if answer.error:
        return result("WARN", f"{expected.name} could not be asked", evidence)
    if not texts:
        return result("FAIL", f"no key at {expected.name}: signatures with s={expected.selector} fail "
                              f"(a key rotated on the host but not in DNS?)", evidence)
    if len(texts) > 1:
        return result("FAIL", f"{len(texts)} records at {expected.name}: a verifier may read any one "
                              f"(RFC 6376 §3.6.2.2)", evidence)
    try:
        key = parse_dkim_key_record(texts[0])
    except RecordError as error:
        return result("FAIL", f"the key record does not parse: {error}", evidence)
    if key.revoked:
        return result("FAIL", f"the key at {expected.name} is revoked (empty p=, RFC 6376 §3.6.1)", evidence)
    if key.key_type != expected.algorithm.lower():
        return result("FAIL", f"k={key.key_type}, configured {expected.algorithm}", evidence)
    if key.public_key != "".join(expected.public_key.split()):
        return result("FAIL", f"p= at {expected.name} is another key than the configured one (a key rotated on "
                              f"the host but not in DNS)", evidence)
    return result("PASS", f"{expected.name} publishes the configured {expected.algorithm} key", evidence)


def _short(text: str) -> str:
    return text if len(text) <= 72 else f"{text[:60]}...{text[-8:]}"


# ------------------------------------------------------------------------------------------ dmarc


def _expected_aspf(expected) -> str:
    try:
        return parse_tag_list(expected.record).get("aspf", expected.alignment) if expected.record else \
            expected.alignment
    except RecordError:
        return expected.alignment


@check("dmarc", lesson="6", vantage="outside",
       claim="_dmarc.<zone> holds one DMARC record (RFC 7489 §6.6.3) with the expected p=, adkim and aspf, "
             "and a rua for reports")
def dmarc(ctx: AuditContext) -> Iterator[Result]:
    for expected in ctx.expect.dmarc:
        yield timed(lambda e=expected: _dmarc_one(ctx, e))


def _dmarc_one(ctx: AuditContext, expected) -> Result:
    name = f"_dmarc.{expected.zone}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("dmarc", "6", name, status, summary, tuple(evidence))

    records, error, line = _txt(ctx, name, "v=DMARC1")
    evidence = [line, f"expected: p={expected.policy} adkim={expected.alignment} aspf={_expected_aspf(expected)}"]
    if error:
        return result("WARN", f"{name} could not be asked", evidence)
    if len(records) != 1:
        return result("FAIL", f"{len(records)} DMARC records at {name}: receivers apply none (RFC 7489 §6.6.3)",
                      evidence)
    try:
        tags = parse_dmarc_record(records[0])
    except RecordError as error:
        return result("FAIL", f"the DMARC record does not parse: {error}", evidence)
    policy = tags["p"]
    if DMARC_STRENGTH[policy] < DMARC_STRENGTH.get(expected.policy, 0):
        return result("FAIL", f"p={policy} is weaker than the expected p={expected.policy}", evidence)
    differences = []
    if policy != expected.policy:
        differences.append(f"p={policy}, expected {expected.policy}")
    for tag, wanted in (("adkim", expected.alignment), ("aspf", _expected_aspf(expected))):
        if tags[tag] != wanted:
            differences.append(f"{tag}={tags[tag]}, expected {wanted}")
    if not tags.get("rua"):
        differences.append("no rua: nobody receives the aggregate reports (RFC 7489 §6.3)")
    if differences:
        return result("WARN", "; ".join(differences), evidence)
    return result("PASS", f"p={policy} adkim={tags['adkim']} aspf={tags['aspf']} rua={tags['rua']}", evidence)


# ---------------------------------------------------------------------------------------- mta-sts


@check("mta-sts", lesson="6", vantage="outside",
       claim="_mta-sts.<domain> has v=STSv1 and the expected id; the policy served over HTTPS (200, text/plain, "
             "certificate for mta-sts.<domain>, no redirect) is the expected one with the live MX set (RFC 8461)")
def mta_sts(ctx: AuditContext) -> Iterator[Result]:
    for expected in ctx.expect.mta_sts:
        yield timed(lambda e=expected: _mta_sts_one(ctx, e))


def _mta_sts_one(ctx: AuditContext, expected) -> Result:
    domain = expected.domain
    policy_name = f"mta-sts.{domain}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("mta-sts", "6", domain, status, summary, tuple(evidence))

    records, error, line = _txt(ctx, f"_mta-sts.{domain}", "v=STSv1")
    evidence = [line]
    if error:
        return result("WARN", f"_mta-sts.{domain} could not be asked", evidence)
    if len(records) != 1:
        return result("FAIL", f"{len(records)} STSv1 records at _mta-sts.{domain}; RFC 8461 §3.1 wants one",
                      evidence)
    try:
        published_id = parse_mta_sts_txt(records[0])
    except RecordError as error:
        return result("FAIL", f"_mta-sts.{domain} does not parse: {error}", evidence)
    if published_id != expected.id:
        return result("FAIL", f"id {published_id}, expected {expected.id}: senders keep a stale policy "
                              f"(RFC 8461 §3.1)", evidence)
    mx_hosts = sorted({host.lower().rstrip(".") for _, host in ctx.resolver.mx(domain)})
    evidence.append(f"MX of {domain}: {', '.join(mx_hosts) or '(none)'}")
    addresses = ctx.resolver.addresses(policy_name)
    evidence.append(f"{policy_name} -> {', '.join(addresses) or '(no address)'}")
    if not addresses:
        return result("WARN", f"{policy_name} has no address the audit could learn", evidence)
    try:
        response = ctx.net.https_get(addresses[0], HTTPS_PORT, server_name=policy_name, path=MTA_STS_PATH,
                                     cafile=ctx.options.cafile)
    except ValueError as refused:  # an address that is not the stack's: the Net will not contact it
        return result("WARN", f"{policy_name} leads to an address the audit may not contact: {refused}", evidence)
    content_type = response.header("content-type")
    certificate = response.certificate
    evidence.append(f"GET https://{policy_name}{MTA_STS_PATH} at {addresses[0]} -> "
                    f"{response.error or response.status}, Content-Type {content_type or '(none)'}; certificate "
                    + (f"names {', '.join(certificate.dns_names)}, verified {certificate.verified}"
                       f"{' (' + certificate.verify_error + ')' if certificate.verify_error else ''}"
                       if certificate else "(none)"))
    if response.status is None:
        return result("WARN", f"no HTTPS answer from {policy_name}: {response.error}", evidence)
    if certificate is None or not certificate.verified:
        return result("FAIL", f"the certificate of {policy_name} does not verify: senders ignore the policy "
                              f"(RFC 8461 §3.3)", evidence)
    if response.status != 200:
        return result("FAIL", f"the policy answers {response.status}, not 200 (RFC 8461 §3.3: no redirects)",
                      evidence)
    if content_type.split(";")[0].strip().lower() != "text/plain":
        return result("FAIL", f"Content-Type {content_type or '(none)'}, not text/plain (RFC 8461 §3.2)", evidence)
    text = response.body.decode(errors="replace")
    try:
        policy = parse_mta_sts_policy(text)
    except RecordError as error:
        return result("FAIL", f"the policy does not parse (RFC 8461 §3.2): {error}", evidence)
    evidence.append(f"policy: mode {policy.mode}, max_age {policy.max_age}, mx {', '.join(policy.mx)}")
    uncovered = [h for h in mx_hosts if not any(mx_matches(p, h) for p in policy.mx)]
    stale = [p for p in policy.mx if not any(mx_matches(p, h) for h in mx_hosts)]
    if uncovered:
        return result("FAIL", f"the policy's mx lines lack {', '.join(uncovered)}: senders refuse it "
                              f"(RFC 8461 §4.1)", evidence)
    if stale:
        return result("FAIL", f"the policy lists {', '.join(stale)}, not an MX of {domain}", evidence)
    expected_mode = parse_mta_sts_policy(expected.policy).mode
    if policy.mode != expected_mode:
        return result("FAIL", f"mode {policy.mode}, expected {expected_mode}", evidence)
    same = _lines(text) == _lines(expected.policy)
    return result("PASS", f"id {published_id}; policy {'as expected' if same else 'differs in text, but'} "
                          f"mode {policy.mode} and mx lines are the MX set", evidence)


def _lines(text: str) -> list[str]:
    """A policy's lines without their CRLF/LF endings (RFC 8461 §3.2 allows either)."""
    return [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]


# ---------------------------------------------------------------------------------------- tls-rpt


@check("tls-rpt", lesson="6", vantage="outside",
       claim="_smtp._tls.<domain> has one v=TLSRPTv1 record with the expected rua (RFC 8460 §3)")
def tls_rpt(ctx: AuditContext) -> Iterator[Result]:
    for domain, ruas in ctx.expect.tls_rpt:
        yield timed(lambda d=domain, r=ruas: _tls_rpt_one(ctx, d, r))


def _tls_rpt_one(ctx: AuditContext, domain: str, ruas: tuple[str, ...]) -> Result:
    name = f"_smtp._tls.{domain}"

    def result(status: Status, summary: str, evidence: list[str]) -> Result:
        return Result("tls-rpt", "6", name, status, summary, tuple(evidence))

    records, error, line = _txt(ctx, name, "v=TLSRPTv1")
    evidence = [line, f"expected rua: {', '.join(ruas)}"]
    if error:
        return result("WARN", f"{name} could not be asked", evidence)
    if len(records) != 1:
        return result("FAIL", f"{len(records)} TLSRPTv1 records at {name}; RFC 8460 §3 wants exactly one",
                      evidence)
    try:
        published = parse_tlsrpt_txt(records[0])
    except RecordError as error:
        return result("FAIL", f"the TLS-RPT record does not parse: {error}", evidence)
    if sorted(published) != sorted(ruas):
        return result("FAIL", f"rua {', '.join(published)}, expected {', '.join(ruas)}", evidence)
    return result("PASS", f"rua {', '.join(published)}", evidence)
