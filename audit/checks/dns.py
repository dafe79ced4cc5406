"""Lesson 3 from outside: our name servers answer only for our zones (no open recursion), authoritatively,
and a signed zone's signatures validate.

Every exchange is one `ctx.net.dns` call with its timeout and tries; a name server that does not answer
is a WARN (could not be decided), never a hang.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from audit.model import AuditContext, Result, Status, check, each_at_once

if TYPE_CHECKING:
    from audit.net import DnsAnswer

NO_CHAIN_NOTE = ("the chain of trust (the parent's DS, up to the root) is not checked: the audit validates "
                 "offline against the zone's own DNSKEY (RFC 4035 §5)")


def dns_line(answer: DnsAnswer) -> str:
    """One evidence line: the query and what came back (rcode, flags, the records), or why nothing did."""
    if answer.error:
        return f"{answer.query_text} -> {answer.error}"
    records = "; ".join(answer.answer) or "no records"
    return f"{answer.query_text} -> {answer.rcode} (flags {' '.join(sorted(answer.flags))}): {records}"


def name_server_addresses(ctx: AuditContext) -> Iterator[tuple[str, str]]:
    """(name-server FQDN, address) for every public address of every name server, IPv4 then IPv6."""
    for server in ctx.expect.name_servers:
        for address in server.addresses:
            yield server.name, address


@check("recursion-refused", lesson="3", vantage="outside",
       claim="every name-server address answers an outsider's recursive query for a name outside our zones "
             "REFUSED, or without RA and without data (no open resolver; RFC 1035 §4.1.1, RFC 5358)")
def recursion_refused(ctx: AuditContext) -> Iterator[Result]:
    """RFC 1035 §4.1.1: RA says recursion is available to the asker. From outside, a query with RD for a
    name outside our zones must be REFUSED, or at least come back without RA and without data (RFC 5358:
    an open resolver is an amplifier)."""
    name = ctx.options.outside_name
    for server, address in name_server_addresses(ctx):
        answer = ctx.net.dns(address, name, "A", rd=True)
        target = f"{server} {address}"
        evidence = (dns_line(answer),)
        if answer.error:
            yield Result("recursion-refused", "3", target, "WARN", "no answer: recursion not judged", evidence)
        elif answer.rcode == "REFUSED":
            yield Result("recursion-refused", "3", target, "PASS", f"{name} refused to the outside", evidence)
        elif "ra" in answer.flags or answer.answer:
            yield Result("recursion-refused", "3", target, "FAIL",
                         f"open resolver: {name} answered {answer.rcode} with "
                         f"{'RA' if 'ra' in answer.flags else 'data'} (RFC 1035 §4.1.1, RFC 5358)", evidence)
        else:
            yield Result("recursion-refused", "3", target, "PASS",
                         f"{name}: {answer.rcode} without RA and without data (no recursion offered)", evidence)


@check("authoritative-answers", lesson="3", vantage="outside",
       claim="every name-server address answers the SOA of every zone it serves NOERROR with AA "
             "(RFC 1035 §4.1.1)")
def authoritative_answers(ctx: AuditContext) -> Iterator[Result]:
    """RFC 1035 §4.1.1 / RFC 8499: AA marks an answer from a server authoritative for the zone. The SOA of
    each zone, asked with RD off, must come back NOERROR with AA and the SOA in the answer section."""
    # Every zone at every address at once: a silent name server costs one timeout, not one per zone.
    yield from each_at_once([partial(_authoritative_one, ctx, zone, server, address)
                             for zone in ctx.expect.bind_zones for server, address in name_server_addresses(ctx)])


def _authoritative_one(ctx: AuditContext, zone: str, server: str, address: str) -> Result:
    answer = ctx.net.dns(address, zone, "SOA", rd=False)
    target = f"{zone} @ {server} {address}"
    evidence = (dns_line(answer),)
    if answer.error:
        status: Status = "WARN"
        summary = "no answer: not judged"
    elif answer.rcode == "NOERROR" and "aa" in answer.flags and answer.records("SOA"):
        status, summary = "PASS", f"SOA of {zone} answered authoritatively (AA)"
    elif answer.rcode != "NOERROR":
        status, summary = "FAIL", f"SOA of {zone}: {answer.rcode}, expected an authoritative NOERROR"
    elif "aa" not in answer.flags:
        status, summary = "FAIL", f"SOA of {zone} answered without AA: not authoritative (RFC 1035 §4.1.1)"
    else:
        status, summary = "FAIL", f"SOA of {zone}: NOERROR with AA but no SOA in the answer"
    return Result("authoritative-answers", "3", target, status, summary, evidence)


def _rrsets(lines: tuple[str, ...]) -> dict[tuple[str, str, str], dns.rrset.RRset]:
    """Answer lines ("owner ttl IN TYPE rdata") back into rrsets, keyed (owner, type, covered type)."""
    grouped: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    for line in lines:
        fields = line.split(None, 4)
        if len(fields) < 5 or fields[2].upper() != "IN":
            continue
        owner, ttl, _, rdtype, rdata = fields
        covered = rdata.split(None, 1)[0].upper() if rdtype.upper() == "RRSIG" else ""
        grouped.setdefault((owner.lower(), rdtype.upper(), covered), []).append((int(ttl), rdata))
    return {key: dns.rrset.from_text_list(key[0], min(t for t, _ in rows), "IN", key[1], [r for _, r in rows])
            for key, rows in grouped.items()}


def _judge_signature(zone: str, dnskey_lines: tuple[str, ...], soa_lines: tuple[str, ...],
                     now: datetime.datetime) -> tuple[Status, str, list[str]]:
    """The SOA's RRSIG checked with the zone's DNSKEY rrset at `now` (RFC 4035 §5.3)."""
    owner = dns.name.from_text(zone).to_text().lower()
    try:
        sets = _rrsets(dnskey_lines + soa_lines)
    except (dns.exception.DNSException, ValueError) as error:
        return "FAIL", f"unreadable DNSSEC records: {error}", []
    keys, soa, signatures = sets.get((owner, "DNSKEY", "")), sets.get((owner, "SOA", "")), sets.get(
        (owner, "RRSIG", "SOA"))
    if keys is None or soa is None or signatures is None:
        missing = [what for what, value in (("DNSKEY", keys), ("SOA", soa), ("RRSIG over the SOA", signatures))
                   if value is None]
        return "FAIL", f"signed zone without {', '.join(missing)} in the answers (RFC 4035 §3.1.1)", []
    notes = [f"RRSIG SOA key tag {sig.key_tag}, algorithm {dns.dnssec.algorithm_to_text(sig.algorithm)}, "
             f"valid {_when(sig.inception)} to {_when(sig.expiration)}" for sig in signatures]
    try:
        dns.dnssec.validate(soa, signatures, {keys.name: keys}, now=now.timestamp())
    except dns.dnssec.ValidationFailure as failure:
        stamp = now.timestamp()
        if all(sig.expiration < stamp for sig in signatures):
            return "FAIL", "the SOA's signatures have expired (RFC 4034 §3.1.5)", notes
        if all(sig.inception > stamp for sig in signatures):
            return "FAIL", "the SOA's signatures are not yet valid (RFC 4034 §3.1.5)", notes
        return "FAIL", f"the SOA's RRSIG does not validate with the zone's DNSKEY: {failure}", notes
    return "PASS", "the SOA's RRSIG validates with the zone's DNSKEY and is in date", notes


def _when(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@check("dnssec", lesson="3", vantage="outside",
       claim="each signed zone's SOA RRSIG validates with the zone's DNSKEY and is in date (RFC 4035 §5.3; "
             "the chain to the root is not checked; unsigned zones are not judged)")
def dnssec(ctx: AuditContext) -> Iterator[Result]:
    """RFC 4033-4035. Each zone our name servers serve is asked for DNSKEY with DO (RD off), from the first
    name-server address that answers. A zone without DNSKEY is unsigned and gives no Result: signing is
    not a lesson, only that a signed zone must validate. When no name server answers at all, a WARN."""
    # Every zone at once; each zone's name servers in turn (the first that answers judges it).
    for results in each_at_once([partial(_dnssec_zone, ctx, zone) for zone in ctx.expect.bind_zones]):
        yield from results


def _dnssec_zone(ctx: AuditContext, zone: str) -> list[Result]:
    """One zone's result, from the first name-server address that answers; none for an unsigned zone."""
    tried: list[str] = []
    for server, address in name_server_addresses(ctx):
        keys = ctx.net.dns(address, zone, "DNSKEY", rd=False, dnssec=True)
        tried.append(dns_line(keys))
        if keys.error:
            continue
        if not keys.records("DNSKEY"):
            return []  # unsigned: not judged
        soa = ctx.net.dns(address, zone, "SOA", rd=False, dnssec=True)
        if soa.error:
            return [Result("dnssec", "3", zone, "WARN", "DNSKEY answered but the SOA was not: not judged",
                           (*tried, dns_line(soa)))]
        status, summary, notes = _judge_signature(zone, keys.answer, soa.answer, ctx.options.now)
        return [Result("dnssec", "3", zone, status, f"{summary} ({server})",
                       (*tried, dns_line(soa), *notes, NO_CHAIN_NOTE))]
    if tried:
        return [Result("dnssec", "3", zone, "WARN", "no name server answered: DNSSEC not judged", tuple(tried))]
    return []
