"""Delivering rendered files to a host: stage, validate with the daemon's checker, swap, reload.

A file that fails validation never replaces the working one: every file of a service is
copied to an owner-only staging directory beside its real path (same basename, so checkers
and the policy pack know what it is), the daemon's own checker runs on the staged copy, and
only then are the files swapped in, all or nothing (`install_script`): under a per-host
lock, each previous version copied aside (under STATE_DIR, never beside the real file), each
staged file renamed over its real path, and on any failure or signal from the first swap on,
every file put back and the old configuration reloaded. A journal makes even SIGKILL
recoverable: the next delivery to the host puts the files back first.

A swap copies the checked staged file to a temporary name in the same owner-only staging
directory (`<staged>.isp-swap`, same filesystem), gives that copy its final mode and renames it
over the real path: atomic, and the bytes checked are the bytes installed, since only the
deploying user can write in the staging directory (0700, checked again under the lock). Never a
hard link: an SFTP copy into the staged path would then truncate the live file. The owner is the
deploying user, as with `install` before, unless the file names one (`owner`, user:group: chown on the
copy before the rename; a put-back restores the previous owner with the bytes). Staged copies are
owner-only: the local copy writes them 0600; over SSH, `CopyToRemote` (SFTP) creates them with the
server's default mode, which it cannot set, and the staging directory's 0700 keeps other users out.

The staged copies persist between deliveries (each equals its installed file): a copy runs again
only when its own content changes, as an in-place update of its resource (a local Command's
`stdin`, a CopyToRemote's `source`), never a replacement. That matters in production, where the
copies are `protect`ed (zone data, see the pack's prod-zones-protected): pulumi-command replaces
a resource whose `triggers` change, and the engine refuses to replace a protected resource, so a
protected copy carries no `triggers` at all. The staging command (deleting it does nothing on the
host) is not protected and re-runs only when the set of staging directories changes; the
install command, unprotected, runs again whenever any file's content or the script changes.

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

from components import zone_serial

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
    zone: str = ""  # set for a BIND zone file (its origin): the host sets its SOA serial (components/zone_serial.py)
    # user:group the installed file belongs to ("" = the deploying user's, as before): a daemon that drops
    # privileges and refuses a key others could read (opendkim's RequireSafeKeys) must own its 0600 key.
    owner: str = ""

    @property
    def resource_role(self) -> str:
        return self.role or posixpath.basename(self.path)


def _words(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in argv)


# Per host, owner-only: the lock that serializes deliveries, the journal of the one in progress and,
# under backup/<real path>/, the copies of the files it replaces. Not beside the real files: no daemon
# include glob (sites-enabled/*, conf.d/*) may ever read a backup.
STATE_DIR = "/var/lib/isp-delivery"
KEEP_BACKUPS = 5  # copies kept per file
LOCK_WAIT_SECONDS = 300  # how long a delivery waits for another one to the same host
_MODE_RE = re.compile(r"^[0-7]{3,4}$")
# user:group as Debian's adduser allows system names (a leading letter or _, then letters, digits, _ and -).
_NAME = r"[a-z_][a-z0-9_-]{0,31}"
_OWNER_RE = re.compile(rf"^{_NAME}:{_NAME}$")

# $1: a directory only this user may use. Created 0700 when absent; refused when it is a symlink,
# another user's, or open to others: whoever can write in it could swap a staged file between the
# check and the swap. (In a setgid parent such as /etc/bind it is 2700: the group still has no access.)
_OWNED_DIR = """\
isp_owned_dir() {
  [ -L "$1" ] || [ -e "$1" ] || mkdir -m 0700 -- "$1" || :
  isp_found=$(stat -c '%F, uid %u, mode %a' -- "$1" 2>/dev/null) || isp_found='nothing there'
  case $isp_found in
    "directory, uid $(id -u), mode 700" | "directory, uid $(id -u), mode 2700") ;;
    *) echo "refusing $1: it must be a directory owned by uid $(id -u) with mode 0700, found $isp_found" >&2
       exit 1 ;;
  esac
}
"""

# Runs on any exit. Once the first file may have been swapped (phase swapping or reloading) it puts
# every file back by running the journal, which also reloads the old configuration if the reload had
# started. HUP/INT/TERM exit through it; SIGKILL cannot be caught: the journal stays, and the next
# delivery to the host runs it before anything else.
_ON_EXIT = """\
isp_exit() {
  isp_status=$?
  trap '' HUP INT TERM
  set +e
  [ "$isp_status" -ne 0 ] || [ "$isp_phase" = done ] || isp_status=1
  if [ "$isp_status" -eq 0 ]; then exit 0; fi
  isp_what="$isp_doing failed (exit status $isp_status)"
  [ -z "$isp_signal" ] || isp_what="interrupted by SIG$isp_signal while $isp_doing"
  case $isp_phase in
    swapping | reloading)
      if ( . "$isp_state/journal" ); then
        rm -f -- "$isp_state/journal"
        echo "$isp_what; previous configuration restored: every file of this delivery is back as it was" >&2
      else
        echo "$isp_what; putting the previous files back FAILED (see above): $isp_state/journal is kept" \\
          "and the next delivery to this host retries it first" >&2
      fi ;;
    done) echo "$isp_what, after every file was swapped in and reloaded" >&2 ;;
    *) echo "$isp_what; no file of this delivery was changed" >&2 ;;
  esac
  exit "$isp_status"
}
trap isp_exit EXIT
trap 'isp_signal=HUP; exit 129' HUP
trap 'isp_signal=INT; exit 130' INT
trap 'isp_signal=TERM; exit 143' TERM
"""

# The journal's own helper (the journal is self-contained: a later script version must still run it).
# $1 the real path, $2 its staged path, $3 the copy kept before the delivery, $4 the marker saying the
# file did not exist. A swap leaves the staged copy in place, so a retry finds every staged file.
_PUT_BACK = """\
isp_put() {
  if [ -f "$3" ]; then
    cp -p -- "$3" "$2.isp-old" && mv -f -T -- "$2.isp-old" "$1" ||
      { echo "could not put back $1 from $3" >&2; isp_failed=1; }
  elif [ -e "$4" ]; then
    rm -f -- "$1" || { echo "could not remove $1 (it did not exist before)" >&2; isp_failed=1; }
  else
    echo "no copy of $1 was kept ($3 is missing); left as it is" >&2; isp_failed=1
  fi
}
"""


def _check_files(files: Sequence[ManagedFile]) -> None:
    """Paths the script can place, back up and put back: absolute, normal, one each, a plain mode."""
    seen: set[str] = set()
    for managed in files:
        path = managed.path
        if not path.startswith("/") or posixpath.normpath(path) != path or "\0" in path or path == "/":
            raise ValueError(f"a managed file needs an absolute, normalised path, got {path!r}")
        if posixpath.basename(path) == STAGING_DIRNAME:
            raise ValueError(f"{path!r}: {STAGING_DIRNAME} is the staging directory's name")
        if path in seen:
            raise ValueError(f"{path!r} is delivered twice in one ServiceConfig")
        seen.add(path)
        if not _MODE_RE.match(managed.mode):
            raise ValueError(f"{path!r}: mode must be octal such as 0644, got {managed.mode!r}")
        if managed.owner and not _OWNER_RE.fullmatch(managed.owner):
            raise ValueError(f"{path!r}: owner must be user:group such as opendkim:opendkim, got {managed.owner!r}")
        if managed.zone:
            zone_serial.check_zone(managed.zone, path)


def backup_dir(path: str, state_dir: str = STATE_DIR) -> str:
    """Where the copies of `path` are kept: <state>/backup/<path>/<stamp>.bak (owner-only)."""
    return posixpath.join(state_dir, "backup", path.lstrip("/"))


def staging_script(staging_dirs: Sequence[str]) -> str:
    """The POSIX shell script that creates the staging directories owner-only (parents as usual: a daemon
    reads /etc/bind/zones) and refuses one that exists as a symlink, another user's, or not 0700."""
    q = shlex.quote
    parents = sorted({posixpath.dirname(d) for d in staging_dirs})
    lines = ["set -eu", _OWNED_DIR.rstrip("\n"), "umask 022", f"mkdir -p -- {_words(parents)}", "umask 077"]
    lines += [f"isp_owned_dir {q(d)}" for d in staging_dirs]
    return "\n".join(lines) + "\n"


