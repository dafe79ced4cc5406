"""One typed view of what a stack will deploy, built once per AnalyzeStack.

Everything the rules read comes from here: DNS records (Cloudflare `DnsRecord`/`Record`
and BIND zone files delivered to hosts, `$GENERATE` ranges kept lazy), zones (matched to
records by the longest name suffix, never by `zoneId`, which is unknown at a first
preview), the files delivered by `command:remote:CopyToRemote` (by host and kind) and the
evidence our own `isp:` components register.

Reading is defensive: only the fields needed are read; a value unknown at preview (the
SDK's proxy raises `UnknownValueError`, raw props carry the sentinel strings) becomes
`UNKNOWN` and is listed in `view.unknowns`; odd types become problems, never exceptions.
A hand-written resource is read exactly like ours.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import posixpath
import tarfile
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bindconf
import dns.reversename
import dovecotconf
import nftconf
import nginxconf
import postfixconf
import ratelimitconf
import zonetext
from zonetext import Rec, norm_name

try:  # the SDK's proxy raises this for values unknown at preview
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover - the pack always has the SDK
    class UnknownValueError(Exception):  # type: ignore[no-redef]
        pass


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

# Engine sentinels for unknown values (sdk/python/lib/pulumi/runtime/rpc.py, pulumi_policy/proxy.py).
UNKNOWN_SENTINELS = {
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
}
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"

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
        connection = read(props, "connection") if rtype == "command:remote:Command" else None
        fields["host"] = UNKNOWN if connection is UNKNOWN else read(connection, "host")
        for key in ("create", "update"):
            fields[key] = read(props, key)
        if rtype == "command:local:Command":
            environment = read(props, "environment")
            if isinstance(environment, Mapping) and all(key in environment for key in LOCAL_FILE_ENV):
                fields["host"] = read(environment, "ISP_HOST")
                fields["remotePath"] = read(environment, "ISP_STAGED_PATH")
                fields["stdin"] = read(props, "stdin")
    elif rtype.startswith("isp:"):
        for key in EVIDENCE_KEYS:
            fields[key] = _plain(read(props, key))
    return RawResource(urn, rtype, name, protect, fields)


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

_STAGING = (".new", ".tmp", ".staged", ".dpkg-new")
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
    if core == "nftables.conf" or core.endswith(".nft"):
        return "nftables"
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
    if ({"bind", "named"} & set(parts)) and core.endswith(".conf"):
        return "bind"
    return _classify_more(core, parts)


_CRON_DIRS = {"cron.d", "cron.hourly", "cron.daily", "cron.weekly", "cron.monthly", "crontabs"}


def _classify_more(core: str, parts: list[str]) -> str:
    """Kinds the backup and certificate rules read: schedules, database servers, certbot."""
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
    return "other"


DNS_KINDS = {"bind", "zone"}
WEB_KINDS = {"nginx", "apache"}


@dataclass
class HostFile:
    host: str  # connection.host ("" when unknown)
    path: str  # remotePath
    kind: str
    text: str | None
    urn: str
    problem: str | None = None

    @property
    def basename(self) -> str:
        return posixpath.basename(self.path)

    @property
    def label(self) -> str:
        return f"{self.path} on {self.host or '<unknown host>'}"

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
    """The files one CopyToRemote/CopyFile (or a file-writing local.Command) delivers."""
    if raw.rtype not in COPY_TYPES and "stdin" not in raw.fields:
        return []
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
# The view


@dataclass
class ZoneInfo:
    name: str
    urn: str
    protect: bool
    source: str  # "cloudflare" or a file label


@dataclass(frozen=True)
class RecordFact:
    rec: Rec
    source: str  # "cloudflare" or a zone file label
    urn: str


@dataclass
class StackView:
    stack: str = ""
    zones: dict[str, ZoneInfo] = field(default_factory=dict)
    records: list[RecordFact] = field(default_factory=list)
    ranges: list[tuple[zonetext.GenerateRange, str]] = field(default_factory=list)
    files: list[HostFile] = field(default_factory=list)
    commands: list[CommandText] = field(default_factory=list)
    evidence: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    unknowns: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files/zones the view could not read
    zone_resources: list[RawResource] = field(default_factory=list)
    _index: dict[tuple[str, str], list[RecordFact]] = field(default_factory=lambda: defaultdict(list))
    _names: set[str] = field(default_factory=set)
    _by_type: dict[str, list[RecordFact]] = field(default_factory=lambda: defaultdict(list))
    _range_index: dict[tuple[str, str], list[zonetext.GenerateRange]] = field(default_factory=lambda: defaultdict(list))
    _parsed: dict[tuple[int, str], Any] = field(default_factory=dict)

    # -- building -------------------------------------------------------------------

    def add_record(self, rec: Rec, source: str, urn: str) -> None:
        fact = RecordFact(rec, source, urn)
        self.records.append(fact)
        self._index[(rec.name, rec.rtype)].append(fact)
        self._names.add(rec.name)
        self._by_type[rec.rtype].append(fact)

    def add_range(self, rng: zonetext.GenerateRange, source: str) -> None:
        self.ranges.append((rng, source))
        self._range_index[(rng.origin, rng.rtype)].append(rng)

    # -- DNS lookups ----------------------------------------------------------------

    def records_of(self, name: str, rtype: str) -> list[Rec]:
        name = norm_name(name)
        found = [f.rec for f in self._index.get((name, rtype), [])]
        labels = name.split(".")
        for i in range(len(labels)):
            for rng in self._range_index.get((".".join(labels[i:]), rtype), []):
                found.extend(rng.lookup(name))
        for rng in self._range_index.get(("", rtype), []):
            found.extend(rng.lookup(name))
        return found

    def of_type(self, rtype: str) -> list[RecordFact]:
        return list(self._by_type.get(rtype, []))

    def values(self, name: str, rtype: str) -> list[str]:
        return [r.value for r in self.records_of(name, rtype)]

    def addresses(self, name: str) -> list[str]:
        """A and AAAA of `name`, following CNAMEs inside the stack (at most 8 hops)."""
        name = norm_name(name)
        for _ in range(8):
            found = self.values(name, "A") + self.values(name, "AAAA")
            if found:
                return _unique(found)
            cname = self.values(name, "CNAME")
            if not cname:
                return []
            name = cname[0]
        return []

    def ptr_names(self, address: str) -> list[str]:
        try:
            reverse = dns.reversename.from_address(address).to_text()
        except (ValueError, SyntaxError):
            return []
        return _unique(self.values(reverse, "PTR"))

    def zone_for(self, name: str) -> str | None:
        """The longest zone of the stack that `name` is in."""
        labels = norm_name(name).split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.zones:
                return candidate
        return None

    def visible(self, name: str) -> bool:
        """Can the stack's data answer for `name` (inside one of its zones or holding records)?"""
        name = norm_name(name)
        return self.zone_for(name) is not None or name in self._names

    def spf_lookup(self, name: str, rtype: str) -> list[str] | None:
        """The resolver SPF evaluation uses: None outside the stack, [] for no data."""
        if not self.visible(name):
            return None
        if rtype in ("A", "AAAA"):
            found = self.addresses(name)
            return [a for a in found if (":" in a) == (rtype == "AAAA")]
        return self.values(name, rtype)

    # -- files ------------------------------------------------------------------------

    def files_of_kind(self, *kinds: str) -> list[HostFile]:
        return [f for f in self.files if f.kind in kinds]

    def hosts(self) -> dict[str, list[HostFile]]:
        grouped: dict[str, list[HostFile]] = defaultdict(list)
        for f in self.files:
            grouped[f.host].append(f)
        return dict(grouped)

    def parsed(self, f: HostFile) -> Any:
        """The parsed form of a file (memoised): NamedConf, MainCf, MasterCf, Ruleset, ..."""
        key = (id(f), f.kind)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_file(f)
            except Exception as exc:  # noqa: BLE001 - a hostile file must not take the whole view down
                self._parsed[key] = None
                f.problem = f"cannot parse ({type(exc).__name__}: {exc})"
                self.problems.append(f"{f.label}: {f.problem}")
        return self._parsed[key]

    def customer_pools(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _networks(self.evidence.get("customerPools", []))

    def own_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _networks(self.evidence.get("ownNetworks", []))

    def unknown_note(self) -> str:
        if not self.unknowns:
            return ""
        shown = "; ".join(self.unknowns[:3])
        more = f" and {len(self.unknowns) - 3} more" if len(self.unknowns) > 3 else ""
        return f" (note: unknown during preview: {shown}{more})"


def _networks(values: list[Any]) -> list:
    out = []
    for value in values:
        if isinstance(value, Mapping):
            value = value.get("prefix")
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            continue
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# The parser of each kind of delivered file.
_PARSERS = {
    "bind": bindconf.parse_named_conf,
    "postfix-main": postfixconf.parse_main_cf,
    "postfix-master": postfixconf.parse_master_cf,
    "nftables": nftconf.parse_ruleset,
    "ratelimit": ratelimitconf.parse_rate_limit_yaml,
    "dovecot": dovecotconf.mbox_settings,
    "nginx": nginxconf.parse,
}


def parse_file(f: HostFile) -> Any:
    """Parse a delivered file by kind; None when the kind has no parser or the text is unknown."""
    parser = _PARSERS.get(f.kind)
    return None if f.text is None or parser is None else parser(f.text)


def stack_name(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type>::<name> -> <stack>."""
    if urn.startswith("urn:pulumi:"):
        return urn[len("urn:pulumi:"):].split("::", 1)[0]
    return ""


def _cloudflare_fqdn(name: Any, zone_name: Any, zones: set[str]) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    name = norm_name(name)
    if _within(name, zones):
        return name
    if isinstance(zone_name, str) and zone_name:
        zone = norm_name(zone_name)
        if name in ("@", ""):
            return zone
        if name == zone or name.endswith("." + zone):
            return name
        return f"{name}.{zone}"
    return name


def _within(name: str, zones: set[str]) -> bool:
    """`name` is one of `zones` or below one: a walk over its labels, not over every zone."""
    labels = name.split(".")
    return any(".".join(labels[i:]) in zones for i in range(len(labels)))


def _record_from_fields(fields: dict[str, Any], fqdn: str) -> Rec | None:
    rtype = fields.get("type")
    content = fields.get("content")
    if content in (None, UNKNOWN):
        content = fields.get("value")
    if not isinstance(rtype, str) or not isinstance(content, str):
        return None
    rtype = rtype.upper()
    priority = fields.get("priority")
    priority = int(priority) if isinstance(priority, (int, float)) and not isinstance(priority, bool) else None
    content = content.strip()
    if rtype == "MX":
        parts = content.split()
        if len(parts) == 2 and parts[0].isdigit():
            priority, content = int(parts[0]), parts[1]
        return Rec(fqdn, rtype, norm_name(content), priority)
    if rtype in ("CNAME", "NS", "PTR"):
        return Rec(fqdn, rtype, norm_name(content))
    if rtype == "TXT":
        return Rec(fqdn, rtype, txt_text(content))
    if rtype in ("A", "AAAA"):
        try:
            return Rec(fqdn, rtype, str(ipaddress.ip_address(content)))
        except ValueError:
            return Rec(fqdn, rtype, content)
    return Rec(fqdn, rtype, content)


def txt_text(content: str) -> str:
    """TXT content as published: `"a" "b"` -> `ab`; unquoted text as is."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    out, i = [], 0
    while i < len(content):
        if content[i] == '"':
            j = i + 1
            buf = []
            while j < len(content) and content[j] != '"':
                if content[j] == "\\" and j + 1 < len(content):
                    j += 1
                buf.append(content[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def build_view(raws: list[RawResource]) -> StackView:
    view = StackView()
    for raw in raws:
        if raw.urn and not view.stack:
            view.stack = stack_name(raw.urn)
    # Zones first: records are placed by the longest zone suffix.
    for raw in raws:
        if raw.rtype in ZONE_TYPES:
            view.zone_resources.append(raw)
            zone = raw.fields.get("name")
            if isinstance(zone, str) and zone:
                view.zones.setdefault(norm_name(zone), ZoneInfo(norm_name(zone), raw.urn, raw.protect, "cloudflare"))
            elif zone is UNKNOWN:
                view.unknowns.append(f"zone name of {raw.name}")
    for raw in raws:
        for f in files_of(raw):
            view.files.append(f)
            if f.text is None and f.problem:
                if "unknown" in f.problem:
                    view.unknowns.append(f"{f.label}: {f.problem}")
                elif f.kind != "other":
                    view.problems.append(f"{f.label}: {f.problem}")
        if raw.rtype.startswith("isp:"):
            for key in EVIDENCE_KEYS:
                value = raw.fields.get(key)
                if isinstance(value, list):
                    view.evidence[key].extend(v for v in value if v is not UNKNOWN)
        if raw.rtype in COMMAND_TYPES:
            host = raw.fields.get("host")
            texts = [t for t in (raw.fields.get("create"), raw.fields.get("update")) if isinstance(t, str)]
            if any(raw.fields.get(k) is UNKNOWN for k in ("create", "update")):
                view.unknowns.append(f"the command text of {raw.name}")
            view.commands.append(CommandText(host if isinstance(host, str) else "", texts, raw.urn, raw.name))
    _add_zone_files(view)
    zone_names = set(view.zones)
    for raw in raws:
        if raw.rtype not in RECORD_TYPES:
            continue
        fields = raw.fields
        unknown = [k for k in ("name", "type", "content") if fields.get(k) is UNKNOWN]
        if unknown and not (unknown == ["content"] and isinstance(fields.get("value"), str)):
            view.unknowns.append(f"{', '.join(unknown)} of DNS record {raw.name}")
            continue
        fqdn = _cloudflare_fqdn(fields.get("name"), fields.get("zoneName"), zone_names)
        rec = _record_from_fields(fields, fqdn) if fqdn else None
        if rec is not None:
            view.add_record(rec, "cloudflare", raw.urn)
    return view


def _add_zone_files(view: StackView) -> None:
    """Zone files: origin from the host's named.conf zone block, else $ORIGIN, else the file name."""
    declared: dict[tuple[str, str], str] = {}
    declared_base: dict[tuple[str, str], str] = {}
    for f in view.files_of_kind("bind"):
        conf = view.parsed(f)
        if conf is None:
            continue
        for zone in conf.zones:
            if zone.file and zone.name:
                declared[(f.host, zone.file)] = zone.name
                declared_base[(f.host, posixpath.basename(zone.file))] = zone.name
    for f in view.files_of_kind("zone"):
        if f.text is None:
            continue
        origin = (declared.get((f.host, f.path)) or declared_base.get((f.host, f.basename))
                  or zonetext.origin_from_text(f.text) or zonetext.origin_from_filename(f.basename))
        if not origin:
            view.problems.append(f"{f.label}: cannot tell the zone's origin "
                                 "(no named.conf zone block, $ORIGIN or db.<zone> name)")
            continue
        try:
            parsed = zonetext.read_zone(f.text, origin)
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on a hostile file
            view.problems.append(f"{f.label}: cannot parse ({type(exc).__name__}: {exc})")
            continue
        view.problems.extend(f"{f.label}: {p}" for p in parsed.problems)
        view.zones.setdefault(origin, ZoneInfo(origin, f.urn, False, f.label))
        for rec in parsed.records:
            view.add_record(rec, f.label, f.urn)
        for rng in parsed.ranges:
            view.add_range(rng, f.label)


# ---------------------------------------------------------------------------------------
# One view per AnalyzeStack. When the stack policies share their resource objects (see
# packruntime.share_stack_resources) the same objects mean the same view, checked by identity;
# fresh objects (the SDK's own AnalyzeStack, tests) are matched by a digest of the raw facts
# (cheap), so the parsing (dear) happens once either way.

@dataclass
class _BuiltView:
    view: StackView
    resources: tuple[Any, ...]  # held, so an identical object cannot be a new one
    raws: list[RawResource]
    digest: str | None = None  # computed only when fresh objects must be compared

    def key(self) -> str:
        if self.digest is None:
            self.digest = _digest(self.raws)
        return self.digest


_cache_lock = threading.Lock()
_cache: _BuiltView | None = None


def _stable(value: Any) -> Any:
    """A repr-able form that is equal for equal content (assets are new objects per policy)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _stable(read(value, k))) for k in _keys(value)))
    if isinstance(value, (list, tuple)):
        return tuple(_stable(v) for v in value)
    for attr in ("text", "path", "uri"):
        if hasattr(value, attr) and not isinstance(value, str):
            return (type(value).__name__, attr, str(getattr(value, attr)))
    if hasattr(value, "assets"):
        return (type(value).__name__, _stable(dict(value.assets)))
    return value


def _digest(raws: list[RawResource]) -> str:
    h = hashlib.sha256()
    for raw in raws:
        facts = sorted((k, repr(_stable(v))) for k, v in raw.fields.items())
        h.update(repr((raw.urn, raw.rtype, raw.protect, facts)).encode())
    return h.hexdigest()


def view_of(resources: list[Any]) -> StackView:
    """The view of a stack (PolicyResource objects), reusing the last one for the same facts."""
    global _cache
    with _cache_lock:
        if _cache is not None and len(_cache.resources) == len(resources) and all(
                a is b for a, b in zip(_cache.resources, resources, strict=True)):
            return _cache.view
    raws = [raw_resource(r) for r in resources]
    with _cache_lock:
        if _cache is not None and _cache.key() == (key := _digest(raws)):
            _cache = _BuiltView(_cache.view, tuple(resources), raws, key)
            return _cache.view
        _cache = _BuiltView(build_view(raws), tuple(resources), raws)
        return _cache.view
