"""Evidence: what each resource delivers, read from the engine's wire form.

Reading is defensive: only the fields needed are read; a value unknown at preview (the
SDK's proxy raises `UnknownValueError`, raw props carry the engine's sentinels) becomes
`UNKNOWN`; odd types become problems, never exceptions. A hand-written resource is read
exactly like ours. Files come from `CopyToRemote`/`CopyFile` assets and archives and from
a `local.Command` that writes its stdin to a staged file.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from readers import shellscript, zonetext
from values import ARCHIVE_SIG, ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, UNKNOWN_SENTINELS

try:  # the SDK's proxy raises this for values unknown at preview
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover - the pack always has the SDK
    class UnknownValueError(Exception):  # type: ignore[no-redef]
        pass


RECORD_TYPES = {"cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record"}
ZONE_TYPES = {"cloudflare:index/zone:Zone"}
COPY_TYPES = {"command:remote:CopyToRemote", "command:remote:CopyFile"}
COMMAND_TYPES = {"command:remote:Command", "command:local:Command"}
# A local.Command that writes its stdin to a staged file (our lab's delivery, and the common
# `cat > "$PATH"` idiom) delivers a file: its environment names the host and the path.
LOCAL_FILE_ENV = ("ISP_HOST", "ISP_STAGED_PATH")
FILE_TYPES = COPY_TYPES | {"command:local:Command"}
# What our components tell the pack (their props and outputs); no lesson rests on it alone.
EVIDENCE_KEYS = ("customerPools", "ownNetworks", "mailHosts", "databaseHosts")
MAX_FILE_BYTES = 4 * 1024 * 1024


def read(props: Any, key: str, default: Any = None) -> Any:
    """props[key] without ever raising: UNKNOWN when unknown at preview, `default` when absent."""
    try:
        if not isinstance(props, Mapping):
            return default
        value = props[key]
    except UnknownValueError:
        return UNKNOWN
    except (KeyError, TypeError, IndexError):
        return default
    return unwrap(value)


def unwrap(value: Any) -> Any:
    """Strip the wire form of secrets; map unknown sentinels to UNKNOWN."""
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, Mapping):
        try:
            if value.get(SIG_KEY) == SECRET_SIG:
                return unwrap(value.get("value"))
        except UnknownValueError:
            return UNKNOWN
    secret_value = getattr(value, "value", None) if type(value).__name__ == "Secret" else None
    if secret_value is not None:
        return unwrap(secret_value)
    return value


# ---------------------------------------------------------------------------------------
# Raw facts: plain data read once from a resource (cheap; used as the cache key)


@dataclass
class RawResource:
    urn: str
    rtype: str
    name: str
    protect: bool
    fields: dict[str, Any]


def raw_resource(resource: Any) -> RawResource:
    """Read what the rules need from a PolicyResource / ResourceValidationArgs-like object."""
    rtype = getattr(resource, "resource_type", "") or ""
    props = getattr(resource, "props", {}) or {}
    opts = getattr(resource, "opts", None)
    protect = bool(getattr(opts, "protect", False)) if opts is not None else False
    urn = getattr(resource, "urn", "") or ""
    name = getattr(resource, "name", "") or ""
    fields: dict[str, Any] = {}
    if rtype in RECORD_TYPES:
        for key in ("name", "type", "content", "value", "priority"):
            fields[key] = read(props, key)
        fields["zoneName"] = _zone_dependency_name(resource)
    elif rtype in ZONE_TYPES:
        fields["name"] = read(props, "name")
    elif rtype in COPY_TYPES:
        connection = read(props, "connection")
        fields["host"] = UNKNOWN if connection is UNKNOWN else read(connection, "host")
        fields["remotePath"] = read(props, "remotePath")
        fields["source"] = read(props, "source") if rtype == "command:remote:CopyToRemote" else None
        fields["localPath"] = read(props, "localPath") if rtype == "command:remote:CopyFile" else None
    elif rtype in COMMAND_TYPES:
        _command_fields(rtype, props, fields)
    elif rtype.startswith("isp:"):
        for key in EVIDENCE_KEYS:
            fields[key] = _plain(read(props, key))
    return RawResource(urn, rtype, name, protect, fields)


def _command_fields(rtype: str, props: Any, fields: dict[str, Any]) -> None:
    """A Command: its host, its texts, and what the shell reader needs to read them (the variables it is
    given, the shell that runs it, its stdin)."""
    connection = read(props, "connection") if rtype == "command:remote:Command" else None
    fields["host"] = UNKNOWN if connection is UNKNOWN else read(connection, "host")
    for key in ("create", "update"):
        fields[key] = read(props, key)
    environment = _plain(read(props, "environment"))
    environment = environment if isinstance(environment, dict) else {}
    fields["environment"] = {k: v for k, v in environment.items() if isinstance(v, str)}
    stdin = read(props, "stdin")
    fields["commandStdin"] = stdin if isinstance(stdin, str) else None
    # A remote command runs in the login shell (bash on Debian); a local one in its interpreter, /bin/sh by
    # default (dash on Debian: `echo` differs).
    fields["shell"] = "bash"
    if rtype == "command:local:Command":
        interpreter = _plain(read(props, "interpreter"))
        first = interpreter[0] if isinstance(interpreter, list) and interpreter else None
        fields["shell"] = "bash" if isinstance(first, str) and posixpath.basename(first) == "bash" else "sh"
        if isinstance(environment.get("ISP_HOST"), str):
            fields["host"] = environment["ISP_HOST"]
        if all(key in environment for key in LOCAL_FILE_ENV):
            fields["remotePath"] = environment["ISP_STAGED_PATH"]
            fields["stdin"] = stdin


def _zone_dependency_name(resource: Any) -> Any:
    """The zone a record's zoneId comes from, via the engine's property dependencies (known at preview)."""
    deps = getattr(resource, "property_dependencies", None) or {}
    for dep in deps.get("zoneId", []) if isinstance(deps, Mapping) else []:
        if getattr(dep, "resource_type", "") in ZONE_TYPES:
            return read(getattr(dep, "props", {}), "name")
    return None


def _plain(value: Any) -> Any:
    """A proxy tree copied into plain lists/dicts, unknown leaves as UNKNOWN."""
    value = unwrap(value)
    if value is UNKNOWN or value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(read(value, k)) for k in list(_keys(value))}
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        out = []
        for i in range(len(value)):
            try:
                out.append(_plain(value[i]))
            except UnknownValueError:
                out.append(UNKNOWN)
        return out
    return None


def _keys(mapping: Mapping) -> Iterable:
    try:
        return list(iter(mapping))
    except UnknownValueError:
        return []


# ---------------------------------------------------------------------------------------
# Files on hosts

_STAGING = (".new", ".tmp", ".staged", ".dpkg-new", ".isp-swap")
STAGING_DIR = "isp-staging"  # our delivery stages each file beside its real path


def classify(path: str) -> str:
    """The kind of a delivered file, from its basename wherever it is staged."""
    base = posixpath.basename(path)
    core = base
    for suffix in _STAGING:
        if core.endswith(suffix) and core != suffix:
            core = core[: -len(suffix)]
    parts = [p.lower() for p in path.split("/")]
    if core.endswith((".pem", ".crt", ".cer")):
        return "pem"
    if core.startswith("named.conf"):
        return "bind"
    if zonetext.is_zone_file_name(core):
        return "zone"
    if core == "main.cf":
        return "postfix-main"
    if core == "master.cf":
        return "postfix-master"
    if core == "nftables.conf" or core.endswith(".nft") or ({"nftables", "nftables.d"} & set(parts[:-1])
                                                             and core.endswith(".conf")):
        return "nftables"
    if (core in _IPTABLES_NAMES or "iptables" in parts[:-1]) and not core.endswith(".sh"):
        # /etc/init.d/iptables and if-pre-up.d/iptables are scripts; /etc/sysconfig/iptables is a save file
        return "script" if _RUN_DIRS & set(parts[:-1]) else "iptables"
    if core.startswith("policyd-rate-limit") and core.endswith((".yaml", ".yml")):
        return "ratelimit"
    if core == "dovecot.conf" or ("dovecot" in parts and core.endswith((".conf", ".conf.ext"))):
        return "dovecot"
    site_dir = bool({"sites-available", "sites-enabled", "conf.d"} & set(parts))
    apache_dir = bool({"apache2", "httpd"} & set(parts))
    if core in ("httpd.conf", "apache2.conf") or (apache_dir and (core.endswith(".conf") or site_dir)):
        return "apache"
    if core == "nginx.conf" or ("nginx" in parts and (core.endswith(".conf") or site_dir)):
        return "nginx"
    if core == "Caddyfile" or core.lower().endswith(".caddyfile") or (
            "caddy" in parts and not core.endswith((".json", ".service", ".key", ".csr"))):
        return "caddy"
    if core == "lighttpd.conf" or ("lighttpd" in parts and core.endswith(".conf")):
        return "lighttpd"
    if ({"bind", "named"} & set(parts)) and core.endswith(".conf"):
        return "bind"
    return _classify_more(core, parts)


# iptables-save files as Debian's iptables-persistent and the distributions name them.
_IPTABLES_NAMES = {"rules.v4", "rules.v6", "iptables.rules", "ip6tables.rules", "iptables.up.rules",
                   "ip6tables.up.rules", "iptables", "ip6tables", "iptables.save", "ip6tables.save"}
_RUN_DIRS = {"init.d", "rc.d", "if-up.d", "if-pre-up.d", "if-down.d", "if-post-down.d", "network-scripts", "bin",
             "sbin"}
_CRON_DIRS = {"cron.d", "cron.hourly", "cron.daily", "cron.weekly", "cron.monthly", "crontabs"}


def _classify_more(core: str, parts: list[str]) -> str:
    """Kinds the backup, certificate and mail rules read: schedules, database servers, certbot, delivery
    agents and policy services; shell scripts (firewall scripts, hooks)."""
    if core.endswith((".service", ".timer")):
        return "systemd"
    if core == "crontab" or _CRON_DIRS & set(parts[:-1]):
        return "cron"
    if core in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf") or ("postgresql" in parts and core.endswith(
            ".conf")):
        return "postgresql"
    if core in ("my.cnf", "mariadb.cnf") or ({"mysql", "mariadb.conf.d"} & set(parts) and core.endswith(".cnf")):
        return "mysql"
    if core == "cli.ini" and "letsencrypt" in parts:
        return "certbot-ini"
    if core in (".procmailrc", "procmailrc"):
        return "procmail"
    if core in (".mailfilter", "maildroprc"):
        return "maildrop"
    if core.startswith("postfwd") and core.endswith((".cf", ".conf")):
        return "postfwd"
    if core in ("cluebringer.conf", "policyd.conf") or "cluebringer" in parts:
        return "cluebringer"
    if core.endswith(".sh") or core == "rc.local" or {"if-up.d", "if-pre-up.d", "network-scripts"} & set(parts):
        return "script"
    return "other"


DNS_KINDS = {"bind", "zone"}
WEB_KINDS = {"nginx", "apache", "caddy", "lighttpd"}


@dataclass
class HostFile:
    host: str  # connection.host ("" when unknown)
    path: str  # remotePath
    kind: str
    text: str | None
    urn: str
    problem: str | None = None
    # How the file got there, for messages: "" for a CopyToRemote/CopyFile asset, else e.g.
    # "heredoc in command setup-bind (line 3)".
    via: str = ""
    # A file the host itself copies into place (`cp`/`mv`/`install SRC DST` in a command): its text
    # is the text of the host's file at `copied_from` (resolved in the host view).
    copied_from: str | None = None
    append: bool = False  # written with `>>` or `tee -a`: appended to what the path already holds

    @property
    def basename(self) -> str:
        return posixpath.basename(self.path)

    @property
    def label(self) -> str:
        how = f" ({self.via})" if self.via else ""
        return f"{self.path} on {self.host or '<unknown host>'}{how}"

    @property
    def deployed_path(self) -> str:
        """Where the file ends up: a staged copy (dir/isp-staging/name, name.new) names its real path."""
        directory, base = posixpath.split(self.path)
        if posixpath.basename(directory) == STAGING_DIR:
            directory = posixpath.dirname(directory)
        for suffix in _STAGING:
            if base.endswith(suffix) and base != suffix:
                base = base[: -len(suffix)]
        return posixpath.join(directory, base)


@dataclass
class CommandText:
    """What a command:remote/local:Command runs (create and update), on which host."""

    host: str  # connection.host ("" when unknown or local)
    texts: list[str]
    urn: str
    name: str
    # What the command does to the host beyond files (read by readers.shellscript): Debian packages
    # it installs, systemd units it enables/starts/restarts/reloads, and what could not be read
    # ("not judged" notes, e.g. a line the shell parser refused).
    packages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"command {self.name}" + (f" on {self.host}" if self.host else "")


def program_dirs() -> list[str]:
    """Where a FileAsset's relative path may live: ISP_PROGRAM_DIR, the pack's parent, cwd."""
    dirs = []
    if os.environ.get("ISP_PROGRAM_DIR"):
        dirs.append(os.environ["ISP_PROGRAM_DIR"])
    here = os.getcwd()
    dirs += [os.path.dirname(here), here, os.path.dirname(os.path.abspath(__file__)) + "/.."]
    return dirs


def _read_path(path: str) -> tuple[bytes | None, str | None, str | None]:
    """(content, resolved path, problem)."""
    candidates = [path] if os.path.isabs(path) else [os.path.join(d, path) for d in program_dirs()]
    for candidate in candidates:
        if os.path.isfile(candidate):
            try:
                if os.path.getsize(candidate) > MAX_FILE_BYTES:
                    return None, candidate, f"{path} is larger than {MAX_FILE_BYTES} bytes"
                with open(candidate, "rb") as handle:
                    return handle.read(), candidate, None
            except OSError as exc:
                return None, candidate, f"cannot read {path}: {exc.strerror}"
        if os.path.isdir(candidate):
            return None, candidate, None
    return None, None, f"file {path!r} not found (looked in {', '.join(candidates)}; set ISP_PROGRAM_DIR)"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def asset_files(source: Any, remote_path: str) -> list[tuple[str, str | None, str | None]]:
    """(remote path, text or None, problem) for every file an asset/archive delivers."""
    source = unwrap(source)
    if source is UNKNOWN:
        return [(remote_path, None, "the source is unknown during preview")]
    if source is None:
        return [(remote_path, None, "no source")]
    if isinstance(source, Mapping):
        sig = read(source, SIG_KEY)
        if sig == ASSET_SIG:
            if read(source, "text") not in (None, UNKNOWN):
                return [(remote_path, str(read(source, "text")), None)]
            if read(source, "path") not in (None, UNKNOWN):
                return _path_files(str(read(source, "path")), remote_path)
        if sig == ARCHIVE_SIG:
            if read(source, "path") not in (None, UNKNOWN):
                return _path_files(str(read(source, "path")), remote_path, archive=True)
            assets = read(source, "assets")
            if isinstance(assets, Mapping):
                out = []
                for key in _keys(assets):
                    out += asset_files(read(assets, key), posixpath.join(remote_path, str(key)))
                return out
        return [(remote_path, None, "the source is not an asset the pack can read")]
    kind = type(source).__name__
    if kind == "StringAsset":
        return [(remote_path, str(source.text), None)]
    if kind == "FileAsset":
        return _path_files(str(source.path), remote_path)
    if kind == "FileArchive":
        return _path_files(str(source.path), remote_path, archive=True)
    if kind == "AssetArchive":
        out = []
        for key, asset in dict(source.assets).items():
            out += asset_files(asset, posixpath.join(remote_path, str(key)))
        return out
    if kind in ("RemoteAsset", "RemoteArchive"):
        return [(remote_path, None, f"remote {kind} {getattr(source, 'uri', '')!r} cannot be read offline")]
    if isinstance(source, str):
        return [(remote_path, source, None)]
    return [(remote_path, None, f"unsupported source type {kind}")]


def _path_files(path: str, remote_path: str, archive: bool = False) -> list[tuple[str, str | None, str | None]]:
    data, resolved, problem = _read_path(path)
    if problem:
        return [(remote_path, None, problem)]
    if resolved and os.path.isdir(resolved):
        out = []
        for root, _dirs, files in os.walk(resolved):
            for name in sorted(files):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, resolved)
                content, _, issue = _read_path(full)
                out.append((posixpath.join(remote_path, rel), _decode(content) if content is not None else None, issue))
        return out
    if archive and data is not None:
        try:
            return _archive_members(data, remote_path)
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
            return [(remote_path, None, f"cannot open archive {path}: {exc}")]
    return [(remote_path, _decode(data) if data is not None else None, None)]


def _archive_members(data: bytes, remote_path: str) -> list[tuple[str, str | None, str | None]]:
    out = []
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir() and info.file_size <= MAX_FILE_BYTES:
                    out.append((posixpath.join(remote_path, info.filename), _decode(archive.read(info)), None))
        return out
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.size <= MAX_FILE_BYTES:
                handle = archive.extractfile(member)
                if handle is not None:
                    out.append((posixpath.join(remote_path, member.name), _decode(handle.read()), None))
    return out


def files_of(raw: RawResource) -> list[HostFile]:
    """The files one CopyToRemote/CopyFile delivers, or a Command writes (its stdin to a staged file, and
    whatever its create/update text writes: heredocs, tee, printf/echo redirections, cp/mv/install)."""
    if raw.rtype in COMMAND_TYPES:
        staged = _copy_files(raw) if "stdin" in raw.fields else []
        return staged + [f for f in command_files(raw) if all(f.path != s.path for s in staged)]
    if raw.rtype not in COPY_TYPES:
        return []
    return _copy_files(raw)


def _copy_files(raw: RawResource) -> list[HostFile]:
    host = raw.fields.get("host")
    host_text = "" if host in (None, UNKNOWN) or not isinstance(host, str) else host
    remote = raw.fields.get("remotePath")
    if remote is UNKNOWN or not isinstance(remote, str) or not remote:
        why = "remotePath is unknown during preview" if remote is UNKNOWN else "remotePath is missing"
        return [HostFile(host_text, "<unknown path>", "other", None, raw.urn, why)]
    if raw.rtype == "command:remote:CopyFile":
        local = raw.fields.get("localPath")
        delivered = _path_files(local, remote) if isinstance(local, str) else [(remote, None, "localPath unknown")]
    elif "stdin" in raw.fields:
        stdin = raw.fields["stdin"]
        known = isinstance(stdin, str)
        problem = None if known else ("stdin is unknown during preview" if stdin is UNKNOWN else "stdin is not text")
        delivered = [(remote, stdin if known else None, problem)]
    else:
        delivered = asset_files(raw.fields.get("source"), remote)
    return [HostFile(host_text, path, classify(path), text, raw.urn, problem) for path, text, problem in delivered]




# ---------------------------------------------------------------------------------------
# Command text, read with the shell parser (readers.shellscript)


def _host_text(raw: RawResource) -> str:
    host = raw.fields.get("host")
    return host if isinstance(host, str) else ""


def command_scripts(raw: RawResource) -> list[tuple[str, shellscript.Script]]:
    """("create"/"update", facts) of a Command's known texts; update only when it differs from create.
    A text unknown at preview is not read (the view lists it as unknown)."""
    create, update = raw.fields.get("create"), raw.fields.get("update")
    out = []
    for key, text in (("create", create), ("update", update)):
        if not isinstance(text, str) or (key == "update" and text == create):
            continue
        out.append((key, shellscript.read_script(text, shell=raw.fields.get("shell", "bash"),
                                                  environment=raw.fields.get("environment") or {},
                                                  stdin=raw.fields.get("commandStdin"))))
    return out


def _on_deploying_machine(raw: RawResource) -> bool:
    """A local.Command that names no host runs where Pulumi runs: its files are not a stack host's
    (its `ssh HOST`/`scp` writes are, on that host)."""
    return raw.rtype == "command:local:Command" and not _host_text(raw)


def command_files(raw: RawResource) -> list[HostFile]:
    """The files a Command's text writes, on the connection's host (or the host an `ssh`/`scp` in it
    names), in the order the script writes them."""
    host = _host_text(raw)
    files = []
    for key, script in command_scripts(raw):
        which = "update, " if key == "update" else ""
        for w in script.writes:
            if w.host is None and _on_deploying_machine(raw):
                continue  # see command_text: not a host's file
            via = f"{w.how} in command {raw.name} ({which}line {w.line}{', conditional' if w.conditional else ''})"
            files.append(HostFile(w.host or host, w.path, classify(w.path), w.text, raw.urn, w.problem, via,
                                  w.copied_from, w.append))
    return files


def command_text(raw: RawResource) -> CommandText:
    """A Command's texts with what they install and start, and what the shell reader could not read."""
    texts = [t for t in (raw.fields.get("create"), raw.fields.get("update")) if isinstance(t, str)]
    label = CommandText(_host_text(raw), texts, raw.urn, raw.name).label
    packages: list[str] = []
    services: list[str] = []
    notes: list[str] = []
    for key, script in command_scripts(raw):
        packages += script.packages
        services += script.started
        notes += [f"{label}{' (update)' if key == 'update' else ''}: {note}" for note in script.notes]
        local = [w.path for w in script.writes if w.host is None] if _on_deploying_machine(raw) else []
        if local:
            shown = ", ".join(dict.fromkeys(local[:3])) + (" ..." if len(local) > 3 else "")
            notes.append(f"{label}: a local.Command that names no host (no ISP_HOST in its environment) runs where "
                         f"Pulumi runs, or wherever its interpreter takes it; what it writes ({shown}) is no known "
                         "host's file and is not judged")
    return CommandText(_host_text(raw), texts, raw.urn, raw.name, tuple(dict.fromkeys(packages)),
                       tuple(dict.fromkeys(services)), tuple(dict.fromkeys(notes)))
