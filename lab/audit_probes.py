"""The lab's outside view is the audit's: `python -m audit` run inside the internet and customer namespaces.

The audit (audit/) is what an operator runs against the live network every night; here it runs against the
lab with exactly the arguments the README shows: the stack file, what `lab up` handed the program
(build/lab/lab-inputs.json: the certificates and the DKIM public key), trust in the lab CA only, and the
outside world's names. A probe passes when every check it runs PASSes (a WARN is a check that could not
decide: in the lab every host answers, so it fails the probe too).

Two kinds of probe judge through it, so there is one implementation of each outside judgement:
`audit-outside` and `audit-customer` run every check of their vantage; the lesson probes (`recursion`,
`authoritative`, `fcrdns`, `smtp-banner`, `spf`, `dns-not-www`, `webmail-tls`, `mta-sts`) run the audit
with `--only` their checks, from the namespace they always probed from. The probes that need inside access
or send mail (backups, Maildir, the daily limit, ...) stay in lab/probes.py and lab/mailauth_probes.py.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lab.pki import LAB_CA
from lab.system import BUILD_DIR, PROJECT_DIR, project_env, python_in, run

if TYPE_CHECKING:
    from lab.probes import Lab

LAB_INPUTS = BUILD_DIR / "lab-inputs.json"
AUDIT_TIMEOUT = 120  # the audit bounds itself (timeout x tries per exchange, an overall deadline)

ProbeFunction = Callable[["Lab"], tuple[bool, list[str]]]


def audit_argv(lab: Lab, vantage: str, report: Path, only: Sequence[str] = ()) -> list[str]:
    """The audit's arguments as the README gives them for the running lab (`only`: just these checks)."""
    argv = ["--stack", lab.topology.stack.name, "--project-dir", str(PROJECT_DIR), "--set-file", str(LAB_INPUTS),
            "--cafile", str(LAB_CA), "--outside-name", f"www.{lab.outside}", "--vantage", vantage,
            "--json", str(report)]
    if vantage == "customer":
        argv += ["--outside-smtp", lab.sink]
    if only:
        argv += ["--only", *only]  # nargs="+": kept last
    return argv


def run_audit(lab: Lab, where: str, vantage: str, only: Sequence[str] = ()) -> tuple[int, dict]:
    """(exit code, the --json document) of one audit run inside `where`'s namespace."""
    namespace = lab.topology.host(where).namespace
    with tempfile.TemporaryDirectory(prefix="lab-audit-") as scratch:
        report = Path(scratch) / "audit.json"
        result = run(python_in(namespace, "audit", *audit_argv(lab, vantage, report, only)), timeout=AUDIT_TIMEOUT,
                     env=project_env(), check=False)
        try:
            return result.returncode, json.loads(report.read_text())
        except (OSError, ValueError):
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            return result.returncode, {"error": " | ".join(detail) or f"exit {result.returncode}"}


def _judged(code: int, document: dict, where: str, only: Sequence[str] = ()) -> tuple[bool, list[str]]:
    """Every result a PASS, and (with `only`) each check asked for answered at least once; the evidence is
    the audit's own lines, a FAIL or WARN marked and followed by its evidence."""
    asked = f" --only {' '.join(only)}" if only else ""
    if "error" in document:
        return False, [f"the audit{asked} from {where} did not run: {document['error']}"]
    results = document.get("results", [])
    counts = {status: sum(r["status"] == status for r in results) for status in ("PASS", "WARN", "FAIL")}
    evidence = [f"python -m audit{asked} from {where} (exit {code}): {len(results)} results, "
                f"{counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL"]
    for result in results:
        line = f"{result['status']}  {result['check']}  {result['target']}: {result['summary']}"
        if result["status"] == "PASS":
            evidence.append(line)
        else:
            evidence += [line + "  <- unexpected", *(f"    {e}" for e in result.get("evidence", []))]
    silent = [name for name in only if not any(r["check"] == name for r in results)]
    evidence += [f"no result from {name}: nothing of the stack for it to check  <- unexpected" for name in silent]
    return code == 0 and bool(results) and not silent and counts["WARN"] == counts["FAIL"] == 0, evidence


@dataclass(frozen=True)
class AuditRun:
    """One audit run of a lesson probe: from `where`'s namespace, at `vantage`, only `checks`."""

    where: str
    vantage: str
    checks: tuple[str, ...]


def judged_by_audit(lab: Lab, runs: Sequence[AuditRun]) -> tuple[bool, list[str]]:
    passed, evidence = True, []
    for step in runs:
        ok, lines = _judged(*run_audit(lab, step.where, step.vantage, step.checks), step.where, step.checks)
        passed &= ok
        evidence += lines
    return passed, evidence


