"""Mail lessons: FCrDNS (5), banner = PTR (5), SMTP AUTH and submission ports (4),
per-account daily caps (2), per-message size limits (11), Maildir not mbox (12).

Every rule but FCrDNS judges each machine's effective Postfix configuration
(`hostview.mailview`: main.cf + master.cf overrides + Debian's defaults), and for lessons 2
and 12 the daemons it hands work to: policy services (`hostview.mailpolicy`) and delivery
agents and Dovecot (`hostview.mailstore`). What the pack cannot read is a note (not judged).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dns.reversename
import values
from hostview import hosts as hostmap
from hostview import mailpolicy, mailstore, stackview
from hostview.mailview import PostfixHost, dovecot_config, dovecot_present, postfix_hosts, public_addresses
from pulumi_policy import Severity
from readers import postfixconf

from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Note, Outcome, declare, setting


def _instances(view: stackview.StackView, with_main: bool = True) -> tuple[list[PostfixHost], list[Note]]:
    """The Postfix instances to judge, and notes for those whose files cannot be read."""
    judged: list[PostfixHost] = []
    notes: list[Note] = []
    for ph in postfix_hosts(view):
        if with_main and ph.main_file is None:
            continue
        why = ph.unreadable()
        if why:
            notes.append(Note(f"{ph.label}: {why}; not judged", until_up="unknown during preview" in why))
        else:
            judged.append(ph)
    return judged, notes


# ---------------------------------------------------------------------------------------
# mail-host-fcrdns


def _reverse(address: str) -> str:
    try:
        return dns.reversename.from_address(address).to_text(omit_final_dot=True)
    except (ValueError, SyntaxError):
        return f"<reverse of {address}>"


@declare(
    "mail-host-fcrdns", lesson=5, level=MANDATORY, severity=Severity.HIGH,
    description="Every MX target's address has a PTR in the stack whose name resolves back to that address.",
    remediation="Publish a PTR for each mail host address in its reverse zone (x.y.z.in-addr.arpa) naming the "
                "host, and an A/AAAA for that name with the same address.",
    url="https://www.rfc-editor.org/rfc/rfc1912#section-2.1",
    tags=["dns", "mail", "lesson-5"],
)
def fcrdns_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    mx = view.of_type("MX")
    if not mx:
        yield NotApplicable("no MX record in the stack")
        return
    skipped: list[str] = []
    judged = 0
    seen: set[str] = set()
    found: list[Finding] = []
    for fact in mx:
        target, owner = fact.rec.value, fact.rec.name
        if target == "":  # RFC 7505 null MX ("MX 0 ."): no mail host, nothing to check for FCrDNS
            continue
        if target in seen:
            continue
        seen.add(target)
        if not view.visible(target):
            skipped.append(target)
            continue
        judged += 1
        addresses = view.addresses(target)
        if not addresses:
            found.append(Finding(f"MX target {target} (MX of {owner}) has no A/AAAA record in the stack; FCrDNS needs "
                                 f"an address whose PTR names {target}{view.unknown_note()}", fact.urn))
            continue
        for address in addresses:
            names = view.ptr_names(address)
            if not names:
                found.append(Finding(
                    f"MX target {target} (MX of {owner}) has address {address} with no PTR anywhere in the stack; "
                    f"every mail host address needs one: {_reverse(address)} PTR {target}{view.unknown_note()}",
                    fact.urn))
                continue
            for name in names:
                back = view.addresses(name)
                if address not in back:
                    shown = ", ".join(back) if back else "no address in the stack"
                    found.append(Finding(
                        f"MX target {target}: PTR of {address} is {name}, which resolves to {shown}, not {address}; "
                        f"forward and reverse DNS must agree (FCrDNS){view.unknown_note()}", fact.urn))
    note = f" (not judged, outside every zone of the stack: {', '.join(skipped)})" if skipped else ""
    for finding in found:
        yield Finding(finding.message + note, finding.urn)
    if not judged:
        yield NotApplicable(f"every MX target is outside the stack's zones: {', '.join(skipped)}" if skipped
                            else "every MX is the null MX (RFC 7505): no mail host to check")


# ---------------------------------------------------------------------------------------
# smtp-banner-matches-ptr


@declare(
    "smtp-banner-matches-ptr", lesson=5, level=ADVISORY, severity=Severity.MEDIUM,
    description="Postfix announces (myhostname, smtpd_banner, HELO) the PTR name of the address it sends from.",
    remediation="Set myhostname to the PTR name of the host's public address, keep smtpd_banner = $myhostname "
                "ESMTP and smtp_helo_name = $myhostname.",
    url="https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1.1",
    tags=["mail", "lesson-5"],
)
def banner_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    hosts, notes = _instances(view)
    if not hosts and not notes:
        yield NotApplicable("no Postfix main.cf is delivered by the stack")
        return
    yield from notes
    for ph in hosts:
        myhostname = ph.value("myhostname")
        if not myhostname:
            yield Finding(f"{ph.label}: myhostname is not set in {ph.files}; Postfix then announces the machine's own "
                          "FQDN, which the stack does not show and so cannot be checked against the PTR: set "
                          "myhostname to the PTR name", ph.urn)
            continue
        myhostname = values.norm_name(myhostname)
        banner = ph.value("smtpd_banner") or ""
        banner_name = values.norm_name(banner.split()[0]) if banner.split() else ""
        helo = values.norm_name(ph.value("smtp_helo_name") or myhostname)
        publics = public_addresses(view, ph)
        if not publics:
            yield Finding(f"{ph.label}: cannot tell the public address: myhostname {myhostname} has no A/AAAA in the "
                          "stack and smtp_bind_address has no 1:1 NAT in a delivered ruleset", ph.urn)
            continue
        for address, how in publics:
            ptrs = view.ptr_names(address)
            if not ptrs:
                yield Finding(f"{ph.label}: public address {address} ({how}) has no PTR in the stack; the banner "
                              f"name {banner_name or myhostname} must equal it: {_reverse(address)} PTR {myhostname}",
                              ph.urn)
                continue
            shown = ", ".join(ptrs)
            for parameter, value in (("myhostname", myhostname), ("smtpd_banner", banner_name),
                                   ("smtp_helo_name", helo)):
                if value not in ptrs:
                    yield Finding(f"{ph.label}: {parameter} announces '{value}' ({ph.where(parameter)}) but the PTR "
                                  f"of {address} ({how}) is {shown}; they must be the same name", ph.urn)


# ---------------------------------------------------------------------------------------
# submission-requires-auth

SUBMISSION_PORTS = (587, 465, 2525)
_AUTH_LISTS = ("smtpd_client_restrictions", "smtpd_relay_restrictions", "smtpd_recipient_restrictions",
               "smtpd_sender_restrictions")


def requires_sasl(items: list[str]) -> bool:
    """A restriction list that lets only SASL-authenticated clients through."""
    lowered = [i.lower() for i in items]
    if "permit_sasl_authenticated" not in lowered or not lowered or lowered[-1] != "reject":
        return False
    before = lowered[: lowered.index("permit_sasl_authenticated")]
    return "permit" not in before


@dataclass(frozen=True)
class SubmissionRequiresAuthConfig:
    required_ports: tuple[int, ...] = setting((587, 465), 'Submission ports that must be offered.')


@declare(
    "submission-requires-auth", lesson=4, level=ADVISORY, severity=Severity.MEDIUM,
    config=SubmissionRequiresAuthConfig,
    description="Postfix offers submission on 587 and 465 (and 2525 if used), each requiring SMTP AUTH.",
    remediation="In master.cf: `submission inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes "
                "-o smtpd_tls_security_level=encrypt "
                "-o smtpd_client_restrictions=permit_sasl_authenticated,reject`, "
                "the same for `submissions` with -o smtpd_tls_wrappermode=yes, and for 2525 if offered.",
    url="https://www.rfc-editor.org/rfc/rfc6409#section-4.3",
    tags=["mail", "lesson-4"],
)
def submission_findings(view: stackview.StackView, config: SubmissionRequiresAuthConfig) -> Iterator[Outcome]:
    hosts, notes = _instances(view, with_main=False)
    if not hosts and not notes:
        yield NotApplicable("no Postfix configuration is delivered by the stack")
        return
    yield from notes
    required = list(config.required_ports)
    for ph in hosts:
        if ph.master is None:
            sasl = postfixconf.is_yes(ph.value("smtpd_sasl_auth_enable"))
            state = "on" if sasl else "off"
            yield Finding(f"{ph.label}: no master.cf is delivered, so only port 25 listens (Debian's packaged "
                          f"master.cf has submission commented out) with smtpd_sasl_auth_enable {state} "
                          f"({ph.where('smtpd_sasl_auth_enable')}); required submission ports: "
                          f"{', '.join(map(str, required))}", ph.urn)
            continue
        by_port: dict[int, list[postfixconf.MasterService]] = {}
        for service in ph.services():
            if service.port in SUBMISSION_PORTS:
                by_port.setdefault(service.port, []).append(service)
        for port in required:
            if port not in by_port:
                yield Finding(f"{ph.label}: no smtpd service on port {port} in {ph.files}; required submission "
                              f"ports: {', '.join(map(str, required))}", ph.urn)
        for port, services in sorted(by_port.items()):
            for service in services:
                yield from _judge_submission(ph, service, port)


def _judge_submission(ph: PostfixHost, service: postfixconf.MasterService, port: int) -> Iterator[Finding]:
    where = f"{ph.label}: service '{service.name}' (port {port}, master.cf line {service.line})"
    sasl = ph.value("smtpd_sasl_auth_enable", service)
    if not postfixconf.is_yes(sasl):
        origin = ph.where("smtpd_sasl_auth_enable", service)
        yield Finding(f"{where} has smtpd_sasl_auth_enable={sasl or 'no'} ({origin}); submission needs "
                      "-o smtpd_sasl_auth_enable=yes", ph.urn)
    lists = {name: postfixconf.split_list(ph.value(name, service)) for name in _AUTH_LISTS}
    if not any(requires_sasl(items) for items in lists.values()):
        shown = "; ".join(f"{n}={','.join(v) or '(empty)'}" for n, v in lists.items()
                          if n != "smtpd_sender_restrictions")
        yield Finding(f"{where} lets clients through without SASL ({shown}); add "
                      "-o smtpd_client_restrictions=permit_sasl_authenticated,reject", ph.urn)
    if port == 465 and not postfixconf.is_yes(ph.value("smtpd_tls_wrappermode", service)):
        yield Finding(f"{where} is the implicit-TLS port but smtpd_tls_wrappermode is not yes; add "
                      "-o smtpd_tls_wrappermode=yes (RFC 8314)", ph.urn)


# ---------------------------------------------------------------------------------------
# daily-send-limit


def _sending_services(ph: PostfixHost) -> list[postfixconf.MasterService | None]:
    """Where customers submit: smtpd services with SASL on; None stands for main.cf's own smtpd."""
    found = [s for s in ph.services() if postfixconf.is_yes(ph.value("smtpd_sasl_auth_enable", s))]
    return found or [None]


