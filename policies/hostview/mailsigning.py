"""Who DKIM-signs the mail a Postfix instance sends: the milters it reaches, and their keys.

Postfix hands mail to milters listed in `smtpd_milters` (mail received over SMTP, including
what customers submit on 587/465; a master.cf `-o smtpd_milters=` overrides it per service) and
`non_smtpd_milters` (sendmail(1) mail) (postconf(5), MILTER_README). A milter is `inet:host:port`
or `unix:path` (relative to the queue directory; smtpd runs chrooted there on Debian, so an
absolute path is looked up there too), or `{ inet:host:port, option=... }` (Postfix 3.0).
A milter is a signer when it reaches, on this machine or another of the stack's:
- an OpenDKIM whose `Socket` is that port or path (`readers.opendkimconf`); it signs a domain when
  its SigningTable (or the single-key `Domain`) covers mail from any user at the domain;
- rspamd's proxy worker (its milter, port 11332 unless worker-proxy.inc says otherwise), whose
  dkim_signing module (`readers.rspamddkim`) names a key for the domain; the pack sees the key only
  when the stack delivers it (or a command on the host generates it: `rspamadm dkim_keygen`).
What cannot be read (a table the stack does not deliver, a database dataset, text unknown at
preview) is returned as unknown, never taken for "does not sign".
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from readers import opendkimconf, postfixconf, rspamddkim

from hostview import hosts as hostmap
from hostview.evidence import HostFile
from hostview.mailview import PostfixHost, public_addresses
from hostview.stackview import RecordFact, StackView

OPENDKIM_CONF = "/etc/opendkim.conf"  # Debian's path (opendkim.conf(5) LOCATION)
RSPAMD_DIR = "/etc/rspamd/"
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", "0.0.0.0", "::"}
INLINE_KEY = "(inline in the KeyTable)"


@dataclass(frozen=True)
class Signature:
    """One signature a signer adds to mail of a sender domain: d=, s= and the private key used."""

    domain: str
    selector: str
    key_path: str
    key_text: str | None  # the private key as delivered (None: the stack does not deliver it readably)
    key_problem: str | None
    signer: str  # for messages: "OpenDKIM (/etc/opendkim.conf on mail.example.net)"
    where: str  # the line that says so: "/etc/opendkim/key.table line 2"


@dataclass
class DomainSigning:
    """What a host's signers do with mail from one sender domain."""

    signatures: list[Signature] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # why a signer reached does not sign it
    unknown: list[tuple[str, bool]] = field(default_factory=list)  # (what was not read, until `up`)


@dataclass
class _Signer:
    kind: str  # "opendkim" or "rspamd"
    machine: hostmap.Host
    label: str
    conf: opendkimconf.OpenDkimConf | None = None
    conf_file: HostFile | None = None


@dataclass
class HostSigning:
    ph: PostfixHost
    milters: list[str]
    signers: list[_Signer]
    unknown: list[tuple[str, bool]]  # milters or signer configs that could not be read

    def for_domain(self, view: StackView, domain: str) -> DomainSigning:
        result = DomainSigning(unknown=list(self.unknown))
        for signer in self.signers:
            if signer.kind == "opendkim":
                _opendkim_domain(view, signer, domain, result)
            else:
                _rspamd_domain(signer, domain, result)
        return result

    def explicit_domains(self) -> list[str]:
        """Sender domains the signers name themselves (KeyTable d=, SigningTable patterns, Domain, rspamd blocks)."""
        out: list[str] = []
        for signer in self.signers:
            if signer.kind == "opendkim" and signer.conf is not None:
                keys, _ = _key_table(signer)
                out += [k.domain for k in (keys or {}).values() if k.domain != "%"]
                for entry in _signing_entries(signer)[0] or []:
                    tail = entry.pattern.rsplit("@", 1)[-1].lstrip("*.")
                    if tail and "*" not in tail:
                        out.append(tail.lower())
                domains = signer.conf.get("Domain")
                if domains and signer.conf.single_key:
                    out += [d.lower() for d in opendkimconf.dataset(domains).items]
            elif signer.kind == "rspamd":
                blocks = _rspamd(signer).settings.get("domain")
                out += [str(d).lower() for d in blocks] if isinstance(blocks, dict) else []
        return list(dict.fromkeys(out))


def _text(f: HostFile | None, machine: hostmap.Host, path: str, why: str, result: DomainSigning) -> str | None:
    if f is None:
        result.unknown.append((f"{machine.label}: {why} {path}, which the stack does not deliver", False))
        return None
    if f.text is None:
        problem = f.problem or "its content is not known"
        result.unknown.append((f"{f.label}: {problem}", "unknown" in problem))
    return f.text