def _journal(files: Sequence[ManagedFile], reload: Sequence[Sequence[str]], state_dir: str) -> str:
    """The journal's body (after `isp_stamp=` and `isp_reloading=`): puts every file back, then reloads
    the old configuration if the reload had started. Exits 1 if a file could not be put back."""
    q = shlex.quote
    lines = ["# An isp delivery in progress on this host: run (sourced) to put back every file it swaps in.",
             "set +e", "isp_failed=0", _PUT_BACK.rstrip("\n")]
    for managed in files:
        kept = q(backup_dir(managed.path, state_dir))
        lines.append(f'isp_put {q(managed.path)} {q(staging_path(managed.path))} {kept}/"$isp_stamp.bak" '
                     f'{kept}/"$isp_stamp.none"')
    if reload:
        words = " && ".join(_words(argv) for argv in reload)
        failed = q(f"reloading the previous configuration failed too: {words}")
        lines.append(f'if [ "$isp_reloading" = 1 ]; then {{ {words}; }} 9>&- || echo {failed} >&2; fi')
    lines.append('exit "$isp_failed"')
    return "\n".join(lines) + "\n"


def install_script(
    files: Sequence[ManagedFile],
    checks: Sequence[Sequence[str]],
    reload: Sequence[Sequence[str]],
    *,
    state_dir: str = STATE_DIR,
    lock_wait: int = LOCK_WAIT_SECONDS,
    keep: int = KEEP_BACKUPS,
) -> str:
    """The POSIX shell script that checks the staged files, swaps them in and reloads: all or nothing.

    Under a per-host lock: a journal left by a delivery that was killed is run first; every staged file
    must be there, a regular file in an owner-only staging directory; each staged zone file gets its SOA
    serial from the live one (components/zone_serial.py); `checks` run on the staged copies;
    each real file is copied to <state>/backup; only then is each staged file copied beside itself, given its
    mode and renamed over its real path (a rename is atomic: a reader sees the old file or the new one, never a mix). A
    failure or signal from the first swap on puts every file back and, if the reload had started, reloads
    the old configuration. The staged copies stay (each equals its installed file afterwards; a retry or the
    next delivery finds them); the newest `keep` backups of each file are kept.
    """
    _check_files(files)
    if keep < 1 or lock_wait < 0:
        raise ValueError(f"keep at least one backup and wait a non-negative time, got {keep=} {lock_wait=}")
    q = shlex.quote
    state = q(state_dir)
    lines = [
        "set -eu",
        "umask 077",
        "LC_ALL=C; export LC_ALL",
        f"isp_state={state}",
        "isp_phase=preparing isp_signal= isp_doing='taking the delivery lock'",
        _OWNED_DIR.rstrip("\n"),
        _ON_EXIT.rstrip("\n"),
        'isp_owned_dir "$isp_state"',
        # fd 9 holds the lock; every command the script starts gets it closed (9>&-), so a daemon a
        # reload starts cannot keep the host locked.
        'exec 9>>"$isp_state/lock"',
        'command -v flock >/dev/null || { echo "flock (util-linux) is needed to serialize deliveries" >&2; exit 1; }',
        f'flock -w {int(lock_wait)} 9 || {{ echo "another delivery to this host holds $isp_state/lock;" '
        f'"gave up after {int(lock_wait)} s" >&2; exit 1; }}',
        'if [ -e "$isp_state/journal" ]; then',
        '  isp_doing="putting back the files of an interrupted delivery ($isp_state/journal)"',
        '  echo "a delivery to this host was interrupted; putting its files back first" >&2',
        '  ( . "$isp_state/journal" )',
        '  rm -f -- "$isp_state/journal"',
        "fi",
        "isp_doing='checking the staging directories and staged files'",
    ]
    lines += [f"isp_owned_dir {q(d)}" for d in sorted({posixpath.dirname(staging_path(f.path)) for f in files})]
    for managed in files:
        staged = q(staging_path(managed.path))
        missing = q(f"staged file {staging_path(managed.path)} is missing or not a regular file")
        lines.append(f"[ -f {staged} ] && [ ! -L {staged} ] || {{ echo {missing} >&2; exit 1; }}")
    zones = [(f.zone, f.path, staging_path(f.path)) for f in files if f.zone]
    lines += zone_serial.stamp_lines(zones)  # under the lock, before the checks: they check the stamped copies
    for argv in checks:
        failed = q(f"validation failed: {_words(argv)}")
        lines.append(f"isp_doing={q('checking: ' + _words(argv))}")
        lines.append(f"9>&- {_words(argv)} || {{ echo {failed} >&2; exit 1; }}")
    lines.append("isp_stamp=$(date -u +%Y%m%dT%H%M%S.%NZ).$$")
    for managed in files:
        real, kept = q(managed.path), q(backup_dir(managed.path, state_dir))
        lines.append(f"isp_doing={q('keeping a copy of ' + managed.path)}")
        lines.append(f"mkdir -p -- {kept}")
        lines.append(f'if [ -e {real} ]; then cp -p -- {real} {kept}/"$isp_stamp".bak; '
                     f'else touch -- {kept}/"$isp_stamp.none"; fi')
    lines += [
        f"isp_journal={q(_journal(files, reload, state_dir))}",
        "isp_doing='writing the journal'",
        *_commit_journal(0),
        "isp_phase=swapping",
    ]
    for managed in files:
        lines += [f"isp_doing={q('swapping in ' + managed.path)}", swap_text(managed)]
    lines += zone_serial.kept_lines(zones)
    if reload:
        lines += [*_commit_journal(1), "isp_phase=reloading"]
        for argv in reload:  # one statement each: `set -e` ignores a failure on the left of `&&`
            lines += [f"isp_doing={q('the reload (' + _words(argv) + ')')}", f"9>&- {_words(argv)}"]
    # Delivered: from here on a failure only leaves some tidying undone (the journal must go, or the next
    # delivery would put the previous files back).
    lines += ["isp_phase=done isp_doing='removing the journal'", 'rm -f -- "$isp_state/journal"', "set +e",
              *_tidy(files, state_dir, keep), "exit 0"]
    return "\n".join(lines) + "\n"


