"""Lesson 6 beyond SPF, by traffic: DKIM and DMARC on a real message, MTA-STS as the audit fetches it,
and a third party's audit of the published records.

- `dkim`: the lab user submits on 587 (STARTTLS, AUTH) to an outside address; the message the
  outside sink received carries a DKIM-Signature with `d=` our domain and `s=` each signing
  selector, which dkimpy verifies against keys asked of our name server only (from `internet`);
  DMARC (RFC 7489 §6.6) then passes on that signature alone, aligned per the record's adkim,
  and the record asks receivers to reject. SPF is left out of the verdict on purpose: it breaks
  on every forward, which is why the issue wants DKIM.
- `mta-sts`: judged by the audit's `mta-sts`, `mta-sts-certificate` and `tls-rpt` checks run from
  `internet` trusting only the lab CA (lab/audit_probes.py): `_mta-sts.<D>` has one STSv1 record with
  the expected id (RFC 8461 §3.1), the policy at `https://mta-sts.<D>/.well-known/mta-sts.txt` (§3.3)
  verifies, answers 200 text/plain, parses (§3.2) and its mx lines are the MX set of D;
  `_smtp._tls.<D>` has the expected rua (RFC 8460 §3). (Each MX's STARTTLS certificate, which
  enforce mode relies on, is the audit's `mail-tls`, in `audit-outside`.)
- `mail-auth-audit`: checkdmarc's SPF and DMARC checks (as a library, asking our name server
  only, its MX/STARTTLS/HTTPS checks not called) find no error.

`dkim` judges DMARC with audit/mailrecords.py (written from the RFCs; the audit judges with it too), never the
stack's renderers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audit.mailrecords import RecordError, dmarc_verdict, parse_dmarc_record
from lab.audit_probes import probe_mta_sts

if TYPE_CHECKING:
    from lab.probes import Lab

SINK_WAIT_SECONDS = 30


def _mark(ok: bool, text: str) -> str:
    return text + ("" if ok else "  <- unexpected")


def hosted_domains(lab: Lab) -> list[str]:
    from lab.mailauth_setup import hosted_domains as stack_domains

    return stack_domains(lab.cfg)


def signing_selectors(lab: Lab) -> list[str]:
    dkim = getattr(lab.cfg.mail, "dkim", None)
    return list(dkim.sign_with) if dkim is not None else []


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