def _key_table(signer: _Signer) -> tuple[dict[str, opendkimconf.Key] | None, str | None]:
    value = signer.conf.get("KeyTable") if signer.conf else None
    if value is None:
        return None, None
    ds = opendkimconf.dataset(value)
    if ds.kind not in ("file", "refile"):
        return None, f"KeyTable {value}"
    f = signer.machine.file(ds.path)
    return (opendkimconf.parse_key_table(f.text)[0] if f is not None and f.text is not None else None), ds.path


def _signing_entries(signer: _Signer) -> tuple[list[opendkimconf.SigningEntry] | None, opendkimconf.Dataset | None]:
    value = signer.conf.get("SigningTable") if signer.conf else None
    if value is None:
        return None, None
    ds = opendkimconf.dataset(value)
    if ds.kind == "csl":
        return [opendkimconf.SigningEntry(*item.split(None, 1), 0) for item in ds.items if " " in item], ds
    f = signer.machine.file(ds.path) if ds.kind in ("file", "refile") else None
    return (opendkimconf.parse_signing_table(f.text) if f is not None and f.text is not None else None), ds


def _key_signature(signer: _Signer, key: opendkimconf.Key, where: str) -> Signature:
    if not key.key_is_file:
        return Signature(key.domain, key.selector, INLINE_KEY, key.key, None, signer.label, where)
    f = signer.machine.file(key.key)
    problem = None if f is not None and f.text is not None else (
        f.problem if f is not None else f"the stack does not deliver {key.key}")
    return Signature(key.domain, key.selector, key.key, f.text if f else None, problem, signer.label, where)


def _opendkim_domain(view: StackView, signer: _Signer, domain: str, result: DomainSigning) -> None:
    conf, f = signer.conf, signer.conf_file
    if conf is None:
        _text(f, signer.machine, OPENDKIM_CONF, "reads", result)
        return
    if not conf.signs:
        result.gaps.append(f"{signer.label} has Mode {conf.get('Mode')} (line {conf.line('Mode')}), without s: "
                           "it only verifies")
        return
    if conf.single_key:
        _opendkim_single_key(signer, domain, result)
        return
    key_value, table_value = conf.get("KeyTable"), conf.get("SigningTable")
    if key_value is None or table_value is None:
        if conf.get("SetupPolicyScript"):
            result.unknown.append((f"{signer.label} picks keys with the Lua SetupPolicyScript", False))
        else:
            result.gaps.append(f"{signer.label} sets no KeyTable and SigningTable (nor KeyFile): it signs nothing")
        return
    keys, key_path = _key_table(signer)
    entries, table = _signing_entries(signer)
    for value, found, path in ((key_value, keys, key_path), (table_value, entries, table.path if table else "")):
        if found is None:
            if path and not path.startswith("KeyTable"):
                _text(signer.machine.file(path), signer.machine, path, "reads", result)
            else:
                result.unknown.append((f"{signer.label}: {value} is a database the pack cannot read", False))
    if keys is None or entries is None:
        return
    table_path = table.path if table and table.kind != "csl" else "SigningTable"
    multiple = opendkimconf.is_true(conf.get("MultipleSignatures"))
    applied = opendkimconf.matching(entries, table.kind == "refile", f"{opendkimconf.PROBE_LOCAL_PART}@{domain}",
                                    multiple)
    if not applied:
        result.gaps.append(f"{signer.label}: no entry of {table_path} matches mail from {domain}")
    for entry in applied:
        key = keys.get(entry.key_name)
        if key is None:
            result.gaps.append(f"{signer.label}: {table_path} line {entry.line} names the key {entry.key_name}, "
                               f"which {key_path} lacks (OpenDKIM then does not sign)")
            continue
        key = key.for_sender(domain)
        result.signatures.append(_key_signature(signer, key, f"{table_path} line {entry.line} -> {key_path} "
                                                             f"line {key.line}"))


