"""Running commands on this machine and inside the lab's namespaces, always with a time limit."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lab.settings import PROJECT_DIR, LabError

BUILD_DIR = PROJECT_DIR / "build" / "lab"
DEFAULT_TIMEOUT = 60
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(argv: Sequence[str], *, input_text: str | None = None, timeout: float = DEFAULT_TIMEOUT,
        check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `argv` (never through a shell of ours); `check` turns a failure into a LabError naming it."""
    environment = {**os.environ, "PATH": f"{SBIN_PATH}:{os.environ.get('PATH', '')}", **(env or {})}
    try:
        result = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=timeout,
                                env=environment, stdin=None if input_text is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv[:6])} ... did not finish within {timeout:g} s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise LabError(f"{' '.join(argv[:8])} failed (exit {result.returncode}): {' | '.join(detail)}")
    return result


def ns_argv(namespace: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


def python_in(namespace: str, module: str, *args: str) -> list[str]:
    """This interpreter (the project venv) running `module` inside `namespace`."""
    return ns_argv(namespace, [sys.executable, "-m", module, *args])


def start_detached(argv: Sequence[str], *, log: Path, what: str, env: dict[str, str] | None = None,
                   cwd: Path = PROJECT_DIR, ready_timeout: float = 15) -> int:
    """Start a long-running process in a session of its own; it says `ready` on stdout when it is.

    Its stderr goes to `log`; returns its pid (which stays its pid: every launcher on the way execs).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as errors:
        process = subprocess.Popen(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=errors, start_new_session=True)
    ready, _, _ = select.select([process.stdout], [], [], ready_timeout)
    line = process.stdout.readline().decode(errors="replace").strip() if ready else ""
    process.stdout.close()
    if line != "ready":
        process.kill()
        process.wait(timeout=10)
        raise LabError(f"{what} did not start; see {log.relative_to(PROJECT_DIR)}")
    return process.pid


def project_env() -> dict[str, str]:
    return {"PYTHONPATH": str(PROJECT_DIR), "PYTHONDONTWRITEBYTECODE": "1"}


def wait_for(check: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "") -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except (OSError, LabError):
            pass
        if time.monotonic() >= deadline:
            if what:
                raise LabError(f"{what} (waited {timeout:g} s)")
            return False
        time.sleep(interval)


def require_root_and_tools(tools: Sequence[str]) -> None:
    """Why the lab cannot run here, in one sentence, or nothing."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root: it creates network namespaces and runs daemons (sudo make lab)")
    missing = [t for t in tools if shutil.which(t, path=SBIN_PATH) is None]
    if missing:
        raise LabError(f"missing tools {missing}; make deps installs the Debian packages the lab needs")
    if not Path("/proc/self/ns/net").exists():
        raise LabError("this kernel has no network namespaces (/proc/self/ns/net is missing)")
