"""The conformance probes: each lesson proved (or disproved) by real traffic between namespaces.

The outside probes (recursion, authoritative, fcrdns, smtp-banner, spf, dns-not-www, webmail-tls,
mta-sts, and audit-outside/audit-customer) are judged by the audit's checks, run inside the
internet and customer namespaces (lab/audit_probes.py): one implementation of each outside
judgement. The probes here need inside access or send mail: each runs its observations inside
the namespaces with `lab.agent` (dnspython, smtplib), or on a host, then judges them and keeps
the evidence: the replies, codes, flags, banners and addresses it saw. A probe passes only on
positive evidence; a timeout or an error fails it. The fault probe pushes a broken named.conf
through the stack's own delivery.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.audit_probes import (
    AUDIT_PROBES,
    probe_authoritative,
    probe_banner,
    probe_dns_not_www,
    probe_fcrdns,
    probe_recursion,
    probe_spf,
    probe_webmail_tls,
)
from lab.backup_probes import probe_backup_restore
from lab.browser_probe import BROWSER_PROBES
from lab.deploy import Plan, execute
from lab.hosts import account_password, host_run
from lab.mailauth_probes import MAIL_AUTH_PROBES
from lab.serials import probe_zone_serial
from lab.settings import LabError
from lab.system import BUILD_DIR, project_env, python_in, run, wait_for
from lab.topology import LabHost, Topology
from lab.webmail_probes import probe_webmail_login

MIB = 1024 * 1024
REPORT_TXT = BUILD_DIR / "report.txt"
REPORT_JSON = BUILD_DIR / "report.json"
SINK_LOG = BUILD_DIR / "internet" / "sink.jsonl"


@dataclass
class ProbeResult:
    name: str
    lessons: str
    claim: str
    passed: bool
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Lab:
    """What the probes know about the running lab, and how they act inside it."""

    def __init__(self, topology: Topology, plan: Plan):
        self.topology = topology
        self.plan = plan
        self.cfg = topology.stack.cfg
        self.settings = topology.stack.lab
        self.domain = self.cfg.organization.domain
        self.outside = self.settings.internet.domain
        self.client = str(self.settings.internet.resolver_client)
        self.sink = str(self.settings.internet.mail_sink)
        self.customer = str(self.settings.customer.address)
        self.account = self.settings.mail_account
        self.mail = self._one("mail")
        self.dns = self._one("dns")
        self.mail_cfg = next(h for h in self.cfg.hosts if h.name == self.mail.name)
        self.dns_cfg = next(h for h in self.cfg.hosts if h.name == self.dns.name)
        self.mail_public = str(self.mail_cfg.public_address)
        self.dns_public = str(self.dns_cfg.public_address)

    def _one(self, role: str) -> LabHost:
        hosts = self.topology.with_role(role)
        if not hosts:
            raise LabError(f"the lab stack has no {role} host")
        return hosts[0]

    def agent(self, where: str, action: str, **arguments: Any) -> dict[str, Any]:
        """Run one agent action inside `where`'s namespace (the agent bounds its own waits)."""
        namespace = self.topology.host(where).namespace
        result = run(python_in(namespace, "lab.agent", action), input_text=json.dumps(arguments), timeout=120,
                     env=project_env(), check=False)
        try:
            return json.loads(result.stdout)
        except ValueError:
            return {"error": f"agent failed: {(result.stderr or result.stdout).strip()[-300:]}"}

    def root_file(self, host: LabHost, path: str) -> Path:
        """Where `path` of a host lives on this machine (its overlay's upper layer; read only)."""
        return Path(host.root) / path.lstrip("/")

    def delivered(self, host: LabHost, path: str) -> str:
        return self.plan.files_for(host.fqdn).get(path, "")