def _opendkim_single_key(signer: _Signer, domain: str, result: DomainSigning) -> None:
    conf = signer.conf
    ds = opendkimconf.dataset(conf.get("Domain") or "")
    if ds.kind == "file":
        f = signer.machine.file(ds.path)
        text = _text(f, signer.machine, ds.path, "reads", result)
        if text is None:
            return
        ds = opendkimconf.Dataset("csl", items=tuple(w for line in text.splitlines()
                                                     for w in line.split("#", 1)[0].split()))
    elif ds.kind != "csl":
        result.unknown.append((f"{signer.label}: Domain {ds.text} is a database the pack cannot read", False))
        return
    subdomains = opendkimconf.is_true(conf.get("SubDomains"))
    listed = [d.lower() for d in ds.items]
    match = domain if domain in listed else next(
        (d for d in listed if subdomains and domain.endswith("." + d)), None)
    if match is None:
        result.gaps.append(f"{signer.label}: Domain (line {conf.line('Domain')}) does not list {domain}")
        return
    key = opendkimconf.Key("KeyFile", match, conf.get("Selector") or "", conf.get("KeyFile") or "",
                           conf.line("KeyFile") or 0)
    if not key.selector:
        result.gaps.append(f"{signer.label} sets KeyFile but no Selector: it cannot sign")
        return
    result.signatures.append(_key_signature(signer, key, f"{OPENDKIM_CONF} lines {conf.line('Domain')}, "
                                                         f"{conf.line('Selector')}, {conf.line('KeyFile')}"))


def _rspamd_files(machine: hostmap.Host) -> list[HostFile]:
    return [f for p in rspamddkim.CONFIG_PATHS if (f := machine.file(p)) is not None]


def _rspamd(signer: _Signer) -> rspamddkim.DkimSigning:
    return rspamddkim.read([f.text for f in _rspamd_files(signer.machine) if f.text is not None])


def _rspamd_domain(signer: _Signer, domain: str, result: DomainSigning) -> None:
    files = _rspamd_files(signer.machine)
    for f in files:
        _text(f, signer.machine, f.deployed_path, "reads", result)
    if any(f.text is None for f in files):
        return
    signing = _rspamd(signer)
    where = " + ".join(f.deployed_path for f in files) or "rspamd's defaults"
    if signing.macros:
        result.unknown.append((f"{signer.label}: {where} uses {signing.macros[0]} (not followed)", False))
    if not signing.enabled:
        result.gaps.append(f"{signer.label}: {where} sets enabled = false")
        return
    if not signing.sign_authenticated:
        result.gaps.append(f"{signer.label}: {where} sets sign_authenticated = false, so mail customers submit "
                           "is not signed")
        return
    keys = signing.keys_for(domain)
    if not keys:
        result.gaps.append(f"{signer.label}: {where} has no domain block for {domain} and try_fallback = false")
    generated = " ".join(t for c in signer.machine.commands for t in c.texts)
    for key in keys:
        f = signer.machine.file(key.path)
        if f is None and not files and key.path not in generated:
            result.gaps.append(f"{signer.label}: rspamd's defaults sign {domain} only with {key.path}, which the "
                               "stack neither delivers nor generates")
            continue
        problem = None if f is not None and f.text is not None else (
            f.problem if f is not None else f"the stack does not deliver {key.path} (generated on the host?)")
        result.signatures.append(Signature(domain, key.selector, key.path, f.text if f else None, problem,
                                           signer.label, where))


# ---------------------------------------------------------------------------------------
# Milters and the signers they reach


def milter_specs(value: str | None) -> list[str]:
    """The milters of a smtpd_milters value: `{ inet:h:p, opt=v }` groups reduced to their address."""
    if not value:
        return []
    grouped = re.sub(r"\{\s*([^,}\s]+)[^}]*\}", r" \1 ", value)
    return postfixconf.split_list(grouped)


def _milters(ph: PostfixHost) -> tuple[list[str], list[tuple[str, bool]]]:
    found: list[str] = []
    unknown: list[tuple[str, bool]] = []
    settings = [("smtpd_milters", None), ("non_smtpd_milters", None)]
    settings += [("smtpd_milters", s) for s in ph.services("smtpd") if "smtpd_milters" in s.overrides]
    for name, service in settings:
        raw = ph.main.raw(name, service.overrides if service else None)
        value = ph.value(name, service)
        if raw and value is None:
            unknown.append((f"{ph.label}: {name} = {raw} refers to a parameter the pack does not know", False))
        found += milter_specs(value)
    return list(dict.fromkeys(found)), unknown


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _local(host: str, machine: hostmap.Host) -> bool:
    host = host.lower().strip("[]")
    return host in LOCAL_NAMES or host.startswith("127.") or host in machine.addresses or host in {
        s.lower() for s in machine.spellings}


def _opendkim_signer(machine: hostmap.Host) -> _Signer | None:
    f = machine.file(OPENDKIM_CONF) or next((g for g in machine.files if g.basename == "opendkim.conf"), None)
    if f is None:
        return None
    conf = opendkimconf.parse(f.text) if f.text is not None else None
    return _Signer("opendkim", machine, f"OpenDKIM ({f.deployed_path} on {machine.label})", conf, f)