@dataclass(frozen=True)
class DailySendLimitConfig:
    daily_limit_ceiling: int = setting(250, 'Most mails one account may send per day.', minimum=1)


@declare(
    "daily-send-limit", lesson=2, level=ADVISORY, severity=Severity.MEDIUM,
    config=DailySendLimitConfig,
    description="Authenticated mail passes a policy service that caps each account's mail per day.",
    remediation="Add `check_policy_service unix:ratelimit/policy` before permit_sasl_authenticated in "
                "smtpd_recipient_restrictions of the submission services, and configure policyd-rate-limit with "
                "limit_by_sasl: true and a [N, 86400] limit at or below the ceiling (or postfwd "
                "`action=rate(sasl_username/N/86400/...)`, or a cluebringer quota Track=SASLUsername).",
    url="https://www.postfix.org/SMTPD_POLICY_README.html",
    tags=["mail", "lesson-2"],
)
def daily_limit_findings(view: stackview.StackView, config: DailySendLimitConfig) -> Iterator[Outcome]:
    ceiling = config.daily_limit_ceiling
    hosts, notes = _instances(view)
    machines = [m for m in hostmap.of(view) if m.of_kind("ratelimit")]
    if not hosts and not machines and not notes:
        yield NotApplicable("no Postfix main.cf and no policyd-rate-limit config in the stack")
        return
    yield from notes
    reported: set[tuple[int, str]] = set()
    reached: set[int] = set()
    for ph in hosts:
        for service in _sending_services(ph):
            label = f"{ph.label}: service '{service.name}' (port {service.port})" if service else f"{ph.label}: main.cf"
            yield from _judge_service(view, ph, service, label, ceiling, reported, reached)
    for machine in machines:  # a config no check reaches is still judged on its own
        for daemon in mailpolicy.daemons(view, machine):
            if daemon.kind == "policyd-rate-limit" and daemon.files and id(daemon) not in reached:
                verdict = mailpolicy.judge(daemon, ceiling, False, False)
                for problem in verdict.problems:
                    yield Finding(f"{machine.label}: {daemon.label}: {problem}", daemon.urn)
                for note in verdict.notes:
                    yield Note(f"{machine.label}: {note}; not judged", until_up="unknown during preview" in note)


