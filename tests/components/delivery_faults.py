"""A throwaway host for the install script: files with an old and a new version under a temp root,
staged through the real staging and local-copy commands, tools that fail or kill the script on their
Nth call (a PATH shim), and the all-or-nothing assertions.

ManagedFile paths are absolute, so the host's "/etc" is `<tmp>/etc`; its state directory (lock,
journal, backups) is `<tmp>/state`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from components.delivery import WRITE_STAGED, ManagedFile, install_script, staging_path, staging_script

NOBODY = 65534


@dataclass(frozen=True)
class Version:
    """What a path holds: its bytes, mode and owner (None: absent)."""

    data: bytes
    mode: int
    uid: int
    gid: int


def version_of(path: Path) -> Version | None:
    if not path.exists():
        return None
    info = path.lstat()
    return Version(path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


@dataclass
class Host:
    """Three files of one service: a.conf and zones/b.zone exist (old), private/c.key is new (a secret)."""

    root: Path
    files: list[ManagedFile] = field(default_factory=list)
    old: dict[str, Version | None] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def log(self) -> Path:
        """Each reload appends the a.conf it sees: the last line says which configuration is loaded."""
        return self.root / "reloads.log"

    @property
    def a(self) -> ManagedFile:
        return self.files[0]

    @classmethod
    def make(cls, root: Path) -> Host:
        etc = root / "etc" / "svc"
        host = cls(root, [
            ManagedFile(str(etc / "a.conf"), "a new\n", mode="0644"),
            ManagedFile(str(etc / "zones" / "b.zone"), "b new\n", mode="0644"),
            ManagedFile(str(etc / "private" / "c.key"), "c secret\n", mode="0600"),
        ])
        for directory in (etc / "zones", etc / "private"):
            directory.mkdir(parents=True, exist_ok=True)
        (etc / "a.conf").write_text("a old\n")
        os.chmod(etc / "a.conf", 0o640)
        (etc / "zones" / "b.zone").write_text("b old\n")
        if os.geteuid() == 0:  # a put-back must keep the owner too
            os.chown(etc / "a.conf", NOBODY, NOBODY)
        host.old = host.snapshot()
        return host

    # -- the steps before the install script: the staging command, then one local copy per file ----------

    def stage(self, files: list[ManagedFile] | None = None) -> None:
        files = self.files if files is None else files
        dirs = sorted({os.path.dirname(staging_path(f.path)) for f in files})
        prepared = subprocess.run(["sh", "-c", staging_script(dirs)], capture_output=True, text=True, timeout=30)
        assert prepared.returncode == 0, prepared.stderr
        for managed in files:
            copied = subprocess.run(["sh", "-c", WRITE_STAGED], input=managed.content, capture_output=True, text=True,
                                    timeout=30, env={**os.environ, "ISP_STAGED_PATH": staging_path(managed.path)})
            assert copied.returncode == 0, copied.stderr

    def checks(self) -> list[list[str]]:
        """One check per staged file, as a daemon's checker would read it."""
        return [["grep", "-q", "new", staging_path(self.files[0].path)],
                ["test", "-s", staging_path(self.files[1].path)],
                ["grep", "-q", "secret", staging_path(self.files[2].path)]]

    def reload(self) -> list[list[str]]:
        return [["sh", "-c", 'cat "$1" >> "$2"', "reload", self.a.path, str(self.log)],
                ["sh", "-c", 'echo reloaded >> "$1"', "reload-2", str(self.log)]]

    def script(self, checks: list[list[str]] | None = None, reload: list[list[str]] | None = None,
               files: list[ManagedFile] | None = None, **options) -> str:
        options = {"state_dir": str(self.state), "lock_wait": 5, **options}
        return install_script(self.files if files is None else files, self.checks() if checks is None else checks,
                              self.reload() if reload is None else reload, **options)

    def run(self, script: str, *, shell: str = "sh", env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([shell, "-c", script], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=self.root)

    # -- faults ---------------------------------------------------------------------------------------

    def fault(self, tool: str, match: str, nth: int, action: str) -> dict[str, str]:
        """The environment that makes `tool` misbehave on its `nth` call whose arguments contain `match`:
        fail (exit 1, nothing done), term (SIGTERM to the script, then do it), term-fail (SIGTERM, nothing
        done), kill (SIGKILL to the script, nothing done), kill-after (do it, then SIGKILL). Faults of
        several tools combine (`{**a, **b}`)."""
        shims = self.root / "shims"
        shims.mkdir(exist_ok=True)
        real = shutil.which(tool)
        assert real, tool
        var = f"ISP_FAULT_{tool.upper()}"
        shim = shims / tool
        shim.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            case " $* " in
              *"${var}_MATCH"*)
                n=$(( $(cat "${var}_COUNT" 2>/dev/null || echo 0) + 1 ))
                echo "$n" > "${var}_COUNT"
                if [ "$n" -eq "${var}_NTH" ]; then
                  echo "injected ${var}_ACTION: {tool} $*" >&2
                  case ${var}_ACTION in
                    fail) exit 1 ;;
                    term) kill -TERM "$PPID" ;;
                    term-fail) kill -TERM "$PPID"; exit 1 ;;
                    kill) kill -KILL "$PPID"; exit 1 ;;
                    kill-after) {real} "$@"; kill -KILL "$PPID"; exit 0 ;;
                  esac
                fi ;;
            esac
            exec {real} "$@"
            """))
        shim.chmod(0o755)
        return {"PATH": f"{shims}:{os.environ['PATH']}", f"{var}_MATCH": match, f"{var}_NTH": str(nth),
                f"{var}_ACTION": action, f"{var}_COUNT": str(self.root / f"count-{tool}")}

    def calls(self, tool: str) -> int:
        counter = self.root / f"count-{tool}"
        return int(counter.read_text()) if counter.exists() else 0

    # -- what the host holds -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Version | None]:
        return {f.path: version_of(Path(f.path)) for f in self.files}

    def new_version(self, managed: ManagedFile) -> tuple[bytes, int]:
        return managed.content.encode(), int(managed.mode, 8)

    def is_new(self, managed: ManagedFile, now: Version | None) -> bool:
        return now is not None and (now.data, now.mode) == self.new_version(managed)

    def assert_all_old(self) -> None:
        assert self.snapshot() == self.old, "expected every file as it was before the delivery"

    def assert_all_new(self) -> None:
        now = self.snapshot()
        assert all(self.is_new(f, now[f.path]) for f in self.files), now

    def assert_each_old_or_new(self) -> None:
        now = self.snapshot()
        for managed in self.files:
            assert now[managed.path] == self.old[managed.path] or self.is_new(managed, now[managed.path]), (
                managed.path, now[managed.path])

    def staged_all_there(self) -> bool:
        """Every staged copy holds the new content (what a retry of the same delivery needs)."""
        return all(Path(staging_path(f.path)).is_file() and Path(staging_path(f.path)).read_text() == f.content
                   for f in self.files)

    def reloaded(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def backups(self, managed: ManagedFile) -> list[Path]:
        directory = self.state / "backup" / managed.path.lstrip("/")
        return sorted(directory.iterdir()) if directory.is_dir() else []
