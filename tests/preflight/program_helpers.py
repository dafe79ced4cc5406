"""Run a small Pulumi program through preflight.runner in a process of its own (the Pulumi runtime runs
one program per process) and read back what it recorded: registrations and engine messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_DUMP = """\
import dataclasses, json, sys
from pathlib import Path
from preflight.runner import ProgramError, run_program
from preflight.stackconfig import load_stack_config
try:
    run = run_program(load_stack_config(Path(sys.argv[1]), sys.argv[2]))
except ProgramError as failure:
    sys.stdout.write("\\nRUN " + json.dumps({"error": str(failure),
                                             "messages": [dataclasses.asdict(m) for m in failure.messages]}))
else:
    sys.stdout.write("\\nRUN " + json.dumps({"registrations": [dataclasses.asdict(r) for r in run.registrations],
                                             "messages": [dataclasses.asdict(m) for m in run.messages]}))
"""


def write_program(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(textwrap.dedent(content))
    return directory


def run_recorded(program: Path, stack: str = "dev", env: dict[str, str] | None = None) -> dict:
    """{"registrations": [...], "messages": [...]} of a run, or {"error": ..., "messages": [...]}."""
    result = subprocess.run([sys.executable, "-c", _DUMP, str(program), stack], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0 and "\nRUN " in result.stdout, result.stderr
    return json.loads(result.stdout.split("\nRUN ", 1)[1])
