"""Delivering rendered files to a host: stage, validate with the daemon's checker, swap, reload.

A file that fails validation never replaces the working one: every file of a service is
copied to a staging directory beside its real path (same basename, so checkers and the
policy pack know what it is), the daemon's own checker runs on the staged copy, and only
then are the files swapped in, each previous version kept as a dated copy. If the reload
fails, the previous files are put back and the service reloaded again.

Every word of the install script goes through `shlex.quote`: no config value reaches a
shell unquoted.

Two transports carry the same stage -> validate -> swap -> reload: `ssh` (pulumi-command's
`remote.CopyToRemote` and `remote.Command`, for real servers) and `local`
(`local.Command`, for hosts that live on this machine, as the lab's network namespaces do).
A local host is a network namespace plus a root directory: `<root>/host.pid` names a
process that holds the host's mount namespace, in which the host's /etc, /var, /home and
/usr/local are overlays whose upper layers are `<root>/etc`, `<root>/var`, ... Every local command is
run inside that host (its network and mount namespaces, entered with nsenter), so the
absolute paths the components render (/etc/bind/named.conf, ...) work unchanged, while
the files land under `<root>` and the machine's own /etc is never written.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_command as command
from pydantic import BaseModel, ConfigDict, model_validator

STAGING_DIRNAME = "isp-staging"
# Where the local transport keeps a stack's host roots, relative to the project directory.
LOCAL_ROOTS_DIR = "build/{stack}/root"
LOCAL_NAMESPACE = "isp-{stack}-{host}"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ROOT_RE = re.compile(r"^/[A-Za-z0-9._/+@-]*$")


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
    """How to reach a host: over SSH (the key stays a Pulumi secret), or locally (see the module doc)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    host: str
    user: str
    port: int = 22
    private_key: Any  # pulumi.Input[str], a secret Output in practice
    transport: Literal["ssh", "local"] = "ssh"
    namespace: str | None = None  # local: the network namespace (/run/netns/<namespace>)
    root: str | None = None  # local: the host's root directory (absolute)

    @model_validator(mode="after")
    def _local_host(self) -> HostConnection:
        if self.transport == "local":
            if not self.namespace or not _NAMESPACE_RE.match(self.namespace):
                raise ValueError(f"a local host needs a network namespace name, got {self.namespace!r}")
            if not self.root or not _ROOT_RE.match(self.root) or ".." in self.root.split("/"):
                raise ValueError(f"a local host needs an absolute root directory, got {self.root!r}")
        return self

    @classmethod
    def local(cls, host: str, name: str, stack: str, project_dir: str | None = None) -> HostConnection:
        """The local host `name` of `stack`: namespace isp-<stack>-<name>, root <project>/build/<stack>/root/<name>."""
        base = os.path.abspath(project_dir or os.getcwd())
        return cls(
            host=host,
            user="root",
            private_key=None,
            transport="local",
            namespace=LOCAL_NAMESPACE.format(stack=stack, host=name),
            root=posixpath.join(base, LOCAL_ROOTS_DIR.format(stack=stack), name),
        )

    def args(self) -> command.remote.ConnectionArgs:
        return command.remote.ConnectionArgs(
            host=self.host, user=self.user, port=self.port, private_key=self.private_key
        )

    def interpreter(self) -> list[str]:
        """The local.Command interpreter that runs its command inside this local host."""
        if self.transport != "local":
            raise ValueError(f"{self.host} is reached over {self.transport}, not locally")
        return ["/bin/sh", "-c", ENTER_LOCAL_HOST, "isp-host", self.namespace, self.root]


# Runs `$3` inside the local host ($1 namespace, $2 root). The holder is checked first: it must be
# in the host's network namespace, and its /etc must be the overlay whose upper layer is
# <root>/etc. A stale pid must never make a command run where the machine's own /etc is.
ENTER_LOCAL_HOST = """\
set -eu
ns=$1 root=$2
pid=$(cat "$root/host.pid" 2>/dev/null) || { echo "local host $ns is not up ($root/host.pid is missing)" >&2; exit 1; }
netns=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) || { echo "no network namespace $ns" >&2; exit 1; }
if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "net:[$netns]" ] || ! awk -v upper="upperdir=$root/etc," \\
    '$5 == "/etc" && / - overlay / && index($0, upper) { found = 1 } END { exit !found }' "/proc/$pid/mountinfo"
then
  echo "local host $ns is not up (pid $pid does not hold its namespaces)" >&2; exit 1
fi
exec nsenter --net="/run/netns/$ns" --mount="/proc/$pid/ns/mnt" -- /bin/sh -c \\
  'cd / && PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin && export PATH && exec /bin/sh -c "$1"' \\
  isp-host "$3"
"""
# A local copy: the content arrives on stdin and is written to the staged path, owner-only.
WRITE_STAGED = 'umask 077 && cat > "$ISP_STAGED_PATH"'


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
        transport = _Transport(args.connection)
        staging_dirs = sorted({posixpath.dirname(staging_path(f.path)) for f in args.files})
        prepare = transport.command(
            f"{name}-staging",
            create=_words(["mkdir", "-p", "-m", "0700", *staging_dirs]),
            triggers=staging_dirs,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        copies = [
            transport.copy(
                f"{name}-{managed.resource_role}",
                managed,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[prepare]),
            )
            for managed in args.files
        ]
        script = install_script(args.files, args.checks, args.reload)
        self.install = transport.command(
            f"{name}-install",
            create=script,
            update=script,
            triggers=[_digest(f.content) for f in args.files],
            opts=pulumi.ResourceOptions(parent=self, depends_on=copies),
        )
        self.register_outputs({"installed": self.install.stdout})


class _Transport:
    """The two resource kinds that carry stage -> validate -> swap -> reload to a host: a command run on
    it, and a file copied to its staged path. Over SSH: `remote.Command` and `remote.CopyToRemote`;
    locally: `local.Command`s run inside the local host, the copy's content on stdin."""

    def __init__(self, connection: HostConnection) -> None:
        self._connection = connection
        self._local = connection.transport == "local"
        self._interpreter = connection.interpreter() if self._local else None
        self._ssh = None if self._local else connection.args()

    def command(self, name: str, *, create: str, triggers: list[str], opts: pulumi.ResourceOptions,
                update: str | None = None) -> pulumi.CustomResource:
        if self._local:
            # ISP_HOST names the host the command runs on, so the policy pack places what it installs there.
            return command.local.Command(name, create=create, update=update, interpreter=self._interpreter,
                                         environment={"ISP_HOST": self._connection.host}, triggers=triggers,
                                         opts=opts)
        return command.remote.Command(name, connection=self._ssh, create=create, update=update, triggers=triggers,
                                      opts=opts)

    def copy(self, name: str, managed: ManagedFile, *, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        staged, triggers = staging_path(managed.path), [_digest(managed.content)]
        if self._local:
            return command.local.Command(
                name,
                create=WRITE_STAGED,
                stdin=managed.content,
                # Data, not shell text: which host and which staged file this content is for.
                environment={"ISP_HOST": self._connection.host, "ISP_STAGED_PATH": staged},
                interpreter=self._interpreter,
                triggers=triggers,
                opts=opts,
            )
        return command.remote.CopyToRemote(name, connection=self._ssh, source=pulumi.StringAsset(managed.content),
                                           remote_path=staged, triggers=triggers, opts=opts)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