def _dns_line(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"{entry['name']} {entry['type']} -> {entry['error']}"
    answer = "; ".join(entry.get("answer", [])) or "no answer"
    return f"{entry['name']} {entry['type']} -> {entry['rcode']} (flags {' '.join(entry['flags'])}): {answer}"


def _steps(session: dict[str, Any]) -> list[str]:
    lines = [f"{s['step']}: {s['code']} {s['text']}" for s in session.get("steps", [])]
    return lines + ([f"error: {session['error']}"] if "error" in session else [])


def _code(session: dict[str, Any], prefix: str, nth: int = 0) -> int | None:
    codes = [s["code"] for s in session.get("steps", []) if s["step"].startswith(prefix)]
    return codes[nth] if len(codes) > nth else None


# ---------------------------------------------------------------------------------------------
# The probes


def _reject_counter(lab: Lab) -> int | None:
    gateway = lab.topology.with_role("gateway")[0]
    listing = run(["ip", "netns", "exec", gateway.namespace, "nft", "list", "chain", "inet", "filter", "forward"],
                  check=False).stdout
    for line in listing.splitlines():
        if "tcp dport 25" in line and "reject" in line and "customer_pools_v4" in line:
            match = re.search(r"counter packets (\d+)", line)
            return int(match.group(1)) if match else None
    return None


def probe_port25(lab: Lab) -> tuple[bool, list[str]]:
    before = _reject_counter(lab)
    control = lab.agent("internet", "tcp", host=lab.sink, port=25, source=lab.client)
    blocked = lab.agent("customer", "tcp", host=lab.sink, port=25, timeout=4)
    submission = lab.agent("customer", "tcp", host=lab.sink, port=587)
    own = lab.agent("customer", "tcp", host=lab.mail_public, port=25)
    after = _reject_counter(lab)
    counted = before is not None and after is not None and after > before
    checks = [
        (control.get("outcome") == "connected", f"control: the sink {lab.sink}:25 answers inside the internet: "
                                                f"{control.get('banner') or control.get('detail')}"),
        (blocked.get("outcome") == "reset", f"customer {lab.customer} -> {lab.sink}:25: {blocked.get('outcome')} "
                                            f"({blocked.get('detail', blocked.get('banner', ''))})"),
        (counted, f"gateway's port-25 reject counter: {before} -> {after} packets"),
        (submission.get("outcome") == "connected" and submission.get("banner", "").startswith("220"),
         f"customer -> {lab.sink}:587: {submission.get('outcome')} {submission.get('banner', '')!r}"),
        (own.get("outcome") == "connected" and lab.mail.fqdn in own.get("banner", ""),
         f"customer -> our mail host {lab.mail_public}:25: {own.get('outcome')} {own.get('banner', '')!r}"),
    ]
    return all(ok for ok, _ in checks), [text + ("" if ok else "  <- unexpected") for ok, text in checks]


def _sink_messages(token: str) -> list[dict[str, Any]]:
    if not SINK_LOG.exists():
        return []
    found = []
    for line in SINK_LOG.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "message" and any(token in r for r in record.get("rcpt_to", [])):
            found.append(record)
    return found


def probe_nat(lab: Lab) -> tuple[bool, list[str]]:
    token = secrets.token_hex(4)
    recipient = f"nat-{token}@{lab.outside}"
    message = f"From: {lab.account}@{lab.domain}\nTo: {recipient}\nSubject: 1:1 NAT probe {token}\n\nfrom the lab\n"
    host_run(lab.mail, f"/usr/sbin/sendmail -f {lab.account}@{lab.domain} -- {recipient}", input_text=message)
    wait_for(lambda: bool(_sink_messages(token)), timeout=30, interval=0.3)
    records = _sink_messages(token)
    inbound = lab.agent("internet", "tcp", host=lab.mail_public, port=25, source=lab.client)
    evidence = [f"our mail host sent to {recipient} with its own Postfix (MX of {lab.outside} via ns1)"]
    if not records:
        return False, [*evidence, f"the sink at {lab.sink} saw no such message within 30 s  <- expected one"]
    record = records[-1]
    out_ok = record["peer"] == lab.mail_public and record["helo"].lower() == lab.mail.fqdn
    in_ok = inbound.get("outcome") == "connected" and lab.mail.fqdn in inbound.get("banner", "")
    evidence += [
        f"outbound: the sink saw the connection from {record['peer']} (HELO {record['helo']}); the mail host's "
        f"own address is {lab.mail_cfg.private_address}, its public one {lab.mail_public}"
        + ("" if out_ok else "  <- expected the public address and the FQDN"),
        f"inbound: internet {lab.client} -> {lab.mail_public}:25 is answered by {inbound.get('banner', '')!r}"
        + ("" if in_ok else "  <- expected our mail host"),
    ]
    return out_ok and in_ok, evidence


def probe_submission_auth(lab: Lab) -> tuple[bool, list[str]]:
    relay_to = f"relay-test@{lab.outside}"
    sender = f"{lab.account}@{lab.domain}"
    submission = lab.agent("customer", "smtp", host=lab.mail_public, port=587, helo=f"client.{lab.outside}",
                           starttls=True, messages=[{"from": sender, "to": [relay_to]}])
    port25 = lab.agent("internet", "smtp", host=lab.mail_public, port=25, helo=f"client.{lab.outside}",
                       source=lab.client, messages=[{"from": f"someone@{lab.outside}", "to": [relay_to]}])
    rcpt_587 = _code(submission, "rcpt to")
    rcpt_25 = _code(port25, "rcpt to")
    refused = rcpt_587 is not None and rcpt_587 >= 500 and rcpt_25 is not None and rcpt_25 >= 500
    auth_only_after_tls = submission.get("auth_offered_before_tls") is False and submission.get("auth_offered")
    evidence = [f"customer -> {lab.mail_public}:587 without AUTH (AUTH offered before STARTTLS: "
                f"{submission.get('auth_offered_before_tls')}, after: {submission.get('auth_offered')})"]
    evidence += [f"  {line}" for line in _steps(submission)]
    evidence += [f"internet {lab.client} -> {lab.mail_public}:25 without AUTH"]
    evidence += [f"  {line}" for line in _steps(port25)]
    return bool(refused and auth_only_after_tls), evidence


def probe_size_limit(lab: Lab) -> tuple[bool, list[str]]:
    limit = lab.cfg.mail.message_size_limit_mb * MIB
    main_cf = lab.root_file(lab.mail, "/etc/postfix/main.cf").read_text()
    configured = re.search(r"^message_size_limit\s*=\s*(\d+)", main_cf, re.M)
    token = secrets.token_hex(4)
    session = lab.agent("internet", "smtp", host=lab.mail_public, port=25, helo=f"sender.{lab.outside}",
                        source=lab.client, messages=[
                            {"from": f"sender@{lab.outside}", "to": [f"{lab.account}@{lab.domain}"],
                             "subject": f"size probe small {token}", "size": 10_000},
                            {"from": f"sender@{lab.outside}", "to": [f"{lab.account}@{lab.domain}"],
                             "subject": f"size probe big {token}", "size": limit + 100_000},
                        ])
    small, big = _code(session, "end of data", 0), _code(session, "end of data", 1)
    passed = small == 250 and big == 552
    return passed, [
        f"installed main.cf: message_size_limit = {configured.group(1) if configured else '(missing)'} "
        f"(stack: {lab.cfg.mail.message_size_limit_mb} MiB)",
        f"a 10000-byte message -> {small}; a {limit + 100_000}-byte message -> {big}"
        + ("" if passed else "  <- expected 250, then 552"),
        *(f"  {line}" for line in _steps(session) if line.startswith(("end of data", "data", "error"))),
    ]


def _reset_daily_count(lab: Lab) -> str:
    """Start the probe from a clean count for its own account (a lab may run many times a day)."""
    conf = lab.delivered(lab.mail, "/etc/policyd-rate-limit.yaml")
    match = re.search(r'^\s*database:\s*"([^"]+)"', conf, re.M)
    if not match:
        raise LabError("the delivered policyd-rate-limit.yaml names no sqlite database")
    database = match.group(1)
    script = ("python3 -c \"import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute('DELETE FROM mail_count WHERE id = ?', (sys.argv[2],)); c.commit()\" "
              f"{database} {lab.account}")
    host_run(lab.mail, script)
    return database


def probe_daily_limit(lab: Lab) -> tuple[bool, list[str]]:
    limit = lab.cfg.mail.daily_limit_per_account
    database = _reset_daily_count(lab)
    token = secrets.token_hex(4)
    me = f"{lab.account}@{lab.domain}"
    messages = [{"from": me, "to": [me], "subject": f"daily limit {n}/{limit + 1} {token}"}
                for n in range(1, limit + 2)]
    session = lab.agent("customer", "smtp", host=lab.mail_public, port=587, helo=f"client.{lab.outside}",
                        starttls=True, user=lab.account, password_file=str(account_password(lab.account)),
                        messages=messages, timeout=60)
    auth = _code(session, "auth as")
    rcpts = [s for s in session.get("steps", []) if s["step"].startswith("rcpt to")]
    accepted = [s for s in session.get("steps", []) if s["step"] == "end of data" and s["code"] == 250]
    last = rcpts[-1] if len(rcpts) == limit + 1 else None
    refused = last is not None and 400 <= last["code"] < 500 and "limit" in last["text"].lower()
    passed = auth == 235 and len(accepted) == limit and refused
    return passed, [
        f"daily limit in the stack: {limit} recipients per SASL account; count for {lab.account} reset in {database}",
        f"customer -> {lab.mail_public}:587, STARTTLS, AUTH as {lab.account} -> {auth}",
        f"messages 1..{limit}: {len(accepted)} accepted (250)",
        f"message {limit + 1}: " + (f"RCPT -> {last['code']} {last['text']}" if last else "(not attempted)")
        + ("" if refused else "  <- expected a 4xx refusal naming the limit"),
    ]


def deliver_from_outside(lab: Lab, subject: str, *, size: int, timeout: float = 20) -> tuple[dict[str, Any],
                                                                                            list[Path]]:
    """A message from the internet to the lab account through the mail host's port 25: the agent's SMTP
    session, and the files of the account's Maildir/new holding `subject` once one arrived (none after
    `timeout`)."""
    message = {"from": f"sender@{lab.outside}", "to": [f"{lab.account}@{lab.domain}"], "subject": subject,
               "size": size}
    session = lab.agent("internet", "smtp", host=lab.mail_public, port=25, helo=f"sender.{lab.outside}",
                        source=lab.client, messages=[message])
    new = lab.root_file(lab.mail, f"/home/{lab.account}/Maildir/new")

    def delivered() -> list[Path]:
        return [p for p in new.glob("*") if subject in p.read_text(errors="replace")]

    wait_for(lambda: bool(delivered()), timeout=timeout, interval=0.3)
    return session, delivered()


def probe_maildir(lab: Lab) -> tuple[bool, list[str]]:
    session, files = deliver_from_outside(lab, f"maildir probe {secrets.token_hex(4)}", size=500)
    mbox = lab.root_file(lab.mail, f"/var/mail/{lab.account}")
    received = ""
    if files:
        text = files[0].read_text(errors="replace")
        received = " ".join(next((m.group(0) for m in re.finditer(r"^Received: .*(?:\n\s+.*)*", text, re.M)),
                                 "").split())
    passed = _code(session, "end of data") == 250 and bool(files) and not mbox.exists()
    return passed, [
        f"internet {lab.client} -> {lab.mail_public}:25 to {lab.account}@{lab.domain}: {_code(session, 'end of data')}",
        f"delivered to {files[0].relative_to(lab.topology.host(lab.mail.name).root)} (Maildir/new/, in the "
        f"mail host's root)" if files else "no file in Maildir/new within 20 s  <- expected one",
        f"{received[:200]}" if received else "(no Received header)",
        f"no mbox at /var/mail/{lab.account}" if not mbox.exists() else f"an mbox exists at /var/mail/{lab.account}",
    ]


BROKEN_LINE = "this is not a named.conf statement;\n"


def probe_fault(lab: Lab) -> tuple[bool, list[str]]:
    """A broken named.conf through the stack's own delivery: refused, reported, old config still serving."""
    component = f"{lab.dns.name}-bind"
    steps = lab.plan.steps_under(component)
    target = next((s for s in steps if dict(s.environment).get("ISP_STAGED_PATH", "").endswith("/named.conf")), None)
    if target is None:
        raise LabError(f"{component} delivers no named.conf")
    installed = lab.root_file(lab.dns, "/etc/bind/named.conf")
    before_hash = hashlib.sha256(installed.read_bytes()).hexdigest()
    question = [[lab.domain, "SOA"]]
    before = lab.agent(lab.mail.name, "dns", server=str(lab.dns_cfg.private_address), queries=question)
    broken = [dataclasses.replace(s, stdin=s.stdin + BROKEN_LINE) if s is target else s for s in steps]
    log: list[str] = []
    outcome = execute(broken, echo=log.append)
    after_hash = hashlib.sha256(installed.read_bytes()).hexdigest()
    after = lab.agent(lab.mail.name, "dns", server=str(lab.dns_cfg.private_address), queries=question)
    running = host_run(lab.dns, "rndc status >/dev/null", check=False).returncode == 0
    # Put the good staged copy back (as the next deployment would), keeping the lab as it was.
    restored = execute(steps, echo=lambda _: None)
    host_run(lab.dns, "rndc nta -force -lifetime 1w . >/dev/null", check=False)
    failed = outcome.failed
    refused = failed is not None and failed.name == f"{component}-install" and "validation failed" in failed.stderr
    b = (before.get("results") or [{}])[0]
    a = (after.get("results") or [{}])[0]
    same_answer = b.get("rcode") == "NOERROR" and a.get("answer") == b.get("answer") and "aa" in a.get("flags", [])
    output = f"{failed.stdout}\n{failed.stderr}" if failed else ""
    checker = next((line for line in output.splitlines() if re.search(r"named\.conf:\d+:", line)), "")
    passed = refused and after_hash == before_hash and same_answer and running and restored.ok
    return passed, [
        f"pushed {component} ({len(steps)} commands) with a named.conf ending in {BROKEN_LINE.strip()!r}",
        f"deploy reported: {outcome.failure_message() or 'success'}" + ("" if refused else "  <- expected a refusal"),
        f"named-checkconf said: {checker.strip()[:160]}" if checker else "(no checker output)",
        f"installed /etc/bind/named.conf sha256 {before_hash[:16]} before, {after_hash[:16]} after"
        + ("" if after_hash == before_hash else "  <- it changed"),
        f"ns1 before: {_dns_line(b) if b else before.get('error')}",
        f"ns1 after:  {_dns_line(a) if a else after.get('error')}" + ("" if same_answer else "  <- expected the same"),
        f"named still running (rndc status): {running}; good staged copy restored: {restored.ok}",
    ]


PROBES: list[tuple[str, str, str, Callable[[Lab], tuple[bool, list[str]]]]] = [
    ("recursion", "3", "outside names REFUSED to the world, answered for our customers", probe_recursion),
    ("authoritative", "3", "authoritative answers for our zones from anywhere", probe_authoritative),
    ("fcrdns", "5", "PTR of the mail host's public address names its FQDN, whose A is that address", probe_fcrdns),
    ("smtp-banner", "5", "the SMTP banner seen from the internet names that FQDN", probe_banner),
    ("port25-egress", "1, 4", "customers cannot reach TCP/25 outside, but reach 587 and our own mail host's 25",
     probe_port25),
    ("nat-1to1", "7", "the mail host's outbound mail arrives from the public address it receives on", probe_nat),
    ("submission-auth", "4", "submission without AUTH cannot relay", probe_submission_auth),
    ("size-limit", "11", "a message over the size limit is refused", probe_size_limit),
    ("daily-limit", "2", "the per-account daily limit refuses message N+1", probe_daily_limit),
    ("maildir", "12", "a delivered message lands in a Maildir", probe_maildir),
    ("spf", "6", "SPF of our domain passes for the mail host's public address (pyspf)", probe_spf),
    *MAIL_AUTH_PROBES,  # dkim, mta-sts, mail-auth-audit (lab/mailauth_probes.py)
    ("dns-not-www", "8", "www and ns1 are different hosts", probe_dns_not_www),
    ("backup-restore", "9", "the delivered backup job writes one file per database; one restores alone",
     probe_backup_restore),
    ("webmail-tls", "10", "webmail's certificate verifies for its name only, from the internet; HTTP redirects",
     probe_webmail_tls),
    ("webmail-login", "10, 11", "a customer logs in to Roundcube over HTTPS, sees mail from the internet, "
     "downloads one attachment of a message over the dial-up limit, and sends through submission", probe_webmail_login),
    *BROWSER_PROBES,  # webmail-browser: a real browser logs in from a customer line (lab/browser_probe.py)
    *AUDIT_PROBES,  # audit-outside, audit-customer: the audit (audit/) run from the namespaces (lab/audit_probes.py)
    ("fault", "delivery", "a broken named.conf is refused by validation; ns1 keeps answering", probe_fault),
    ("zone-serial", "day 2", "a zone changed twice within a minute: its SOA serial, read from outside, grows each "
     "time and never goes back", probe_zone_serial),
]


def run_probe(lab: Lab, name: str) -> ProbeResult:
    for probe_name, lessons, claim, function in PROBES:
        if probe_name == name:
            started = time.monotonic()
            try:
                passed, evidence = function(lab)
            except (LabError, OSError, KeyError, ValueError) as error:
                passed, evidence = False, [f"the probe could not run: {error}"]
            return ProbeResult(name, lessons, claim, passed, evidence, time.monotonic() - started)
    raise LabError(f"no probe named {name!r}; probes: {', '.join(p[0] for p in PROBES)}")


def render_report(results: list[ProbeResult], *, stack: str, timing: dict[str, float | None]) -> str:
    lines = [f"ISP lab: stack {stack}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}", ""]
    for result in results:
        lessons = f"lesson {result.lessons}" if result.lessons[0].isdigit() else result.lessons
        lines.append(f"{'PASS' if result.passed else 'FAIL'}  {result.name:<16} {lessons:<13} {result.claim}")
        lines += [f"      {line}" for line in result.evidence]
        lines.append("")
    passed = sum(r.passed for r in results)
    parts = [f"{label} {value:.1f} s" for label, value in timing.items() if value is not None]
    lines.append(f"{passed}/{len(results)} probes passed. " + ", ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def run_probes(topology: Topology, plan: Plan, only: list[str], *, started: float,
               bring_up_seconds: float | None) -> int:
    lab = Lab(topology, plan)
    names = only or [p[0] for p in PROBES]
    probes_started = time.monotonic()
    results = []
    for name in names:
        result = run_probe(lab, name)
        print(f"{'PASS' if result.passed else 'FAIL'}  {name} ({result.seconds:.1f} s)", flush=True)
        results.append(result)
    timing = {"bring-up": bring_up_seconds, "probes": time.monotonic() - probes_started,
              "total": time.monotonic() - started if bring_up_seconds is not None else None}
    text = render_report(results, stack=topology.stack.name, timing=timing)
    REPORT_TXT.parent.mkdir(parents=True, exist_ok=True)
    REPORT_TXT.write_text(text)
    REPORT_JSON.write_text(json.dumps({
        "stack": topology.stack.name,
        "passed": all(r.passed for r in results),
        "timing": timing,
        "probes": [dataclasses.asdict(r) for r in results],
    }, indent=2) + "\n")
    print()
    print(text, end="")
    print(f"report: {REPORT_TXT.relative_to(BUILD_DIR.parent.parent)} (and report.json); "
          f"inventory: build/lab/inventory.json")
    return 0 if all(r.passed for r in results) else 1
