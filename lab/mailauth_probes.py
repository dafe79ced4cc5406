"""Lesson 6 beyond SPF, by traffic: DKIM and DMARC on a real message, MTA-STS fetched as a sender
fetches it, and a third party's audit of the published records.

- `dkim`: the lab user submits on 587 (STARTTLS, AUTH) to an outside address; the message the
  outside sink received carries a DKIM-Signature with `d=` our domain and `s=` each signing
  selector, which dkimpy verifies against keys asked of our name server only (from `internet`);
  DMARC (RFC 7489 §6.6) then passes on that signature alone, aligned per the record's adkim,
  and the record asks receivers to reject. SPF is left out of the verdict on purpose: it breaks
  on every forward, which is why the issue wants DKIM.
- `mta-sts`: from `internet`, trusting only the lab CA, the policy at
  `https://mta-sts.<D>/.well-known/mta-sts.txt` (RFC 8461 §3.3): 200, text/plain, a valid policy
  (§3.2) whose mx lines are exactly the MX set of D; `_mta-sts.<D>` has one STSv1 record with an
  id (§3.1); `_smtp._tls.<D>` has rua (RFC 8460 §3). In enforce mode every MX must present, on
  STARTTLS, a certificate the lab CA verifies for its name (§4.2), or enforce would be a lie.
- `mail-auth-audit`: checkdmarc's SPF and DMARC checks (as a library, asking our name server
  only, its MX/STARTTLS/HTTPS checks not called) find no error.

Judging uses lab/mailauth.py (written from the RFCs), never the stack's renderers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from lab.mailauth import (
    RecordError,
    dmarc_verdict,
    mx_matches,
    parse_dmarc_record,
    parse_mta_sts_policy,
    parse_mta_sts_txt,
    parse_tlsrpt_txt,
)

if TYPE_CHECKING:
    from lab.probes import Lab

MTA_STS_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.3
SINK_WAIT_SECONDS = 30


def _mark(ok: bool, text: str) -> str:
    return text + ("" if ok else "  <- unexpected")


def hosted_domains(lab: Lab) -> list[str]:
    from lab.mailauth_setup import hosted_domains as stack_domains

    return stack_domains(lab.cfg)


def signing_selectors(lab: Lab) -> list[str]:
    dkim = getattr(lab.cfg.mail, "dkim", None)
    return list(dkim.sign_with) if dkim is not None else []


def answer_records(entry: dict[str, Any], rdtype: str) -> list[Any]:
    """The rdata of type `rdtype` in an agent `dns` result entry (its answer lines as presentation text)."""
    found = []
    for line in entry.get("answer", []):
        words = line.split(None, 4)
        if len(words) == 5 and words[3] == rdtype:
            found.append(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), words[4]))
    return found


def txt_strings(entry: dict[str, Any]) -> list[str]:
    """Each TXT record's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
    return [b"".join(r.strings).decode(errors="replace") for r in answer_records(entry, "TXT")]


