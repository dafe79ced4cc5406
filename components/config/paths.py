"""Where a path from the config may live: one named rule per check.

Two kinds of path reach us from a stack config:

- **A directory on a host** (`hosts[].database.backupDir`). A nightly root job makes it
  (`ExecStartPre=+`), writes dated runs into it and deletes expired ones, so a wrong value
  could hand a system directory to the `postgres` user, hide the backups where the unit
  cannot see them (`ProtectHome=`, `PrivateTmp=`), lose them at the next boot (tmpfs) or
  publish them (a web root). `host_directory` says where such a directory may live.
- **A file of the project** (`zonesFrom[]`), read by the program on the deploying machine:
  `project_file` keeps it inside the project directory (no absolute path, no `..`, no
  symbolic link out) and `open_project_file` opens only a regular file (a FIFO would hang
  the program, a device could do anything), never more than a bounded number of bytes.

Each refusal is a `PathRuleError` naming its rule (`rule: not-a-system-directory`); the model
puts the config key in front of it. No other `isp:` value is a path: certificates arrive as
PEM text, keys by config key name, and the lab's host roots are built from the project
directory, the stack's name and host names (single DNS labels).
"""

from __future__ import annotations

import os
import re
import stat

MAX_HOST_PATH = 200  # characters: enough for any real layout, short enough to show whole
MAX_PROJECT_PATH = 1024
NAME_MAX = 255  # one path component, as Linux allows it

_HOST_COMPONENT_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_PROJECT_COMPONENT_RE = re.compile(r"^[A-Za-z0-9._+@=,-]+$")

# Directories of the system itself: never a backup directory, nor may one of them (or one of
# their ancestors: `/`, `/var`, `/usr`) be named as one (`install -d -o postgres -m 0700 /var`
# would hand /var to postgres). Everything below the trees in _SYSTEM_TREES is refused too.
SYSTEM_DIRECTORIES = frozenset({
    "/", "/bin", "/boot", "/dev", "/efi", "/etc", "/home", "/lib", "/lost+found", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/var",
    "/usr/local", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/local/share",
    "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt",
    "/var/run", "/var/spool", "/var/tmp", "/var/www", "/srv/www", "/srv/http",
})
# Read-only for the job (ProtectSystem=full: /usr, /boot, /efi, /etc), the kernel's (/proc, /sys,
# /dev) or the packages' own (/bin, /sbin, /lib*): nothing of ours belongs anywhere below them.
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/efi", "/etc", "/lib", "/proc", "/sbin", "/snap", "/sys", "/usr")
# Emptied at boot (tmpfs), cleaned by systemd-tmpfiles, or private to each unit (PrivateTmp=yes
# gives the job its own empty /tmp and /var/tmp: the backups would vanish with the run).
_TEMPORARY_TREES = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run", "/var/lock")
# ProtectHome=yes makes these empty and unwritable for the job.
_HIDDEN_TREES = ("/home", "/root")
# Other programs' data: a package owns its directory here (apt purge removes it; MariaDB takes
# every directory in its datadir for a database), caches may be deleted at any time, and a web
# root would publish the dumps.
_OTHER_PROGRAMS_TREES = ("/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/www", "/srv/www",
                         "/srv/http")


class PathRuleError(ValueError):
    """A path refused by one named rule; the message says why, then the rule's name."""

    def __init__(self, rule: str, why: str) -> None:
        self.rule = rule
        super().__init__(f"{why} (rule: {rule})")