def _judge_service(view: stackview.StackView, ph: PostfixHost, service: postfixconf.MasterService | None,
                   label: str, ceiling: int, reported: set, reached: set) -> Iterator[Outcome]:
    found, bound = mailpolicy.checks(ph, service)
    usable = [c for c in found if not c.late]
    if not found:
        yield Finding(f"{label} has no check_policy_service in smtpd_*_restrictions; nothing caps mail per account "
                      f"per day (ceiling {ceiling}); read {ph.files}", ph.urn)
        return
    if not usable:
        late = ", ".join(dict.fromkeys(c.parameter for c in found))
        yield Finding(f"{label}: check_policy_service comes after a permit in {late}, so authenticated senders are "
                      f"never counted; the cap ({ceiling}/day) needs it first", ph.urn)
        return
    reasons: list[str] = []
    unread = False
    for check in usable:
        asked = f"check_policy_service {check.target} ({check.parameter}, {check.where})"
        if check.endpoint is None:
            reasons.append(f"{asked} is not an endpoint the pack reads")
            continue
        machine, answering = mailpolicy.answering(view, ph, check.endpoint)
        if not answering:
            where = machine.label if machine else check.endpoint.host or "a host outside the stack"
            reasons.append(f"{asked}: no policy service the stack configures listens at {check.endpoint} on {where} "
                           "(policyd-rate-limit, postfwd, cluebringer read), so no per-account cap is shown")
            continue
        late_only = check.parameter in postfixconf.LATE_RESTRICTION_LISTS
        for daemon in answering:
            reached.add(id(daemon))
            verdict = mailpolicy.judge(daemon, ceiling, bound, late_only)
            if verdict.cap is not None:
                return
            for note in verdict.notes:
                yield Note(f"{machine.label}: {daemon.label}, asked by {asked}: {note}; not judged",
                           until_up="unknown during preview" in note)
            if verdict.notes and not verdict.problems:
                unread = True
            for problem in verdict.problems:
                if (id(daemon), problem) not in reported:
                    reported.add((id(daemon), problem))
                    yield Finding(f"{machine.label}: {daemon.label}, asked by {asked}: {problem}", daemon.urn or ph.urn)
    if reasons and not unread:
        yield Finding(f"{label}: no per-account daily cap: {'; '.join(reasons)}", ph.urn)


