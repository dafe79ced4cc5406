"""Delivering rendered files to a host: stage, validate with the daemon's checker, swap, reload.

A file that fails validation never replaces the working one: every file of a service is
copied to a staging directory beside its real path (same basename, so checkers and the
policy pack know what it is), the daemon's own checker runs on the staged copy, and only
then are the files swapped in, each previous version kept as a dated copy. If the reload
fails, the previous files are put back and the service reloaded again.

Every word of the install script goes through `shlex.quote`: no config value reaches a
shell unquoted.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command
from pydantic import BaseModel, ConfigDict

STAGING_DIRNAME = "isp-staging"


def staging_path(path: str) -> str:
    """/etc/bind/named.conf -> /etc/bind/isp-staging/named.conf (beside it, same basename)."""
    directory, base = posixpath.split(path)
    return posixpath.join(directory, STAGING_DIRNAME, base)


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str
    mode: str = "0644"
    role: str = ""  # resource-name suffix; defaults to the basename

    @property
    def resource_role(self) -> str:
        return self.role or posixpath.basename(self.path)


def _words(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in argv)


def install_script(
    files: Sequence[ManagedFile],
    checks: Sequence[Sequence[str]],
    reload: Sequence[Sequence[str]],
) -> str:
    """The POSIX shell script that validates staged files, swaps them in and reloads.

    `checks` run on the staged copies before anything is touched; `reload` runs after the
    swap, and a failing reload restores the previous files (and reloads them).
    """
    lines = ["set -eu", "stamp=$(date -u +%Y%m%dT%H%M%SZ)"]
    for argv in checks:
        failed = shlex.quote(f"validation failed: {_words(argv)}")
        lines.append(f"{_words(argv)} || {{ echo {failed} >&2; exit 1; }}")
    for managed in files:
        real, staged = shlex.quote(managed.path), shlex.quote(staging_path(managed.path))
        mode = shlex.quote(managed.mode)
        lines.append(f'mkdir -p "$(dirname {real})"')
        lines.append(f'if [ -e {real} ]; then cp -p {real} {real}."$stamp".bak; fi')
        lines.append(f"install -m {mode} {staged} {real}")
    if reload:
        restore = "; ".join(
            f'if [ -e {shlex.quote(m.path)}."$stamp".bak ]; then cp -p {shlex.quote(m.path)}."$stamp".bak '
            f"{shlex.quote(m.path)}; else rm -f {shlex.quote(m.path)}; fi"
            for m in files
        )
        reload_words = " && ".join(_words(argv) for argv in reload)
        lines.append(f"if ! {{ {reload_words}; }}; then")
        lines.append(f"  {restore}")
        lines.append(f"  {reload_words} || true")
        lines.append("  echo 'reload failed; previous configuration restored' >&2; exit 1")
        lines.append("fi")
    return "\n".join(lines) + "\n"


class HostConnection(BaseModel):
    """How to reach a host over SSH; the key stays a Pulumi secret."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    host: str
    user: str
    port: int = 22
    private_key: Any  # pulumi.Input[str], a secret Output in practice

    def args(self) -> command.remote.ConnectionArgs:
        return command.remote.ConnectionArgs(
            host=self.host, user=self.user, port=self.port, private_key=self.private_key
        )


class ServiceConfigArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    connection: HostConnection
    files: list[ManagedFile]
    checks: list[list[str]] = []
    reload: list[list[str]] = []
    protect: bool = False


class ServiceConfig(pulumi.ComponentResource):
    """The files of one service on one host, delivered as one validated, all-or-nothing change."""

    def __init__(self, name: str, args: ServiceConfigArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("isp:delivery:ServiceConfig", name, None, opts)
        connection = args.connection.args()
        child = pulumi.ResourceOptions(parent=self, protect=args.protect)
        staging_dirs = sorted({posixpath.dirname(staging_path(f.path)) for f in args.files})
        prepare = command.remote.Command(
            f"{name}-staging",
            connection=connection,
            create=_words(["mkdir", "-p", "-m", "0700", *staging_dirs]),
            triggers=staging_dirs,
            opts=child,
        )
        copies = [
            command.remote.CopyToRemote(
                f"{name}-{managed.resource_role}",
                connection=connection,
                source=pulumi.StringAsset(managed.content),
                remote_path=staging_path(managed.path),
                triggers=[_digest(managed.content)],
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[prepare]),
            )
            for managed in args.files
        ]
        script = install_script(args.files, args.checks, args.reload)
        self.install = command.remote.Command(
            f"{name}-install",
            connection=connection,
            create=script,
            update=script,
            triggers=[_digest(f.content) for f in args.files],
            opts=pulumi.ResourceOptions(parent=self, depends_on=copies),
        )
        self.register_outputs({"installed": self.install.stdout})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