def by_audit(*runs: AuditRun) -> ProbeFunction:
    """A lesson probe whose judgement is the audit's checks (`runs`), nothing of its own."""
    def probe(lab: Lab) -> tuple[bool, list[str]]:
        return judged_by_audit(lab, runs)

    return probe


OUTSIDE = "internet", "outside"

# Each lesson probe's audit runs, from the namespaces it always probed from. The customer line also asks as
# an outsider would (vantage outside): our zones are answered authoritatively to everyone.
AUDITED: dict[str, tuple[AuditRun, ...]] = {
    "recursion": (AuditRun(*OUTSIDE, ("recursion-refused",)), AuditRun("customer", "customer", ("recursion-offered",))),
    "authoritative": (AuditRun(*OUTSIDE, ("authoritative-answers",)),
                      AuditRun("customer", "outside", ("authoritative-answers",))),
    "fcrdns": (AuditRun(*OUTSIDE, ("fcrdns",)),),
    "smtp-banner": (AuditRun(*OUTSIDE, ("smtp-banner",)),),
    "spf": (AuditRun(*OUTSIDE, ("spf",)),),
    "dns-not-www": (AuditRun(*OUTSIDE, ("dns-not-www",)),),
    "webmail-tls": (AuditRun(*OUTSIDE, ("webmail-certificate",)),),  # and the lab-only step below
    "mta-sts": (AuditRun(*OUTSIDE, ("mta-sts", "mta-sts-certificate", "tls-rpt")),),
}

probe_recursion = by_audit(*AUDITED["recursion"])
probe_authoritative = by_audit(*AUDITED["authoritative"])
probe_fcrdns = by_audit(*AUDITED["fcrdns"])
probe_banner = by_audit(*AUDITED["smtp-banner"])
probe_spf = by_audit(*AUDITED["spf"])
probe_dns_not_www = by_audit(*AUDITED["dns-not-www"])
probe_mta_sts = by_audit(*AUDITED["mta-sts"])


def probe_webmail_tls(lab: Lab) -> tuple[bool, list[str]]:
    """The audit's webmail-certificate (verifies for its name, in date; plain HTTP redirects), plus what the
    audit does not ask: the same certificate must NOT verify for another name of ours (`openssl s_client
    -verify_hostname wrong.<domain>`) and names the webmail name alone, so it is no wildcard or catch-all."""
    passed, evidence = judged_by_audit(lab, AUDITED["webmail-tls"])
    webmail = lab._one("webmail")
    public = str(next(h for h in lab.cfg.hosts if h.name == webmail.name).public_address)
    name, wrong = lab.cfg.webmail_fqdn, f"wrong.{lab.domain}"
    right = lab.agent("internet", "openssl_verify", host=public, port=443, server_name=name, verify_name=name,
                      cafile=str(LAB_CA))
    mismatch = lab.agent("internet", "openssl_verify", host=public, port=443, server_name=name, verify_name=wrong,
                         cafile=str(LAB_CA))
    cert = right.get("certificate", {})
    fingerprint = cert.get("sha256", "")
    same = bool(fingerprint) and mismatch.get("certificate", {}).get("sha256") == fingerprint
    checks = [
        (right.get("verify_code") == 0 and cert.get("san") == [name],
         f"lab only: openssl s_client -connect {public}:443 -servername {name} -verify_hostname {name}: "
         f"{right.get('verify_code')} ({right.get('verify_message')}); SAN {cert.get('san')}, sha256 "
         f"{fingerprint[:16]}"),
        (mismatch.get("verify_code") not in (None, 0) and same,
         f"lab only: the same certificate (sha256 {mismatch.get('certificate', {}).get('sha256', '?')[:16]}) with "
         f"-verify_hostname {wrong}: {mismatch.get('verify_code')} ({mismatch.get('verify_message')})"),
    ]
    return passed and all(ok for ok, _ in checks), evidence + [text + ("" if ok else "  <- unexpected")
                                                                for ok, text in checks]


def probe_audit_outside(lab: Lab) -> tuple[bool, list[str]]:
    return _judged(*run_audit(lab, *OUTSIDE), "internet")


def probe_audit_customer(lab: Lab) -> tuple[bool, list[str]]:
    return _judged(*run_audit(lab, "customer", "customer"), "customer")


AUDIT_PROBES: list[tuple[str, str, str, ProbeFunction]] = [
    ("audit-outside", "3, 4, 5, 6, 8, 10", "the audit from the internet: every check of the live network PASSes",
     probe_audit_outside),
    ("audit-customer", "1, 3, 4", "the audit from a customer line: port 25 out blocked, our mail host and "
     "resolver reachable", probe_audit_customer),
]