# ---------------------------------------------------------------------------------------
# message-size-limit


@dataclass(frozen=True)
class MessageSizeLimitConfig:
    max_message_size_bytes: int = setting(52428800, 'Largest message_size_limit allowed (50 MiB).', minimum=1)


@declare(
    "message-size-limit", lesson=11, level=ADVISORY, severity=Severity.LOW,
    config=MessageSizeLimitConfig,
    description="Postfix limits the size of a message, never unlimited and not above the configured maximum.",
    remediation="Set message_size_limit in main.cf (and per-service -o overrides) to a positive size at or below "
                    "the maximum, e.g. 26214400 (25 MiB), and keep mailbox_size_limit (0 or) at least as large.",
    url="https://www.postfix.org/postconf.5.html#message_size_limit",
    tags=["mail", "lesson-11"],
)
def size_findings(view: stackview.StackView, config: MessageSizeLimitConfig) -> Iterator[Outcome]:
    maximum = config.max_message_size_bytes
    hosts, notes = _instances(view)
    if not hosts and not notes:
        yield NotApplicable("no Postfix main.cf is delivered by the stack")
        return
    yield from notes
    for ph in hosts:
        # A missing message_size_limit is Postfix's default 10240000 (10 MB): bounded, so it passes.
        targets: list[tuple[str, postfixconf.MasterService | None]] = [("main.cf", None)]
        targets += [(f"service '{s.name}'", s) for s in ph.services() if "message_size_limit" in s.overrides]
        for label, service in targets:
            value = ph.value("message_size_limit", service)
            where = f"{ph.label}: {label} ({ph.where('message_size_limit', service)})"
            try:
                size = int(value or "")
            except ValueError:
                yield Finding(f"{where}: message_size_limit {value!r} is not a number of bytes (maximum {maximum})",
                              ph.urn)
                continue
            if size <= 0:
                yield Finding(f"{where}: message_size_limit = {size} means unlimited; the maximum is {maximum} bytes",
                              ph.urn)
            elif size > maximum:
                yield Finding(f"{where}: message_size_limit = {size} bytes exceeds the maximum {maximum}", ph.urn)
        yield from _mailbox_limits(view, ph)