def _submit_to_outside(lab: Lab, token: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from lab.hosts import account_password
    from lab.probes import _reset_daily_count, _sink_messages
    from lab.system import wait_for

    _reset_daily_count(lab)  # the lab's daily limit is 3: this probe must not meet it
    sender = f"{lab.account}@{lab.domain}"
    message = {"from": sender, "to": [f"dkim-{token}@{lab.outside}"], "subject": f"DKIM probe {token}",
               "id": f"dkim-{token}", "size": 400}
    session = lab.agent("customer", "smtp", host=lab.mail_public, port=587, helo=f"client.{lab.outside}",
                        starttls=True, user=lab.account, password_file=str(account_password(lab.account)),
                        messages=[message])
    wait_for(lambda: bool(_sink_messages(token)), timeout=SINK_WAIT_SECONDS, interval=0.3)
    return session, _sink_messages(token)


def probe_dkim(lab: Lab) -> tuple[bool, list[str]]:
    from lab.probes import _code

    token = secrets.token_hex(4)
    selectors = signing_selectors(lab)
    session, records = _submit_to_outside(lab, token)
    evidence = [f"customer -> {lab.mail_public}:587, STARTTLS, AUTH as {lab.account} -> {_code(session, 'auth as')}; "
                f"From {lab.account}@{lab.domain} to dkim-{token}@{lab.outside}: {_code(session, 'end of data')}"]
    if not records or not records[-1].get("raw_file"):
        return False, [*evidence, f"the sink saw no such message within {SINK_WAIT_SECONDS} s  <- expected one"]
    record = records[-1]
    seen = lab.agent("internet", "dkim_verify", raw_file=record["raw_file"], nameserver=lab.dns_public)
    signatures = seen.get("signatures", [])
    evidence.append(f"the sink got it from {record['peer']} (HELO {record['helo']}), {record['bytes']} bytes, "
                    f"kept as {record['raw_file'].rsplit('/', 2)[-2]}/{record['raw_file'].rsplit('/', 1)[-1]}")
    if "error" in seen:
        return False, [*evidence, f"dkimpy could not run: {seen['error']}"]
    for sig in signatures:
        evidence.append(_mark(sig.get("verified", False),
                              f"DKIM-Signature d={sig['d']} s={sig['s']} a={sig['a']} c={sig['c']} h={sig['h']}: "
                              f"dkimpy verify -> {'pass' if sig.get('verified') else 'FAIL'}"
                              + (f" ({sig['error']})" if sig.get("error") else "")))
        if sig.get("key_record"):
            evidence.append(f"  {sig['s']}._domainkey.{sig['d']} TXT (from ns1 {lab.dns_public}): "
                            f"{sig['key_record'][:72]}...")
    if not signatures:
        evidence.append("no DKIM-Signature header  <- expected one per signing selector")
    wanted = {(lab.domain, s) for s in selectors}
    good = {(s["d"].lower(), s["s"]) for s in signatures if s.get("verified")}
    signed = bool(selectors) and wanted <= good
    evidence.append(_mark(signed, f"wanted a verified signature d={lab.domain} for each signing selector "
                                  f"{selectors or '(none configured)'}"))
    verdict_ok = False
    dmarc = seen.get("dmarc")
    try:
        if not dmarc or len(dmarc["records"]) != 1:
            raise RecordError(f"expected exactly one DMARC record (RFC 7489 §6.6.3), found {dmarc}")
        policy = parse_dmarc_record(dmarc["records"][0])
        verdict = dmarc_verdict(from_domain=seen.get("from_domain", ""), record=policy,
                                dkim_passed_domains=[s["d"] for s in signatures if s.get("verified")])
        verdict_ok = verdict.result == "pass" and policy["p"] == "reject"
        evidence += [f"{dmarc['name']} TXT (from ns1 {lab.dns_public}): {dmarc['records'][0]}",
                     _mark(verdict_ok, f"DMARC for From {seen.get('from_domain')} on DKIM alone: {verdict.result} "
                                       f"(p={policy['p']}, adkim={policy['adkim']})"
                                       + (f": {'; '.join(verdict.reasons)}" if verdict.reasons else ""))]
    except RecordError as error:
        evidence.append(f"DMARC: {error}  <- unexpected")
    asked = seen.get("asked", [])
    evidence.append(f"{len(asked)} DNS questions, every one to ns1 {lab.dns_public} only: {', '.join(asked)}")
    return signed and verdict_ok, evidence


def _mx_hosts(entry: dict[str, Any]) -> list[str]:
    records = sorted(answer_records(entry, "MX"), key=lambda r: r.preference)
    return [r.exchange.to_text().rstrip(".").lower() for r in records]


def _one_domain_sts(lab: Lab, domain: str, ca: str) -> tuple[bool, list[str]]:
    from lab.probes import _dns_line

    looked_up = lab.agent("internet", "dns", server=lab.dns_public, source=lab.client,
                          queries=[[domain, "MX"], [f"_mta-sts.{domain}", "TXT"], [f"_smtp._tls.{domain}", "TXT"]])
    results = looked_up.get("results") or [{"name": domain, "type": "MX", "error": looked_up.get("error")}] * 3
    mx_entry, sts_entry, rpt_entry = results
    mx_hosts = _mx_hosts(mx_entry)
    checks: list[tuple[bool, str]] = [(bool(mx_hosts), f"MX {_dns_line(mx_entry)}")]
    sts_records = [t for t in txt_strings(sts_entry) if t.startswith("v=STSv1")]
    try:
        if len(sts_records) != 1:
            raise RecordError(f"{len(sts_records)} STSv1 records; RFC 8461 §3.1 wants exactly one")
        checks.append((True, f"_mta-sts.{domain} TXT {sts_records[0]!r}: id {parse_mta_sts_txt(sts_records[0])}"))
    except RecordError as error:
        checks.append((False, f"_mta-sts.{domain} TXT: {_dns_line(sts_entry)}: {error}"))
    try:
        rua = parse_tlsrpt_txt(next(iter(t for t in txt_strings(rpt_entry) if t.startswith("v=TLSRPTv1")), ""))
        checks.append((True, f"_smtp._tls.{domain} TXT: rua {', '.join(rua)}"))
    except RecordError as error:
        checks.append((False, f"_smtp._tls.{domain} TXT: {_dns_line(rpt_entry)}: {error}"))
    name = f"mta-sts.{domain}"
    got = lab.agent("internet", "https_get", name=name, path=MTA_STS_PATH, nameserver=lab.dns_public, cafile=ca,
                    source=lab.client)
    fetched = got.get("outcome") == "verified"
    checks.append((fetched, f"https://{name}{MTA_STS_PATH} ({' -> '.join(got.get('dns', [])) or 'no address'}), "
                            f"only the lab CA trusted, hostname checked: {got.get('outcome')} "
                            f"{got.get('detail', '')}".rstrip()))
    content_type = got.get("content_type", "")
    checks.append((got.get("status") == 200 and content_type.split(";")[0].strip().lower() == "text/plain",
                   f"  {got.get('status_line')}, Content-Type {content_type or '(none)'}, certificate SAN "
                   f"{got.get('san')}"))
    policy = None
    try:
        policy = parse_mta_sts_policy(got.get("body", "")) if fetched else None
    except RecordError as error:
        checks.append((False, f"  policy does not parse (RFC 8461 §3.2): {error}"))
    if policy is not None:
        covered = all(any(mx_matches(p, h) for p in policy.mx) for h in mx_hosts)
        exact = sorted(policy.mx) == sorted(mx_hosts)
        checks.append((covered and exact, f"  policy: mode {policy.mode}, max_age {policy.max_age}, mx "
                                          f"{list(policy.mx)}; MX set of {domain}: {mx_hosts}"))
        mx_addresses = lab.agent("internet", "dns", server=lab.dns_public, source=lab.client,
                                 queries=[[h, "A"] for h in mx_hosts])
        for host, entry in zip(mx_hosts, mx_addresses.get("results", []), strict=False):
            address = next((str(r) for r in answer_records(entry, "A")), None)
            tls = lab.agent("internet", "smtp_starttls", host=address or host, port=25, server_name=host, cafile=ca,
                            source=lab.client) if address else {"outcome": "error", "detail": "no address"}
            ok = tls.get("outcome") == "verified" or policy.mode != "enforce"
            checks.append((ok, f"  MX {host} ({address}):25 STARTTLS, lab CA only, name checked: {tls.get('outcome')} "
                               f"{tls.get('version') or tls.get('detail', '')}"
                               + ("" if policy.mode == "enforce" else " (not required: mode is not enforce)")))
    asked = got.get("asked", [])
    checks.append((True, f"HTTPS name resolution asked ns1 {lab.dns_public} only: {', '.join(asked)}"))
    return all(ok for ok, _ in checks), [_mark(ok, text) for ok, text in checks]


def probe_mta_sts(lab: Lab) -> tuple[bool, list[str]]:
    from lab.pki import SECRETS_DIR

    if getattr(lab.cfg.mail, "mta_sts", None) is None:
        return False, ["the stack has no isp:mail.mtaSts: no policy is published  <- expected one"]
    ca = SECRETS_DIR / "lab-ca.pem"
    if not ca.exists():
        return False, [f"no lab CA at {ca}; run make lab first"]
    passed, evidence = True, []
    for domain in hosted_domains(lab):
        ok, lines = _one_domain_sts(lab, domain, str(ca))
        passed &= ok
        evidence += [f"{domain}:", *(f"  {line}" for line in lines)]
    return passed and bool(evidence), evidence


def probe_mail_auth_audit(lab: Lab) -> tuple[bool, list[str]]:
    passed, evidence = True, []
    for domain in hosted_domains(lab):
        audit = lab.agent("internet", "mail_audit", domain=domain, nameserver=lab.dns_public)
        if "error" in audit:
            return False, [f"checkdmarc could not run for {domain}: {audit['error']}"]
        spf, dmarc = audit.get("spf", {}), audit.get("dmarc", {})
        for result in (spf, dmarc):  # checkdmarc's messages may span lines; the report keeps one per check
            for key in ("error", "record"):
                if isinstance(result.get(key), str):
                    result[key] = " ".join(result[key].split())
        spf_ok = spf.get("valid") is True and "error" not in spf
        dmarc_ok = dmarc.get("valid") is True and "error" not in dmarc
        passed &= spf_ok and dmarc_ok
        evidence += [
            _mark(spf_ok, f"checkdmarc SPF {domain}: {spf.get('record') or '(no record)'} -> "
                          f"{'valid' if spf_ok else 'error: ' + str(spf.get('error'))}"
                          f"; warnings {spf.get('warnings') or 'none'}"),
            _mark(dmarc_ok, f"checkdmarc DMARC {domain}: {dmarc.get('record') or '(no record)'} at "
                            f"{dmarc.get('location')} -> {'valid' if dmarc_ok else 'error: ' + str(dmarc.get('error'))}"
                            f"; warnings {dmarc.get('warnings') or 'none'}"),
            f"{len(audit.get('asked', []))} DNS questions, every one to ns1 {lab.dns_public}; no MX, STARTTLS or "
            f"HTTPS check run (they would connect elsewhere)",
        ]
    return passed and bool(evidence), evidence


MAIL_AUTH_PROBES: list[tuple[str, str, str, Callable[[Lab], tuple[bool, list[str]]]]] = [
    ("dkim", "6", "mail submitted on 587 reaches the outside DKIM-signed d=our domain; dkimpy verifies it; "
     "DMARC passes aligned on DKIM alone", probe_dkim),
    ("mta-sts", "6, 10", "the MTA-STS policy verifies over HTTPS from outside (lab CA), its mx lines are the "
     "MX set; _mta-sts id and TLS-RPT rua are published", probe_mta_sts),
    ("mail-auth-audit", "6", "checkdmarc, asking only our name server, finds no SPF or DMARC error",
     probe_mail_auth_audit),
]
