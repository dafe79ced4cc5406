"""Postfix policy services joined to the daemons that answer them (lesson 2: a daily cap per account).

A `check_policy_service` in an smtpd_*_restrictions list (main.cf, or a master.cf `-o`
override, restriction classes expanded) names an endpoint: `inet:127.0.0.1:10040`,
`unix:private/policy` (relative to the queue directory). It is joined to what listens there
on the same machine (or on the machine the address names):

- policyd-rate-limit: each delivered /etc/policyd-rate-limit.yaml (`SOCKET`), else Debian's
  packaged one when a command installs the package;
- postfwd: a master.cf `spawn` service running it, Debian's /etc/default/postfwd, a postfwd
  command line in a systemd unit or command (`-f`, `--interface`, `--port`), else Debian's
  defaults (127.0.0.1:10040, /etc/postfix/postfwd.cf) when postfwd rules are delivered;
- cluebringer (policyd v2): cluebringer.conf `[server]` host/port, its quotas from SQL files.

`judge` says whether the daemon caps mail per account per day, and why not.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass, field

from readers import policyservices, postfixconf, ratelimitconf, shellwords

from hostview import hosts as hostmap
from hostview.evidence import HostFile
from hostview.mailview import PostfixHost
from hostview.stackview import StackView

PERMITS = {"permit", "permit_sasl_authenticated", "permit_auth_destination"}
SENDER_BINDING = {"reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch"}
_POSTFWD = {"postfwd", "postfwd1", "postfwd2", "postfwd3"}
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "localhost.localdomain"}
_ANY = {"", "*", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True)
class Check:
    parameter: str  # the restriction list
    where: str  # main.cf line N, a master.cf -o override
    target: str  # as written
    endpoint: postfixconf.Endpoint | None
    late: bool  # after a permit that lets authenticated mail through


def checks(ph: PostfixHost, service: postfixconf.MasterService | None) -> tuple[list[Check], bool]:
    """The policy checks the mail of one smtpd service passes, and whether the sender is bound to
    the SASL login (reject_sender_login_mismatch with smtpd_sender_login_maps)."""
    overrides = service.overrides if service else None
    queue = ph.value("queue_directory") or "/var/spool/postfix"
    classes = set(postfixconf.split_list(ph.value("smtpd_restriction_classes", service)))
    found: list[Check] = []
    bound = False
    for parameter in postfixconf.RESTRICTION_LISTS + postfixconf.LATE_RESTRICTION_LISTS:
        items = []
        for item in postfixconf.restrictions(ph.value(parameter, service)):
            if item.name in classes:  # a restriction class used by name expands to its own list
                items.extend(postfixconf.restrictions(ph.main.get(item.name, overrides)))
            else:
                items.append(item)
        permitted = False
        for item in items:
            if item.name == "check_policy_service":
                found.append(Check(parameter, ph.main.where(parameter, overrides), item.arg,
                                   postfixconf.endpoint(item.arg, queue), permitted))
            permitted = permitted or item.name in PERMITS
            bound = bound or item.name in SENDER_BINDING
    return found, bound and bool(ph.value("smtpd_sender_login_maps", service))


# ---------------------------------------------------------------------------------------
# What listens on a machine


@dataclass(frozen=True)
class Daemon:
    kind: str  # policyd-rate-limit, postfwd, cluebringer
    label: str  # "policyd-rate-limit (/etc/policyd-rate-limit.yaml)"
    listen: tuple[str, str, int | None]  # ("unix", path, None) or ("inet", address, port)
    urn: str | None
    config: object  # the reader's facts
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # why it is not a cap: its config is not delivered
    unreadable: tuple[str, ...] = ()  # delivered, but its text is not known (preview) or cannot be read


def daemons(view: StackView, machine: hostmap.Host) -> list[Daemon]:
    key = ("policy-daemons", id(machine))
    if key not in view._parsed:
        view._parsed[key] = _ratelimit(view, machine) + _postfwd(view, machine) + _cluebringer(view, machine)
    return view._parsed[key]


def _installed(machine: hostmap.Host) -> set[str]:
    return {p for c in machine.commands for p in getattr(c, "packages", ())}


def _listen_of(socket) -> tuple[str, str, int | None]:
    if isinstance(socket, tuple):
        return ("inet", socket[0], socket[1])
    return ("unix", posixpath.normpath(socket), None)


def _ratelimit(view: StackView, machine: hostmap.Host) -> list[Daemon]:
    out = []
    for f in machine.of_kind("ratelimit"):
        if f.text is None:
            out.append(Daemon("policyd-rate-limit", f"policyd-rate-limit ({f.deployed_path})",
                              _listen_of(ratelimitconf.DEFAULTS["SOCKET"]), f.urn, None, (f.deployed_path,),
                              unreadable=(f"{f.deployed_path}: {f.problem or 'its content is not known'}",)))
            continue
        conf = view.parsed(f) or ratelimitconf.parse_rate_limit_yaml(f.text)
        out.append(Daemon("policyd-rate-limit", f"policyd-rate-limit ({f.deployed_path})", _listen_of(conf.socket),
                          f.urn, conf, (f.deployed_path,)))
    if not out and "policyd-rate-limit" in _installed(machine):
        conf = ratelimitconf.parse_rate_limit_yaml("")
        out.append(Daemon("policyd-rate-limit", "policyd-rate-limit (Debian's packaged /etc/policyd-rate-limit.yaml)",
                          _listen_of(conf.socket), None, conf))
    return out


def _postfwd(view: StackView, machine: hostmap.Host) -> list[Daemon]:
    commands: list[tuple[policyservices.PostfwdCommand, str]] = []
    default = machine.file("/etc/default/postfwd")
    if default is not None and default.text is not None:
        commands.append((policyservices.debian_default_postfwd(default.text), "/etc/default/postfwd"))
    texts = [(f.text, f.deployed_path) for f in machine.of_kind("systemd", "script", "cron") if f.text]
    texts += [(t, c.label) for c in machine.commands for t in c.texts]
    for text, where in texts:
        for call in shellwords.find_calls(text, _POSTFWD):
            if not ({"-k", "--kill", "--reload", "-C", "--showconfig"} & set(call.args)):
                commands.append((policyservices.postfwd_command(list(call.args)), where))
    listens: list[tuple[tuple[str, str, int | None], tuple[str, ...], str]] = []
    for ph_master in _masters(view, machine):
        for service in ph_master.services:
            argv = service.argv
            if service.command == "spawn" and argv and posixpath.basename(argv[0]) in _POSTFWD:
                cmd = policyservices.postfwd_command(list(argv[1:]))
                if service.service_type == "inet":
                    host, _, port = service.name.rpartition(":")
                    listen = ("inet", host or "", int(port) if port.isdigit() else None)
                else:
                    box = "public" if service.private == "n" else "private"
                    listen = ("unix", f"/var/spool/postfix/{box}/{service.name}", None)
                listens.append((listen, cmd.rule_files, f"master.cf spawn service '{service.name}'"))
    for cmd, where in commands:
        listen = ("unix", cmd.socket, None) if cmd.port is None else ("inet", cmd.interface, cmd.port)
        listens.append((listen, cmd.rule_files, where))
    rules = machine.of_kind("postfwd")
    if not listens and (rules or {"postfwd"} & _installed(machine)):
        listens.append((("inet", *policyservices.POSTFWD_LISTEN), ("/etc/postfix/postfwd.cf",),
                        "Debian's defaults (/etc/default/postfwd: 127.0.0.1:10040)"))
    out = []
    for listen, files, where in listens:
        read: list[HostFile] = []
        problems: list[str] = []
        unreadable: list[str] = []
        for path in files:
            f = machine.file(path)
            if f is None and len(rules) == 1 and where.startswith("Debian's"):
                f = rules[0]  # the one rules file delivered, under another name than Debian's default
            if f is None:
                problems.append(f"{path} ({where}) is not delivered by the stack")
            elif f.text is None:
                unreadable.append(f"{path}: {f.problem or 'its content is not known'}")
            else:
                read.append(f)
        if not files:
            problems.append(f"postfwd run by {where} names no rules file (-f)")
        parsed = [view.parsed(f) or policyservices.parse_postfwd(f.text or "") for f in read]
        merged = policyservices.PostfwdRules(tuple(r for p in parsed for r in p.rules),
                                             tuple(x for p in parsed for x in p.problems))
        shown = ", ".join(f.deployed_path for f in read) or ", ".join(files)
        out.append(Daemon("postfwd", f"postfwd ({shown}; listening per {where})", listen,
                          read[0].urn if read else None, merged, tuple(f.deployed_path for f in read),
                          tuple(problems), tuple(unreadable)))
    return out


def _masters(view: StackView, machine: hostmap.Host) -> list[postfixconf.MasterCf]:
    return [view.parsed(f) for f in machine.of_kind("postfix-master") if view.parsed(f) is not None]


def _cluebringer(view: StackView, machine: hostmap.Host) -> list[Daemon]:
    files = [f for f in machine.of_kind("cluebringer") if f.text is not None]
    parsed = [(f, view.parsed(f) or policyservices.parse_cluebringer(f.text)) for f in files]
    confs = [(f, p.conf) for f, p in parsed if p.conf is not None]
    if not confs:
        return []
    quota_files = [(f, p) for f, p in parsed if p.quotas or p.problems]
    for f in machine.files:  # quota SQL loaded from elsewhere (/root/quotas.sql)
        if f.kind == "other" and f.text and f.path.endswith((".sql", ".tsql")) and "quotas" in f.text.lower():
            quota_files.append((f, policyservices.parse_cluebringer(f.text)))
    out = []
    for f, conf in confs:
        quotas = tuple(q for _, p in quota_files for q in p.quotas)
        problems = tuple(x for _, p in quota_files for x in p.problems)
        host = "" if conf.host in ("*", "0.0.0.0") else conf.host
        out.append(Daemon("cluebringer", f"cluebringer ({f.deployed_path}"
                          + "".join(f" + {q.deployed_path}" for q, _ in quota_files) + ")",
                          ("inet", host, conf.port), f.urn, (conf, quotas),
                          (f.deployed_path, *(q.deployed_path for q, _ in quota_files)), problems))
    return out


def answering(view: StackView, ph: PostfixHost, endpoint: postfixconf.Endpoint) -> tuple[hostmap.Host | None,
                                                                                        list[Daemon]]:
    """The machine an endpoint reaches and the daemons listening there."""
    machine = ph.machine
    if endpoint.kind == "inet" and endpoint.host not in _LOOPBACK and machine is not None and not (
            endpoint.host in machine.addresses or endpoint.host.lower() in {s.lower() for s in machine.spellings}):
        machine = hostmap.host_of(view, endpoint.host)
    if machine is None:
        return None, []
    return machine, [d for d in daemons(view, machine) if _matches(d.listen, endpoint)]


def _matches(listen: tuple[str, str, int | None], endpoint: postfixconf.Endpoint) -> bool:
    kind, where, port = listen
    if kind != endpoint.kind:
        return False
    if kind == "unix":
        return posixpath.normpath(where) == posixpath.normpath(endpoint.path)
    if port != endpoint.port:
        return False
    return where in _ANY or where == endpoint.host or (where in _LOOPBACK and endpoint.host in _LOOPBACK)


# ---------------------------------------------------------------------------------------
# Is it a cap per account per day?


@dataclass
class Judgement:
    cap: float | None = None  # mails per account per day when it is a per-account cap
    problems: list[str] = field(default_factory=list)  # why it is not (or not within the ceiling)
    notes: list[str] = field(default_factory=list)  # what could not be read (not judged)


def _shown(cap: float) -> str:
    return "unlimited" if cap == math.inf else f"{int(cap)} mails/day"


def judge(daemon: Daemon, ceiling: int, sender_bound: bool, late_only: bool) -> Judgement:
    """A daemon whose config is unreadable gets `notes` (not judged), never problems."""
    out = Judgement()
    out.problems.extend(daemon.problems)
    if daemon.unreadable:
        out.notes.extend(daemon.unreadable)
        return out
    if daemon.config is None or (daemon.problems and daemon.kind != "cluebringer"):
        return out
    if daemon.kind == "policyd-rate-limit":
        _judge_ratelimit(daemon.config, ceiling, sender_bound, late_only, out)
    elif daemon.kind == "postfwd":
        _judge_postfwd(daemon.config, ceiling, sender_bound, out)
    else:
        _judge_cluebringer(*daemon.config, ceiling, out)
    return out


def _judge_ratelimit(conf: ratelimitconf.RateLimitConf, ceiling: int, sender_bound: bool, late_only: bool,
                     out: Judgement) -> None:
    if conf.problems:
        out.problems.extend(f"cannot read the rate-limit config ({p})" for p in conf.problems)
        return
    if late_only:
        out.problems.append("it is only asked in smtpd_data/end_of_data restrictions, where policyd-rate-limit counts "
                            "nothing (it acts at RCPT only)")
    if not conf.limit_by_sasl and not (conf.limit_by_sender and sender_bound):
        keyed = "by IP address only" if conf.limit_by_ip and not conf.limit_by_sender else (
            "by sender address, which an authenticated client chooses freely (no reject_sender_login_mismatch)"
            if conf.limit_by_sender else "by nothing (no limit applies)")
        out.problems.append(f"limit_by_sasl is false, so limits are keyed {keyed}; a per-account cap needs "
                            "limit_by_sasl: true")
    cap = ratelimitconf.daily_cap(conf.limits)
    if cap > ceiling:
        out.problems.append(f"limits {conf.limits} allow {_shown(cap)} per account; the ceiling is {ceiling}/day")
    for ident, limits in conf.limits_by_id.items():
        if ratelimitconf.daily_cap(limits) > ceiling:
            out.problems.append(f"limits_by_id['{ident}'] allows {_shown(ratelimitconf.daily_cap(limits))}; "
                                f"the ceiling is {ceiling}/day")
    if not out.problems:
        out.cap = cap


_NEUTRAL_ITEMS = {"protocol_state", "sasl_username", "sasl_method"}


def _judge_postfwd(rules: policyservices.PostfwdRules, ceiling: int, sender_bound: bool, out: Judgement) -> None:
    per_account = {"sasl_username"} | ({"sender"} if sender_bound else set())
    caps: list[float] = []
    seen: list[str] = []
    for index, rule in enumerate(rules.rules):
        if rule.limit is None:
            continue
        limit = rule.limit
        what = f"rule {rule.rule_id} (line {rule.line}) {limit.command}({limit.item}/{limit.maximum}/{limit.seconds})"
        blocker = next((r for r in rules.rules[:index] if r.final and not r.items), None)
        if limit.item not in per_account:
            seen.append(f"{what} counts per {limit.item}, not per account")
        elif limit.command == "size":
            seen.append(f"{what} counts bytes, not mails")
        elif blocker is not None:
            seen.append(f"{what} is never reached: rule {blocker.rule_id} (line {blocker.line}) answers "
                        f"'{blocker.action}' to every request first")
        elif any(key.rstrip("=!<>~") not in _NEUTRAL_ITEMS for key, _ in rule.items):
            shown = "; ".join(f"{k}={v}" if k[-1] not in "=!<>~" else f"{k}{v}" for k, v in rule.items)
            seen.append(f"{what} applies only when {shown}")
        else:
            caps.append(ratelimitconf.daily_cap([(limit.maximum, limit.seconds)]))
    if not caps:
        out.problems.append("no rate()/rcpt() rule keyed by sasl_username caps every account"
                            + (f" ({'; '.join(seen)})" if seen else " (the ruleset has no rate limit)"))
        return
    cap = min(caps)
    if cap > ceiling:
        out.problems.append(f"its per-account limit allows {_shown(cap)}; the ceiling is {ceiling}/day")
        return
    out.cap = cap


def _judge_cluebringer(conf: policyservices.ClueConf, quotas: tuple[policyservices.Quota, ...], ceiling: int,
                       out: Judgement) -> None:
    if not conf.quotas_enabled:
        out.problems.append("its Quotas module is not enabled ([Quotas] enable=1, and Quotas in [server] modules)")
        return
    usable = [q for q in quotas if not q.disabled]
    if not usable:
        where = f" ({conf.dsn})" if conf.dsn else ""
        out.problems.append(f"its quotas live in its database{where}, which no SQL delivered by the stack fills "
                            "(INSERT INTO quotas / quotas_limits)")
        return
    caps = []
    for quota in usable:
        if quota.per_account and quota.message_limits and quota.period > 0:
            caps.append(ratelimitconf.daily_cap([(min(quota.message_limits), quota.period)]))
    if not caps:
        shown = ", ".join(f"'{q.name}' Track={q.track}" for q in usable)
        out.problems.append(f"no quota counts messages per account (Track=SASLUsername or Sender:user@domain with a "
                            f"MessageCount limit): {shown}")
        return
    if min(caps) > ceiling:
        out.problems.append(f"its per-account quota allows {_shown(min(caps))}; the ceiling is {ceiling}/day")
        return
    out.cap = min(caps)