SWAP_SUFFIX = ".isp-swap"


def swap_text(managed: ManagedFile) -> str:
    """The lines of an install script that put `managed` in place and keep its staged copy: a copy of the
    staged file in the staging directory (same filesystem), given its final owner and mode, renamed over the
    real path (atomic: the file never appears with the wrong owner). A fresh file (rm first): never written
    through a leftover, never a link to the live file. The owner before the mode: chown may clear set-id bits.
    A put-back (`cp -p` from the kept copy) restores the previous owner and mode."""
    q = shlex.quote
    staged = staging_path(managed.path)
    swap = q(staged + SWAP_SUFFIX)
    owner = [f"chown -- {q(managed.owner)} {swap}"] if managed.owner else []
    return "\n".join([f"rm -f -- {swap}", f"cp -- {q(staged)} {swap}", *owner, f"chmod {q(managed.mode)} {swap}",
                      f"mv -f -T -- {swap} {q(managed.path)}"])


def _commit_journal(reloading: int) -> list[str]:
    """Write the journal beside its final name, then rename it: a journal is whole or absent."""
    return [
        'exec 8>"$isp_state/journal.new"',
        f'printf \'isp_stamp=%s\\nisp_reloading={reloading}\\n%s\' "$isp_stamp" "$isp_journal" >&8',
        "exec 8>&-",
        'mv -f -- "$isp_state/journal.new" "$isp_state/journal"',
    ]