def _mailbox_limits(view: stackview.StackView, ph: PostfixHost) -> Iterator[Finding]:
    """local(8) and virtual(8) refuse to run when their mailbox limit is below message_size_limit."""
    agents = {store.agent for store in mailstore.postfix_paths(view, ph).stores}
    message = ph.value("message_size_limit") or ""
    for agent, parameter in (("local", "mailbox_size_limit"), ("virtual", "virtual_mailbox_limit")):
        limit = ph.value(parameter) or ""
        if agent in agents and limit.isdigit() and message.isdigit() and 0 < int(limit) < int(message):
            yield Finding(f"{ph.label}: {parameter} = {limit} ({ph.where(parameter)}) is below message_size_limit = "
                          f"{message}: {agent}(8) refuses to deliver (fatal configuration error); set {parameter} "
                          "to 0 or at least message_size_limit", ph.urn)


# ---------------------------------------------------------------------------------------
# maildir-not-mbox


@declare(
    "maildir-not-mbox", lesson=12, level=ADVISORY, severity=Severity.LOW,
    description="Mailboxes are stored as Maildir, never as mbox files.",
    remediation="Postfix: home_mailbox = Maildir/ (trailing slash), or delivery to Dovecot over LMTP with "
                    "mail_location = maildir:~/Maildir; procmail DEFAULT=$HOME/Maildir/ and maildrop "
                    "DEFAULT=\"$HOME/Maildir/\" (trailing slash); virtual_mailbox_maps results ending in '/'.",
    url="https://www.postfix.org/postconf.5.html#home_mailbox",
    tags=["mail", "lesson-12"],
)
def mailbox_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    hosts, notes = _instances(view)
    dovecots = [m for m in hostmap.of(view) if dovecot_present(m)]
    if not hosts and not dovecots and not notes:
        yield NotApplicable("no Postfix main.cf and no Dovecot on any host of the stack")
        return
    yield from notes
    fed: set[int] = set()
    seen: set[str] = set()
    for ph in hosts:
        paths = mailstore.postfix_paths(view, ph)
        for store in paths.stores:
            if store.kind == "mbox":
                yield Finding(f"{ph.label}: mail is stored as mbox — {store.how}", ph.urn)
        for note in paths.notes:
            if note not in seen:
                seen.add(note)
                yield Note(f"{ph.label}: {note}")
        fed.update(id(m) for m in paths.dovecot_hosts)
    for machine in dovecots:
        yield from _dovecot_findings(view, machine, fed, seen)


def _dovecot_findings(view: stackview.StackView, machine: hostmap.Host, fed: set[int],
                      seen: set[str]) -> Iterator[Outcome]:
    """Dovecot stores mail itself too: IMAP folders (Sent, Drafts, mail moved between folders)."""
    cfg = dovecot_config(view, machine)
    if cfg is None:
        return
    for note in cfg.notes:
        if note not in seen:
            seen.add(note)
            yield Note(note)
    urn = next((f.urn for f in machine.of_kind("dovecot")), None)
    read = cfg.chain
    if id(machine) not in fed:
        storage, used = cfg.storage("imap")
        if storage is not None and storage.is_mbox and not (cfg.version == "2.4" and any(v.packaged for v in used)):
            setting_text = ", ".join(f"{v.key} = {v.value} ({v.origin})" for v in used)
            yield Finding(f"{machine.label}: Dovecot stores mail as mbox — its effective {setting_text} (read: {read}) "
                          "makes every IMAP folder (Sent, Drafts, mail moved between folders) an mbox file", urn)
    inbox = cfg._inbox_namespace()
    for section in dict.fromkeys(v.section for v in cfg.values if v.section.startswith("namespace ")):
        if section == inbox:
            continue
        location = cfg.get("location", section) or cfg.get("mail_driver", section)
        if location is not None and location.value.lower().split(":", 1)[0] == "mbox":
            yield Finding(f"{machine.label}: Dovecot's {section} stores mail as mbox — {location.key} = "
                          f"{location.value} ({location.origin})", urn)