def _rspamd_signer(machine: hostmap.Host) -> _Signer | None:
    installed = {p for c in machine.commands for p in c.packages}
    if "rspamd" not in installed and not any(f.deployed_path.startswith(RSPAMD_DIR) for f in machine.files):
        return None
    return _Signer("rspamd", machine, f"rspamd on {machine.label}")


def has_signer(machine: hostmap.Host) -> bool:
    """Whether an OpenDKIM or rspamd is configured or installed on the machine."""
    return _opendkim_signer(machine) is not None or _rspamd_signer(machine) is not None


def _reaches(spec: str, ph: PostfixHost, view: StackView, signer: _Signer, same_machine: bool) -> bool:
    queue = ph.value("queue_directory") or "/var/spool/postfix"
    point = postfixconf.endpoint(spec, queue)
    if point is None:
        return False
    if signer.kind == "rspamd":
        texts = [f.text for p in rspamddkim.PROXY_CONFIG_PATHS if (f := signer.machine.file(p)) and f.text]
        return point.kind == "inet" and point.port in rspamddkim.proxy_ports(texts)
    socket = opendkimconf.parse_socket(signer.conf.get("Socket") or "") if signer.conf else None
    if socket is None:
        return False
    if point.kind == "inet":
        # OpenDKIM listens on every interface (no host), or on the address Postfix connects to: loopback
        # for loopback, else the target's own name or address.
        if socket.kind != "inet" or socket.port != point.port:
            return False
        wanted = point.host.lower().strip("[]")
        if not socket.host or socket.host == wanted:
            return True
        if same_machine and _loopback(wanted):
            return _loopback(socket.host)
        return socket.host in signer.machine.addresses or socket.host in {s.lower() for s in signer.machine.spellings}
    raw_path = spec.partition(":")[2] if ":" in spec else spec
    chrooted = posixpath.join(queue, raw_path.lstrip("/"))
    return socket.kind == "local" and socket.path in (point.path, chrooted)


def host_signing(view: StackView, ph: PostfixHost) -> HostSigning:
    """The signers a Postfix instance's milters reach (memoised on the view)."""
    key = ("mail-signing", id(ph))
    if key not in view._parsed:
        view._parsed[key] = _host_signing(view, ph)
    return view._parsed[key]


def _host_signing(view: StackView, ph: PostfixHost) -> HostSigning:
    milters, unknown = _milters(ph)
    signers: list[_Signer] = []
    machine = ph.machine
    for spec in milters:
        point = postfixconf.endpoint(spec, ph.value("queue_directory") or "/var/spool/postfix")
        target = machine
        if point is not None and point.kind == "inet" and machine is not None and not _local(point.host, machine):
            target = hostmap.host_of(view, point.host)
            if target is None:
                unknown.append((f"{ph.label}: the milter {spec} is on a host the stack delivers nothing to", False))
                continue
        if target is None:
            continue
        candidates = [s for s in (_opendkim_signer(target), _rspamd_signer(target)) if s is not None]
        reached = [s for s in candidates if s.kind == "rspamd" or s.conf is not None]
        hit = [s for s in reached if _reaches(spec, ph, view, s, target is machine)]
        signers += [s for s in hit if all(s.label != other.label for other in signers)]
        if not hit:
            blind = [s for s in candidates if s.kind == "opendkim" and (s.conf is None or not s.conf.get("Socket"))]
            for s in blind:
                why = s.conf_file.problem if s.conf is None else "sets no Socket (given on the command line?)"
                unknown.append((f"{s.label} {why or 'cannot be read'}; the milter {spec} may reach it",
                                "unknown" in (why or "")))
    return HostSigning(ph, milters, signers, unknown)


def mx_naming(view: StackView, ph: PostfixHost) -> list[RecordFact]:
    """The MX records (not the null MX) whose exchange is this Postfix's machine: by name, by address, or its
    myhostname."""
    machine = ph.machine
    names = {s.lower().rstrip(".") for s in (machine.spellings if machine else ())}
    if ph.value("myhostname"):
        names.add(ph.value("myhostname").lower())
    addresses = set(machine.addresses if machine else ()) | {a for a, _ in public_addresses(view, ph)}
    return [fact for fact in view.of_type("MX")
            if fact.rec.value and (fact.rec.value in names or addresses & set(view.addresses(fact.rec.value)))]