def _tidy(files: Sequence[ManagedFile], state_dir: str, keep: int) -> list[str]:
    """After a delivery (the staged copies stay): leftovers of a swap or put-back go (.isp-tmp: an older script
    version's), dated copies an older version of this script
    left beside the real file move in with the others, and each file keeps its newest `keep` copies."""
    q = shlex.quote
    lines = [
        "isp_prune() {",
        "  isp_n=0",
        '  for isp_b in "$1"/*; do if [ -f "$isp_b" ]; then isp_n=$((isp_n + 1)); fi; done',
        '  for isp_b in "$1"/*; do',
        f'    if [ "$isp_n" -le {int(keep)} ]; then break; fi',
        '    if [ -f "$isp_b" ]; then rm -f -- "$isp_b"; isp_n=$((isp_n - 1)); fi',
        "  done",
        "}",
    ]
    stamp = "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z"
    for managed in files:
        real, staged, kept = q(managed.path), q(staging_path(managed.path)), q(backup_dir(managed.path, state_dir))
        lines.append(f"rm -f -- {staged}.isp-tmp {staged}.isp-old {staged}{SWAP_SUFFIX}")
        lines.append(f'for isp_b in {real}.{stamp}.bak; do if [ -f "$isp_b" ]; then '
                     f'isp_s=${{isp_b#{real}.}}; mv -f -- "$isp_b" {kept}/"${{isp_s%.bak}}".bak; fi; done')
        lines.append(f"isp_prune {kept}")
    return lines


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
# A local copy: the content arrives on stdin and is written to the staged path, owner-only (a new file,
# 0600 from the start, whatever mode a copy left there by a failed delivery had).
WRITE_STAGED = 'umask 077 && rm -f "$ISP_STAGED_PATH" && cat > "$ISP_STAGED_PATH"'