def _under(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def _lib_tree(path: str) -> str | None:
    """`/lib`, `/lib64`, `/libx32`, ... (the /lib* trees of any architecture) that `path` is in."""
    top = "/" + path.split("/")[1]
    return top if top.startswith("/lib") else None


def normalized(value: str, *, absolute: bool) -> None:
    """One spelling per path: no `//`, `.`, `..` or trailing `/` (what the job writes is what we judged)."""
    body = value[1:] if absolute else value
    components = body.split("/")
    if "" in components:
        raise PathRuleError("normalized", "must not hold '//' or end with '/'")
    if "." in components or ".." in components:
        raise PathRuleError("normalized", "must not hold '.' or '..' components")


def host_directory(value: object) -> str:
    """`value` if it may be a backup directory on a host; else `PathRuleError` naming the rule."""
    if not isinstance(value, str) or not value:
        raise PathRuleError("absolute-path", "must be an absolute directory such as /var/backups/db")
    if len(value) > MAX_HOST_PATH:
        raise PathRuleError("bounded-length", f"must be at most {MAX_HOST_PATH} characters, got {len(value)}")
    if not value.startswith("/"):
        raise PathRuleError("absolute-path", "must be an absolute directory such as /var/backups/db")
    if value == "/":
        raise PathRuleError("not-a-system-directory", "must not be / itself")
    normalized(value, absolute=True)
    if not all(_HOST_COMPONENT_RE.fullmatch(c) for c in value[1:].split("/")):
        raise PathRuleError("plain-characters", "must hold only letters, digits, '.', '_', '-' and '/'")
    for tree in _TEMPORARY_TREES:
        if _under(value, tree):
            raise PathRuleError("not-temporary", f"must not be in {tree}: it is emptied at boot, cleaned, or "
                                                 "private to each run of the job (PrivateTmp=), so the backups "
                                                 "would vanish")
    for tree in _HIDDEN_TREES:
        if _under(value, tree):
            raise PathRuleError("not-hidden-from-the-job", f"must not be in {tree}: the job runs with "
                                                           "ProtectHome=yes and cannot see it")
    if value in SYSTEM_DIRECTORIES or any(d.startswith(value + "/") for d in SYSTEM_DIRECTORIES):
        raise PathRuleError("not-a-system-directory", "is a system directory or holds one; the job would take "
                                                      "it over: name a directory of its own such as "
                                                      "/var/backups/db or /srv/backups/db")
    tree = _lib_tree(value) or next((t for t in _SYSTEM_TREES if _under(value, t)), None)
    if tree is not None:
        raise PathRuleError("not-in-a-system-tree", f"must not be in {tree}: it belongs to the system (and "
                                                    "ProtectSystem= keeps the job from writing there)")
    for tree in _OTHER_PROGRAMS_TREES:
        if _under(value, tree):
            raise PathRuleError("not-other-programs-data", f"must not be in {tree}: that tree holds other "
                                                           "programs' data, caches or web roots; use "
                                                           "/var/backups/<name> or a disk of its own")
    return value


def project_file(value: object) -> str:
    """`value` if it is spelled as a file of the project (relative, normalized, plain); else `PathRuleError`.

    Where it really leads (symbolic links) is `open_project_file`'s to judge."""
    if not isinstance(value, str) or not value:
        raise PathRuleError("relative-path", "must be a file path relative to the project directory")
    if len(value) > MAX_PROJECT_PATH:
        raise PathRuleError("bounded-length", f"must be at most {MAX_PROJECT_PATH} characters, got {len(value)}")
    if value.startswith("/") or value.startswith("~"):
        raise PathRuleError("relative-path", "must be relative to the project directory, not absolute")
    normalized(value, absolute=False)
    components = value.split("/")
    if any(len(c) > NAME_MAX for c in components):
        raise PathRuleError("bounded-length", f"has a component longer than {NAME_MAX} characters")
    if not all(_PROJECT_COMPONENT_RE.fullmatch(c) for c in components):
        raise PathRuleError("plain-characters", "must hold only letters, digits and . _ - + @ = , /")
    return value


def _inside(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def open_project_file(value: str, project_dir: str, max_bytes: int) -> tuple[str, bytes]:
    """(real path, content) of the project file `value`: inside the project once every symbolic link
    is followed, a regular file, at most `max_bytes` long. Never blocks: a FIFO is refused before it
    is opened, and the file is opened non-blocking and checked again on its descriptor (it may have
    been swapped in between)."""
    project_file(value)
    root = os.path.realpath(project_dir)
    real = os.path.realpath(os.path.join(root, value))
    if not _inside(real, root):
        raise PathRuleError("inside-the-project", "leads out of the project directory (through a symbolic link)")
    try:
        before = os.stat(real)
    except OSError as exc:
        raise PathRuleError("readable", f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(before.st_mode):
        raise PathRuleError("regular-file", f"must be a regular file, found {_kind(before.st_mode)}")
    if before.st_size > max_bytes:
        raise PathRuleError("bounded-size", f"is {before.st_size} bytes; a zonesFrom file may hold at most "
                                            f"{max_bytes} (split it)")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise PathRuleError("readable", f"cannot be read ({exc.strerror})") from None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise PathRuleError("regular-file", "changed while it was opened; must be a regular file")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PathRuleError("readable", f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise PathRuleError("bounded-size", f"grew past {max_bytes} bytes while it was read")
    return real, b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"
