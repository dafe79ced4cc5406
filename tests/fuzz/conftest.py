"""Shared by the fuzz tests: how many examples to try, and a tally of what became of them.

- `fuzz_examples(default)`: hypothesis `max_examples` for one field or parameter. CI runs the small
  default; `FUZZ_EXAMPLES=<n>` (e.g. from `make fuzz`) asks for n instead. A costly test scales
  it itself: `fuzz_examples(0)` is 0 when the variable is unset.
- `fuzz_tally` fixture (session scoped, so it works under `@given`): call it as
  `fuzz_tally(area, name, outcome)`, e.g. `fuzz_tally("config", "isp:hosts[0].publicAddress6",
  "refused")`; outcomes are free words ("tried" is counted implicitly for each call).
- `FUZZ_REPORT=1` prints one table at the end of the session: per (area, name), how many values
  were tried and how many had each outcome.

The tally is kept on the pytest config (not a module global), so a second import of this
module under another name cannot split the counts.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from pydantic import BaseModel

_TALLY_KEY = pytest.StashKey[dict[tuple[str, str], Counter]]()


def fuzz_examples(default: int) -> int:
    """`default` unless FUZZ_EXAMPLES asks for another count (an int >= 1)."""
    wanted = os.environ.get("FUZZ_EXAMPLES", "").strip()
    return max(1, int(wanted)) if wanted.isdigit() else default


def _tally_of(config: pytest.Config) -> dict[tuple[str, str], Counter]:
    if _TALLY_KEY not in config.stash:
        config.stash[_TALLY_KEY] = defaultdict(Counter)
    return config.stash[_TALLY_KEY]


@pytest.fixture(scope="session")
def fuzz_tally(pytestconfig: pytest.Config) -> Callable[[str, str, str], None]:
    """Count one tried value: `fuzz_tally(area, name, outcome)`."""
    tally = _tally_of(pytestconfig)

    def record(area: str, name: str, outcome: str) -> None:
        counts = tally[(area, name)]
        counts["tried"] += 1
        counts[outcome] += 1

    return record


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if os.environ.get("FUZZ_REPORT") != "1":
        return
    tally = _tally_of(config)
    if not tally:
        return
    outcomes = sorted({o for counts in tally.values() for o in counts} - {"tried"})
    header = ["area", "name", "tried", *outcomes]
    rows = [
        [area, name, str(counts["tried"]), *(str(counts[o]) for o in outcomes)]
        for (area, name), counts in sorted(tally.items())
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    terminalreporter.section("fuzz: values tried per field and renderer")
    for row in [header, *rows]:
        terminalreporter.write_line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


# ---------------------------------------------------------------------------------------
# Every file a stack would deliver, rendered in memory from its config (no Pulumi registration).


def render_stack_files(cfg, project_dir: str = ".", stack_file: str = "Pulumi.fuzz.yaml") -> dict[str, str]:
    """{component/host: path -> text} for every file of the stack, through the program's own pure
    planning step (components.stack.plan_stack). A value some renderer refuses raises ConfigError
    naming its key there; anything else it raises is a bug the fuzz reports."""
    from components.delivery import ManagedFile
    from components.stack import plan_stack

    plan = plan_stack(cfg, lambda key: f"stand-in for isp:{key}", stack="fuzz",
                      stack_file=stack_file, project_dir=project_dir)
    files: dict[str, str] = {}

    def walk(node, where: str) -> None:
        if isinstance(node, ManagedFile):
            files[f"{where}:{node.path}"] = node.content
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name), where)
            rendered = getattr(node, "rendered", None)  # the Args' files, rendered once
            if isinstance(rendered, str):  # the gateway's one file: its ruleset
                files[f"{where}:rendered"] = rendered
            elif isinstance(rendered, BaseModel):
                walk(rendered, where)
        elif isinstance(node, list | tuple):
            for child in node:
                walk(child, where)

    for planned in plan.components:
        walk(planned.args, planned.name)
    return files
