"""Materialise what `command:remote:CopyToRemote` resources would put on each host.

For every copy whose host, remote path and content are known at preview, the content is written to
`<build-dir>/<stack>/hosts/<host>/<remote path>`, so real tools (named-checkconf, nft -c, postconf...)
can check the files before anything is deployed. The connection (private key, password) is only read
for its host. Content that came from a secret is not written.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight.model import ARCHIVE_SIG, ASSET_SIG, SIG_KEY, UNKNOWN, Registration, is_secret

COPY_TO_REMOTE_TYPE = "command:remote:CopyToRemote"
# A host name or address: it becomes one directory name, so no separators, no `..`.
_HOST_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:-]*$")


@dataclass(frozen=True)
class HostFile:
    """One file written: where it would land on the host and where it is on disk."""

    host: str
    remote_path: str
    local_path: Path
    size: int
    urn: str


@dataclass(frozen=True)
class HostFileNote:
    """A copy that was not (fully) materialised, and why."""

    urn: str
    reason: str


@dataclass
class HostFiles:
    hosts_dir: Path
    written: list[HostFile] = field(default_factory=list)
    notes: list[HostFileNote] = field(default_factory=list)


def unwrap_secret(value: Any) -> Any:
    while is_secret(value):
        value = value.get("value")
    return value


def hosts_dir(build_dir: Path, stack: str) -> Path:
    return build_dir / stack / "hosts"


def _relative_remote_path(remote_path: str) -> str | None:
    """The remote path below the host root, resolved the way the remote host would (`/..` stays `/`)."""
    normalised = posixpath.normpath("/" + remote_path.replace("\\", "/"))
    relative = normalised.lstrip("/")
    return relative or None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class _Writer:
    def __init__(self, root: Path, program_dir: Path):
        self.root = root
        self.program_dir = program_dir
        self.result = HostFiles(hosts_dir=root)
        self.targets: dict[Path, str] = {}

    def note(self, urn: str, reason: str) -> None:
        self.result.notes.append(HostFileNote(urn, reason))

    def write(self, urn: str, host: str, remote_path: str, content: bytes) -> None:
        host_root = self.root / host
        relative = _relative_remote_path(remote_path)
        if relative is None:
            self.note(urn, f"remotePath {remote_path!r} names the host's root directory, not a file")
            return
        target = host_root / relative
        host_root.mkdir(parents=True, exist_ok=True)
        # Belt and braces after normpath: no path may lead outside the host directory.
        if not _inside(target, host_root):
            self.note(urn, f"remotePath {remote_path!r} would leave the host directory; not written")
            return
        if target.is_dir():
            self.note(urn, f"{host}:{remote_path} is also a directory of copied files; not written")
            return
        earlier = self.targets.get(target)
        if earlier is not None:
            self.note(urn, f"{host}:{remote_path} is also copied by {earlier}; the later copy wins")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.targets[target] = urn
        remote = "/" + relative if remote_path.startswith("/") else relative
        self.result.written.append(HostFile(host, remote, target, len(content), urn))

    def asset_content(self, urn: str, asset: dict[str, Any]) -> bytes | None:
        if "text" in asset:
            text = asset["text"]
            if text == UNKNOWN or not isinstance(text, str):
                self.note(urn, "the asset text is unknown at preview; not written")
                return None
            return text.encode("utf-8")
        if "path" in asset:
            path = self.program_dir / str(asset["path"])
            if not path.is_file():
                self.note(urn, f"FileAsset {asset['path']!r} does not exist under {self.program_dir}; not written")
                return None
            return path.read_bytes()
        self.note(urn, "RemoteAsset (uri) content is not fetched offline; not written")
        return None

    def archive(self, urn: str, host: str, remote_path: str, archive: dict[str, Any]) -> None:
        if "assets" in archive and isinstance(archive["assets"], dict):
            for name, member in sorted(archive["assets"].items()):
                member_path = posixpath.join(remote_path, str(name))
                self.source(urn, host, member_path, member)
            return
        if "path" in archive:
            directory = self.program_dir / str(archive["path"])
            if not directory.is_dir():
                self.note(urn, f"FileArchive {archive['path']!r} is not a directory (archive files are not "
                               "unpacked); not written")
                return
            for file in sorted(p for p in directory.rglob("*") if p.is_file()):
                member_path = posixpath.join(remote_path, file.relative_to(directory).as_posix())
                self.write(urn, host, member_path, file.read_bytes())
            return
        self.note(urn, "RemoteArchive (uri) content is not fetched offline; not written")

    def source(self, urn: str, host: str, remote_path: str, source: Any) -> None:
        if source == UNKNOWN:
            self.note(urn, "the source is unknown at preview; not written")
            return
        if is_secret(source):
            self.note(urn, "the source content is a secret; not written")
            return
        if not isinstance(source, dict):
            self.note(urn, "the source is not an asset or archive; not written")
            return
        signature = source.get(SIG_KEY)
        if signature == ASSET_SIG:
            content = self.asset_content(urn, source)
            if content is not None:
                self.write(urn, host, remote_path, content)
        elif signature == ARCHIVE_SIG:
            self.archive(urn, host, remote_path, source)
        else:
            self.note(urn, "the source is not an asset or archive; not written")


def write_host_files(registrations: list[Registration], *, program_dir: Path, build_dir: Path,
                     stack: str) -> HostFiles:
    """Clean `<build-dir>/<stack>/hosts` and write every known CopyToRemote there."""
    root = hosts_dir(build_dir, stack)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    writer = _Writer(root, program_dir)
    for registration in registrations:
        if registration.type != COPY_TO_REMOTE_TYPE:
            continue
        urn = registration.urn
        inputs = registration.inputs
        connection = unwrap_secret(inputs.get("connection"))
        host = unwrap_secret(connection.get("host")) if isinstance(connection, dict) else None
        remote_path = unwrap_secret(inputs.get("remotePath"))
        if not isinstance(host, str) or host == UNKNOWN:
            writer.note(urn, "the connection host is unknown at preview; not written")
            continue
        if not _HOST_RE.match(host) or ".." in host:
            writer.note(urn, f"connection host {host!r} is not a plain host name or address; not written")
            continue
        if not isinstance(remote_path, str) or remote_path == UNKNOWN:
            writer.note(urn, "the remotePath is unknown at preview; not written")
            continue
        writer.source(urn, host, remote_path, inputs.get("source"))
    return writer.result
