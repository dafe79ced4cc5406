"""Where a Postfix instance's mail is stored: the delivery path mail actually takes (lesson 12).

Local domains (`mydestination`, non-empty by default) go to `local_transport` (local(8) by
default); virtual mailbox domains (`virtual_mailbox_domains`, empty by default) to
`virtual_transport` (virtual(8)). A transport is a master.cf service (the delivered one, else
Debian's packaged one) and its command decides:

- local(8), in its order of precedence: `mailbox_transport(_maps)` (another transport),
  `mailbox_command(_maps)` (procmail, maildrop or Dovecot's LDA, whose own config is then
  read), `home_mailbox` (a trailing `/` is Maildir, anything else an mbox file in the home),
  else `mail_spool_directory` (Debian: /var/mail, so mbox /var/mail/$USER);
- virtual(8): `virtual_mailbox_base` + each `virtual_mailbox_maps` result (trailing `/` is
  Maildir); maps in a database (mysql:, pgsql:, ldap:, ...) are not judged;
- lmtp(8) to Dovecot (`lmtp:unix:private/dovecot-lmtp`), or a pipe(8) running
  dovecot-lda/deliver: Dovecot's effective `mail_location` (or 2.4 `mail_driver`) decides;
- pipe(8) running maildrop or procmail: their filter files decide;
- smtp, relay, error, discard: nothing is stored on this host.

Anything else, or a file that decides but is not delivered, is a note: not judged.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from readers import maildropconf, postfixconf, procmailconf

from hostview import hosts as hostmap
from hostview.mailview import PostfixHost, dovecot_config
from hostview.stackview import StackView


@dataclass(frozen=True)
class Store:
    """One place mail is stored, with the chain of settings that leads there."""

    kind: str  # maildir, mbox, other (dbox, MH), undetermined
    mailbox: str
    how: str  # "main.cf sets no home_mailbox and no mailbox_command, so Postfix's local(8) delivers to ..."
    agent: str  # local, virtual, dovecot, procmail, maildrop


@dataclass
class Paths:
    stores: list[Store] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dovecot_hosts: list[hostmap.Host] = field(default_factory=list)  # machines whose Dovecot Postfix feeds


_LDA = {"dovecot-lda", "deliver"}
_STANDARD = {"local", "virtual", "lmtp", "smtp", "relay", "error", "discard", "retry"}
_DEBIAN_MASTER = postfixconf.parse_master_cf(postfixconf.DEBIAN_MASTER_CF)
_NOT_STORED = {"smtp", "error", "discard", "retry", "bounce"}
# Where per-user rcfiles are delivered (the stack cannot name every home directory).
_USER_GLOBS = ("/home/*/{}", "/root/{}", "/var/vmail/*/{}")


def postfix_paths(view: StackView, ph: PostfixHost) -> Paths:
    """Every store this Postfix instance delivers to (memoised on the view)."""
    key = ("postfix-paths", id(ph))
    if key not in view._parsed:
        paths = Paths()
        _Resolver(view, ph, paths).run()
        view._parsed[key] = paths
    return view._parsed[key]


class _Resolver:
    def __init__(self, view: StackView, ph: PostfixHost, paths: Paths) -> None:
        self.view, self.ph, self.out = view, ph, paths

    def run(self) -> None:
        ph = self.ph
        destinations = ph.value("mydestination")
        if destinations is None or postfixconf.split_list(destinations):
            self.transport("local_transport", "local delivery (mydestination)")
        if postfixconf.split_list(ph.value("virtual_mailbox_domains")):
            self.transport("virtual_transport", "virtual mailbox domains")

    # -- transports --------------------------------------------------------------------

    def transport(self, parameter: str, context: str, depth: int = 0) -> None:
        raw = self.ph.main.raw(parameter) or ""
        name, _, nexthop = raw.partition(":")
        name = name.strip()
        setting = f"{parameter} = {raw} ({self.ph.where(parameter)})"
        service = self.ph.effective_master.service(name)
        if service is None and name in _STANDARD and self.ph.master is not None:
            # A master.cf written without Postfix's standard services: qmgr would defer this mail; judged as
            # the standard service, so a fragment of master.cf is not mistaken for another delivery.
            service = _DEBIAN_MASTER.service(name)
            self.out.notes.append(f"{setting}: the delivered master.cf has no unix service '{name}' (Postfix "
                                  f"defers that mail until it does); judged as the standard {name}(8)")
        if depth > 3 or service is None:
            which = "the delivered master.cf" if self.ph.master is not None else "Debian's packaged master.cf"
            self.out.notes.append(f"{context}: {setting} names no unix service in {which}; not judged")
            return
        # Postfix's plain default (local_transport = local:$myhostname) needs no explaining.
        how = "" if parameter == "local_transport" and not self.ph.main.is_set(parameter) else (
            f"{context} {setting}" if context.endswith(" to") else f"{context} goes to {setting}")
        if service.command == "local":
            self.local(how)
        elif service.command == "virtual":
            self.virtual(how)
        elif service.command == "lmtp":
            self.lmtp(nexthop.strip(), how)
        elif service.command == "pipe":
            self.program(list(service.argv), f"{how}, master.cf service '{name}' (pipe argv={' '.join(service.argv)})")
        elif service.command not in _NOT_STORED:
            self.out.notes.append(f"{how}, a master.cf service running {service.command}(8), which the pack does "
                                  "not read; not judged")

    def local(self, how: str) -> None:
        ph = self.ph
        lead = f"{how}; " if how else ""
        for maps in ("mailbox_transport_maps", "mailbox_command_maps"):
            if ph.value(maps):
                self.out.notes.append(f"{lead}local(8) looks users up in {maps} = {ph.value(maps)}, which decides "
                                      "per user; not judged")
                return
        transport = ph.main.raw("mailbox_transport")
        if transport:
            self.transport("mailbox_transport", f"{lead}local(8) hands mailboxes to", 1)
            return
        command = ph.main.raw("mailbox_command")
        if command:
            self.program(_words(command), f"{lead}local(8) runs mailbox_command = {command} "
                                          f"({ph.where('mailbox_command')})")
            return
        home = ph.value("home_mailbox") or ""
        if home:
            if home.endswith("/"):
                said = f"home_mailbox = {home} ({ph.where('home_mailbox')}), so Postfix's local(8) writes ~/{home}"
            else:
                said = (f"home_mailbox = {home} has no trailing '/' ({ph.where('home_mailbox')}), so Postfix's "
                        f"local(8) appends to ~/{home} as one mbox file")
            kind = "maildir" if home.endswith("/") else "mbox"
            self.out.stores.append(Store(kind, f"~/{home}", lead + said, "local"))
            return
        spool = ph.value("mail_spool_directory") or "/var/mail"
        kind = "maildir" if spool.endswith("/") else "mbox"
        source = (f"set, main.cf line {ph.main.lines['mail_spool_directory']}" if ph.main.is_set("mail_spool_directory")
                  else "the default of Debian's postfix")
        mailbox = f"{spool.rstrip('/')}/$USER" + ("/" if kind == "maildir" else "")
        self.out.stores.append(Store(kind, mailbox, f"{lead}main.cf sets no home_mailbox and no mailbox_command, so "
                                     f"Postfix's local(8) delivers to {mailbox}: mail_spool_directory = {spool} "
                                     f"({source})", "local"))

    def virtual(self, how: str) -> None:
        ph = self.ph
        base = (ph.value("virtual_mailbox_base") or "").rstrip("/")
        tables = postfixconf.tables(ph.value("virtual_mailbox_maps"))
        if not tables:
            self.out.notes.append(f"{how}: virtual_mailbox_maps is empty, so virtual(8) has no mailbox to deliver to")
        for table in tables:
            if not table.readable:
                self.out.notes.append(f"{how}: virtual_mailbox_maps = {table} is an external table (its mailbox "
                                      "paths live in the database); not judged")
                continue
            text = None
            if table.kind not in ("inline", "static"):
                f = self.ph.machine.file(table.name) if self.ph.machine else None
                if f is None or f.text is None:
                    why = "is not delivered by the stack" if f is None else (f.problem or "cannot be read")
                    self.out.notes.append(f"{how}: virtual_mailbox_maps = {table}: {table.name} {why}; not judged")
                    continue
                text = f.text
            for key, result, line in postfixconf.table_entries(table, text):
                mailbox = f"{base}/{result}" if base else result
                kind = "maildir" if result.endswith("/") else "mbox"
                where = f"{table.name} line {line}" if line else str(table)
                self.out.stores.append(Store(kind, mailbox, f"{how}: virtual(8) delivers {key} to "
                                             f"virtual_mailbox_base + '{result}' ({where})"
                                             + ("" if kind == "maildir" else ", an mbox file (no trailing '/')"),
                                             "virtual"))

    def lmtp(self, nexthop: str, how: str) -> None:
        text = nexthop if nexthop.startswith(("unix:", "inet:")) else f"inet:{nexthop}"
        queue = self.ph.value("queue_directory") or "/var/spool/postfix"
        target = postfixconf.endpoint(text, queue, default_port=24)
        if target is None:
            self.out.notes.append(f"{how}: LMTP to '{nexthop}' is not an address the pack reads; not judged")
            return
        machine = self.ph.machine
        if target.kind == "inet" and not _local(target.host, machine):
            machine = hostmap.host_of(self.view, target.host)
            if machine is None:
                self.out.notes.append(f"{how}: LMTP to {target}, a host the stack does not configure; not judged")
                return
        self.dovecot(machine, "lmtp", f"{how}: LMTP to {target}", target)

    def program(self, words: list[str], how: str) -> None:
        words = _program_words(words)
        name = posixpath.basename(words[0]) if words else ""
        if name in _LDA:
            self.dovecot(self.ph.machine, "lda", f"{how}: Dovecot's LDA", None)
        elif name == "procmail":
            self.procmail(words[1:], how)
        elif name == "maildrop":
            self.maildrop(words[1:], how)
        else:
            self.out.notes.append(f"{how}: {name or 'an empty command'} is not a delivery agent the pack reads "
                                  "(procmail, maildrop, dovecot-lda); not judged")

    # -- the agents' own configuration --------------------------------------------------

    def dovecot(self, machine: hostmap.Host | None, protocol: str, how: str,
                target: postfixconf.Endpoint | None) -> None:
        cfg = dovecot_config(self.view, machine) if machine is not None else None
        if cfg is None:
            where = machine.label if machine else "the target host"
            self.out.notes.append(f"{how}, but the stack delivers no Dovecot config to {where} (nor installs "
                                  "dovecot-core); not judged")
            return
        if machine not in self.out.dovecot_hosts:
            self.out.dovecot_hosts.append(machine)
        self.out.notes.extend(cfg.notes)
        storage, used = cfg.storage(protocol)
        listening = ""
        if target is not None and not any(_listens(kind, where, target) for kind, where, _ in cfg.listeners("lmtp")):
            listening = f" (no Dovecot lmtp listener at {target} in the files read; assumed to be Dovecot)"
        if storage is None:
            shown = f"{used[0].key} = {used[0].value!r} ({used[0].origin})" if used else "no mail_location"
            self.out.notes.append(f"{how}{listening}: Dovecot has {shown}, so it autodetects the format per user; "
                                  "not judged")
            return
        if cfg.version == "2.4" and any(v.packaged for v in used):
            self.out.notes.append(f"{how}: Dovecot 2.4 with Debian's packaged mail settings, which the pack does not "
                                  "know; not judged")
            return
        setting = ", ".join(f"{v.key} = {v.value} ({v.origin})" for v in used)
        kind = {"mbox": "mbox", "maildir": "maildir"}.get(storage.driver, "other")
        self.out.stores.append(Store(kind, storage.path, f"{how}{listening}, and Dovecot's effective {setting} "
                                     f"(read: {cfg.chain})", "dovecot"))

    def procmail(self, args: list[str], how: str) -> None:
        machine = self.ph.machine
        call = procmailconf.invocation(args)
        read = self._reader(procmailconf.parse, "procmail")
        if call.rcfiles:
            runs = [("", [(p, read(p)) for p in call.rcfiles])]
        else:
            system = [] if "-p" in args else [("/etc/procmailrc", read("/etc/procmailrc"))]
            users = self._user_files(".procmailrc")
            runs = [("", system)] + [(p, [*system, (p, read(p))]) for p in users]
        for user_file, files in runs:
            missing = [p for p, rc in files if rc is None and (call.rcfiles or p != "/etc/procmailrc")]
            if missing:
                self.out.notes.append(f"{how}: procmail reads {', '.join(missing)}, not delivered to "
                                      f"{machine.label if machine else 'the host'}; not judged")
                continue
            outcome = procmailconf.evaluate([(p, rc) for p, rc in files if rc is not None], read, call.assignments)
            self.out.notes.extend(f"{how}: {n}" for n in outcome.notes)
            who = f" for the user of {user_file}" if user_file else ""
            read_files = [p for p, rc in files if rc is not None]
            for d in outcome.deliveries:
                self._agent_store("procmail", d.kind, d.mailbox, d.source, d.conditional, d.file, d.line,
                                  f"{how}{who}; procmail ({' + '.join(read_files) or 'no rcfile delivered'})")

    def maildrop(self, args: list[str], how: str) -> None:
        read = self._reader(maildropconf.parse, "maildrop")
        explicit = [a for a in args if not a.startswith("-") and "$" not in a and a.startswith("/")]
        system = [("/etc/maildroprc", read("/etc/maildroprc"))]
        users = [explicit[0]] if explicit else self._user_files(".mailfilter")
        runs = [("", system)] + [(p, [*system, (p, read(p))]) for p in users]
        for user_file, files in runs:
            present = [(p, f) for p, f in files if f is not None]
            outcome = maildropconf.evaluate(present, read)
            self.out.notes.extend(f"{how}: {n}" for n in outcome.notes)
            who = f" for the user of {user_file}" if user_file else ""
            shown = " + ".join(p for p, _ in present) or "no filter file delivered"
            for d in outcome.deliveries:
                self._agent_store("maildrop", d.kind, d.mailbox, d.source, d.conditional, d.file, d.line,
                                  f"{how}{who}; maildrop ({shown})")

    def _agent_store(self, agent: str, kind: str, mailbox: str, source: str, conditional: bool, file: str, line: int,
                     how: str) -> None:
        if kind in ("pipe", "forward", "discard"):
            return
        if source == "DEFAULT":
            said = f"DEFAULT={mailbox} ({file} line {line})" if line else f"its default mailbox {mailbox}"
            what = f"{how} finally delivers to {said}"
        else:
            what = f"{how} {'may deliver' if conditional else 'delivers'} to {mailbox} ({file} line {line})"
        if kind == "undetermined":
            self.out.notes.append(f"{what}: without a trailing '/' maildrop decides when delivering (a maildir "
                                  "directory, else an mbox file); not judged: end it with '/'")
        elif kind == "unknown":
            self.out.notes.append(f"{what}: the mailbox comes from a command; not judged")
        else:
            self.out.stores.append(Store("other" if kind == "mh" else kind, mailbox, what, agent))

    def _reader(self, parse, kind: str):
        machine = self.ph.machine

        def read(path: str):
            f = machine.file(path) if machine else None
            if f is None or f.text is None:
                return None
            parsed = self.view.parsed(f) if f.kind == kind else None
            return parsed if parsed is not None else parse(f.text)
        return read

    def _user_files(self, name: str) -> list[str]:
        machine = self.ph.machine
        if machine is None:
            return []
        found = [f.deployed_path for pattern in _USER_GLOBS for f in machine.glob(pattern.format(name))]
        return list(dict.fromkeys(found))


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _program_words(words: list[str]) -> list[str]:
    """Past `exec`, `env`, VAR=value assignments and `/usr/bin/env`."""
    index = 0
    while index < len(words) and (words[index] in ("exec", "env", "/usr/bin/env") or (
            "=" in words[index] and not words[index].startswith(("/", "-")))):
        index += 1
    return words[index:]


def _local(host: str, machine: hostmap.Host | None) -> bool:
    if host in ("127.0.0.1", "::1", "localhost", "localhost.localdomain"):
        return True
    if machine is None:
        return False
    return host in machine.addresses or host.lower().rstrip(".") in {s.lower() for s in machine.spellings}


def _listens(kind: str, where: str, target: postfixconf.Endpoint) -> bool:
    if kind == "unix":
        return target.kind == "unix" and posixpath.normpath(where) == posixpath.normpath(target.path)
    return target.kind == "inet" and where.isdigit() and int(where) == target.port