class ServiceConfigArgs(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    connection: HostConnection
    files: list[ManagedFile]
    checks: list[list[str]] = []
    reload: list[list[str]] = []
    protect: bool = False
    # Secret files (a TLS key, an API token): path -> a secret Output of the content, which replaces the
    # ManagedFile's (empty) content. The content stays an Output: never in a plan, trigger or log in clear.
    secret_contents: dict[str, Any] = {}


class ServiceConfig(pulumi.ComponentResource):
    """The files of one service on one host, delivered as one validated, all-or-nothing change."""

    def __init__(self, name: str, args: ServiceConfigArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("isp:delivery:ServiceConfig", name, None, opts)
        transport = Transport(args.connection)
        staging_dirs = sorted({posixpath.dirname(staging_path(f.path)) for f in args.files})
        script = install_script(args.files, args.checks, args.reload)
        contents = [args.secret_contents.get(f.path, f.content) for f in args.files]
        digests = [_content_digest(content) for content in contents]
        # Nothing protected has `triggers` that change with content (a replacement the engine refuses, see
        # the module doc). The staging command is not protected: deleting it does nothing on the host.
        prepare = transport.command(
            f"{name}-staging",
            create=staging_script(staging_dirs),
            triggers=[*staging_dirs],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # A copy runs again only when its own content changes (an update in place): the swap keeps the staged
        # copies, so an unchanged file's copy from an earlier delivery is still there and still equal.
        copies = [
            transport.copy(
                f"{name}-{managed.resource_role}",
                staging_path(managed.path),
                content,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[prepare]),
            )
            for managed, content in zip(args.files, contents, strict=True)
        ]
        self.install = transport.command(
            f"{name}-install",
            create=script,
            update=script,
            triggers=digests,
            opts=pulumi.ResourceOptions(parent=self, depends_on=copies),
        )
        self.register_outputs({"installed": self.install.stdout})


class Transport:
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

    def copy(self, name: str, staged: str, content: Any, *, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        """A file's content (text, or a secret Output of it) copied to its staged path. No `triggers`: a new
        content is an update in place (`stdin` / `source` changed), which a protected resource allows."""
        if self._local:
            return command.local.Command(
                name,
                create=WRITE_STAGED,
                stdin=content,
                # Data, not shell text: which host and which staged file this content is for.
                environment={"ISP_HOST": self._connection.host, "ISP_STAGED_PATH": staged},
                interpreter=self._interpreter,
                opts=opts,
            )
        source = content.apply(pulumi.StringAsset) if isinstance(content, pulumi.Output) \
            else pulumi.StringAsset(content)
        return command.remote.CopyToRemote(name, connection=self._ssh, source=source, remote_path=staged,
                                           opts=opts)


def _content_digest(content: Any) -> Any:
    return content.apply(_digest) if isinstance(content, pulumi.Output) else _digest(content)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
