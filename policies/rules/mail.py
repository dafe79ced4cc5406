"""Mail lessons: FCrDNS (5), banner = PTR (5), SMTP AUTH and submission ports (4),
per-account daily caps (2), per-message size limits (11), Maildir not mbox (12)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dns.reversename
import values
from hostview import evidence, stackview
from hostview.mailview import PostfixHost, postfix_hosts, public_addresses
from pulumi_policy import Severity
from readers import postfixconf, ratelimitconf

from rules.kit import ADVISORY, MANDATORY, Finding, NotApplicable, Outcome, declare, setting

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
        yield NotApplicable(f"every MX target is outside the stack's zones: {', '.join(skipped)}")


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
    hosts = [ph for ph in postfix_hosts(view) if ph.main_file is not None]
    if not hosts:
        yield NotApplicable("no Postfix main.cf is delivered by the stack")
        return
    for ph in hosts:
        myhostname = ph.value("myhostname")
        if not myhostname:
            yield Finding(f"{ph.label}: myhostname is not set; Postfix would announce the machine's own hostname, "
                          "which cannot be checked against the PTR: set myhostname to the PTR name", ph.urn)
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
                    yield Finding(f"{ph.label}: {parameter} announces '{value}' but the PTR of {address} ({how}) is "
                                  f"{shown}; they must be the same name", ph.urn)


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
def submission_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    hosts = postfix_hosts(view)
    if not hosts:
        yield NotApplicable("no Postfix configuration is delivered by the stack")
        return
    required = list(config.required_ports)
    for ph in hosts:
        if ph.master is None:
            sasl = postfixconf.is_yes(ph.value("smtpd_sasl_auth_enable"))
            state = "on" if sasl else "off"
            yield Finding(f"{ph.label}: no master.cf is delivered, so only port 25 listens (the packaged master.cf "
                          f"has submission commented out) with smtpd_sasl_auth_enable {state}; required submission "
                          f"ports: {', '.join(map(str, required))}", ph.urn)
            continue
        by_port: dict[int, list[postfixconf.MasterService]] = {}
        for service in ph.services():
            if service.port in SUBMISSION_PORTS:
                by_port.setdefault(service.port, []).append(service)
        for port in required:
            if port not in by_port:
                yield Finding(f"{ph.label}: no smtpd service on port {port} in master.cf; required submission ports: "
                              f"{', '.join(map(str, required))}", ph.urn)
        for port, services in sorted(by_port.items()):
            for service in services:
                yield from _judge_submission(ph, service, port)


def _judge_submission(ph: PostfixHost, service: postfixconf.MasterService, port: int) -> Iterator[Finding]:
    where = f"{ph.label}: service '{service.name}' (port {port}, master.cf line {service.line})"
    sasl = ph.value("smtpd_sasl_auth_enable", service)
    if not postfixconf.is_yes(sasl):
        yield Finding(f"{where} has smtpd_sasl_auth_enable={sasl or 'no'}; submission needs "
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

_PERMITS = {"permit", "permit_sasl_authenticated", "permit_auth_destination"}


def policy_service_position(items: list[str]) -> str:
    """'ok' when check_policy_service runs before any permit that lets authenticated mail through,
    'late' when it only comes after one, 'absent' otherwise."""
    lowered = [i.lower() for i in items]
    if "check_policy_service" not in lowered:
        return "absent"
    first = lowered.index("check_policy_service")
    return "late" if any(item in _PERMITS for item in lowered[:first]) else "ok"


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
                     "limit_by_sasl: true and a [N, 86400] limit at or below the ceiling.",
    url="https://www.postfix.org/SMTPD_POLICY_README.html",
    tags=["mail", "lesson-2"],
)
def daily_limit_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    ceiling = config.daily_limit_ceiling
    hosts = [ph for ph in postfix_hosts(view) if ph.main_file is not None]
    rate_files = view.files_of_kind("ratelimit")
    if not hosts and not rate_files:
        yield NotApplicable("no Postfix main.cf and no policyd-rate-limit config in the stack")
        return
    for ph in hosts:
        for service in _sending_services(ph):
            label = f"service '{service.name}' (port {service.port})" if service else "main.cf"
            positions = {name: policy_service_position(postfixconf.split_list(ph.value(name, service)))
                         for name in postfixconf.RESTRICTION_LISTS}
            if "ok" in positions.values():
                continue
            late = [n for n, p in positions.items() if p == "late"]
            if late:
                yield Finding(f"{ph.label}: {label}: check_policy_service comes after a permit in {', '.join(late)}, "
                              f"so authenticated senders are never counted; the cap ({ceiling}/day) needs it first",
                              ph.urn)
            else:
                yield Finding(f"{ph.label}: {label} has no check_policy_service in smtpd_*_restrictions; nothing caps "
                              f"mail per account per day (ceiling {ceiling})", ph.urn)
    for f in rate_files:
        yield from judge_rate_limit(f, view.parsed(f), ceiling)


def judge_rate_limit(f: evidence.HostFile, conf: ratelimitconf.RateLimitConf | None,
                     ceiling: int) -> Iterator[Finding]:
    if conf is None:
        yield Finding(f"{f.label}: cannot read the rate-limit config ({f.problem})", f.urn)
        return
    for problem in conf.problems:
        yield Finding(f"{f.label}: {problem}", f.urn)
    if not conf.limit_by_sasl:
        keyed = "by IP address only" if conf.limit_by_ip and not conf.limit_by_sender else (
            "by sender address" if conf.limit_by_sender else "by nothing (no limit applies)")
        yield Finding(f"{f.label}: limit_by_sasl is false, so limits are keyed {keyed}; a per-account cap needs "
                      "limit_by_sasl: true", f.urn)
    cap = ratelimitconf.daily_cap(conf.limits)
    if cap > ceiling:
        shown = "unlimited" if cap == float("inf") else f"{int(cap)} mails/day"
        yield Finding(f"{f.label}: limits {conf.limits} allow {shown} per account; the ceiling is {ceiling}/day",
                      f.urn)
    for ident, limits in conf.limits_by_id.items():
        id_cap = ratelimitconf.daily_cap(limits)
        if id_cap > ceiling:
            shown = "unlimited" if id_cap == float("inf") else f"{int(id_cap)} mails/day"
            yield Finding(f"{f.label}: limits_by_id['{ident}'] allows {shown}; the ceiling is {ceiling}/day", f.urn)


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
                    "the maximum, e.g. 26214400 (25 MiB).",
    url="https://www.postfix.org/postconf.5.html#message_size_limit",
    tags=["mail", "lesson-11"],
)
def size_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    maximum = config.max_message_size_bytes
    hosts = [ph for ph in postfix_hosts(view) if ph.main_file is not None]
    if not hosts:
        yield NotApplicable("no Postfix main.cf is delivered by the stack")
        return
    for ph in hosts:
        # A missing message_size_limit is Postfix's default 10240000 (10 MB): bounded, so it passes.
        targets: list[tuple[str, postfixconf.MasterService | None]] = [("main.cf", None)]
        targets += [(f"service '{s.name}'", s) for s in ph.services() if "message_size_limit" in s.overrides]
        for label, service in targets:
            value = ph.value("message_size_limit", service)
            try:
                size = int(value or "")
            except ValueError:
                yield Finding(f"{ph.label}: {label}: message_size_limit {value!r} is not a number of bytes "
                              f"(maximum {maximum})", ph.urn)
                continue
            if size <= 0:
                yield Finding(f"{ph.label}: {label}: message_size_limit = {size} means unlimited; the maximum is "
                              f"{maximum} bytes", ph.urn)
            elif size > maximum:
                yield Finding(f"{ph.label}: {label}: message_size_limit = {size} bytes exceeds the maximum {maximum}",
                              ph.urn)


# ---------------------------------------------------------------------------------------
# maildir-not-mbox


@declare(
    "maildir-not-mbox", lesson=12, level=ADVISORY, severity=Severity.LOW,
    description="Mailboxes are stored as Maildir, never as mbox files.",
    remediation="Postfix: home_mailbox = Maildir/ (trailing slash) or delivery to Dovecot over LMTP; Dovecot: "
                    "mail_location = maildir:~/Maildir.",
    url="https://www.postfix.org/postconf.5.html#home_mailbox",
    tags=["mail", "lesson-12"],
)
def mailbox_findings(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    hosts = [ph for ph in postfix_hosts(view) if ph.main_file is not None]
    dovecot_files = view.files_of_kind("dovecot")
    if not hosts and not dovecot_files:
        yield NotApplicable("no Postfix main.cf and no Dovecot config in the stack")
        return
    for ph in hosts:
        yield from _postfix_mailbox(ph)
    for f in dovecot_files:
        for found in view.parsed(f) or []:
            where = f" in section '{found.section}'" if found.section else ""
            yield Finding(f"{f.label}: {found.key} = {found.value}{where} (line {found.line}) stores mail "
                          "as mbox; use mail_location = maildir:~/Maildir", f.urn)


def _postfix_mailbox(ph: PostfixHost) -> Iterator[Finding]:
    home = ph.value("home_mailbox") or ""
    if home and not home.endswith("/"):
        yield Finding(f"{ph.label}: home_mailbox = {home} has no trailing '/', so Postfix writes an mbox file; "
                      "use home_mailbox = Maildir/", ph.urn)
        return
    if home or ph.value("mailbox_command") or ph.value("mailbox_transport"):
        return  # Maildir in home, or delivery handed to an LDA/LMTP (Dovecot decides, checked there)
    local_transport = (ph.value("local_transport") or "").split(":", 1)[0]
    destinations = postfixconf.split_list(ph.value("mydestination")) if ph.main.is_set("mydestination") else ["default"]
    if local_transport in ("error", "discard") or not destinations:
        return  # no local delivery on this host
    spool = ph.value("mail_spool_directory") or "/var/mail"
    if not spool.endswith("/"):
        how = "set" if ph.main.is_set("mail_spool_directory") else "the default"
        yield Finding(f"{ph.label}: local delivery writes mbox files to mail_spool_directory = {spool} ({how}); set "
                      "home_mailbox = Maildir/ or hand delivery to Dovecot (mailbox_transport = lmtp:...)", ph.urn)
