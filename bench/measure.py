"""One measurement, in a process of its own: `python -m bench.measure OUT.json -- <preflight arguments>`.

Runs `preflight` in this process exactly as `python -m preflight` would (the Pulumi runtime
keeps global state, so one run per process), with its plan going to /dev/null, and writes
what it cost as JSON:

- `seconds`: the whole `preflight preview`, from argument parsing to the exit code;
  `programSeconds`: inside `run_program` (the program under the mocks);
- `rssMb`: this process's peak resident memory (VmHWM, the kernel's high-water mark);
- `packRssMb` / `packCpuSeconds`: the same for each policy pack process, read from
  /proc/<pid>/status and /proc/<pid>/stat just before preflight terminates it. The pack is our
  child, but RUSAGE_CHILDREN cannot be used: a child forked from a large parent is charged the
  parent's pages before it execs, so it would report preflight's peak, not the pack's;
- `registered`: the number of registrations (the resources a real preview would create).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int | str, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM: peak resident set), 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (fields 14 and 15 of /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: python -m bench.measure OUT.json -- <preflight arguments>", file=sys.stderr)
        return 2
    out_path, preflight_args = Path(argv[0]), argv[2:]
    packs: list[dict[str, float]] = []
    phases: dict[str, float] = {}

    original_terminate = subprocess.Popen.terminate

    def terminate(process: subprocess.Popen) -> None:
        # preflight ends a pack with terminate(): its peak and CPU are read while it still exists.
        if process.poll() is None:
            packs.append({"rssMb": _status_kb(process.pid, "VmHWM") / 1024, "cpuSeconds": _cpu_seconds(process.pid)})
        original_terminate(process)

    subprocess.Popen.terminate = terminate  # type: ignore[method-assign]

    import preflight.runner as runner
    from preflight.cli import main as preflight_main

    original_run_program = runner.run_program
    registered: list[int] = []

    def run_program(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            run = original_run_program(*args, **kwargs)
        finally:
            phases["programSeconds"] = time.perf_counter() - started
        registered.append(len(run.registrations))
        return run

    runner.run_program = run_program
    real_stdout = sys.stdout
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            code = preflight_main(preflight_args)
        finally:
            sys.stdout = real_stdout
    seconds = time.perf_counter() - started
    result = {
        "exitCode": code,
        "seconds": seconds,
        "programSeconds": phases.get("programSeconds"),
        "registered": registered[0] if registered else None,
        "rssMb": _status_kb("self", "VmHWM") / 1024,
        "packRssMb": max((p["rssMb"] for p in packs), default=None),
        "packCpuSeconds": sum(p["cpuSeconds"] for p in packs) if packs else None,
    }
    out_path.write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
