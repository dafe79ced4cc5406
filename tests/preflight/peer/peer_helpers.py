"""pulumi-policy's own integration tests, run through `python -m preflight preview`.

Upstream (pulumi/pulumi-policy@805bcbc tests/integration): each test is a directory holding a program,
a Node pack and a Python pack (`policy-pack-python/`), and a Go function in integration_test.go listing
its scenarios. `runPolicyPackIntegrationTest` (integration_test.go:62-291) copies the directory, sets
PULUMI_TEST_PROJECT and PULUMI_TEST_STACK (94-97), puts a `testcomponent/` directory on PATH (99-109),
creates the stack `<dir>-<n>` with the test's initial config (85, 192-195), then per scenario sets the
stack config `scenario` to its 1-based number (222), writes its PolicyPackConfig (if any) to a file
passed as `--policy-pack-config` (229-248), runs `pulumi up --yes --policy-pack <pack>` and looks for
each WantErrors string in stdout or in stderr (255-273).

Here each scenario is one preflight run over a fresh copy of the transcribed program
(`<test>/program/`, TypeScript rewritten in Python) and of the upstream Python pack
(`<test>/policy-pack-python/`). How the upstream expectations map:
- Policies run at the preview `pulumi up` starts with; a preview is what preflight runs.
- Exit code: no WantErrors, or `Advisory: true`: the Go test runs `e.RunCommand`, which requires
  success: exit 0. Otherwise `e.RunCommandExpectError`: the CLI fails. Preflight then exits 1 for a
  mandatory policy violation and 2 where the CLI fails on an error (a rejected policy config: the CLI
  exits 1 there too; preflight keeps 1 for verdicts only, as preflight/cli.py documents).
- Type tokens: a Python dynamic resource registers as `pulumi-python:dynamic:Resource` under the
  default provider `pulumi:providers:pulumi-python`, where upstream's TypeScript programs register
  `pulumi-nodejs:dynamic:Resource` under `pulumi:providers:pulumi-nodejs`. The packs (which compare
  those tokens) and the WantErrors (which print them) are adapted by that substitution only
  (`for_python_program`), applied when the pack is copied for a run; the files here stay verbatim.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from preflight.cli import EXIT_ERROR, EXIT_MANDATORY, EXIT_OK

PEER_DIR = Path(__file__).resolve().parent
REPO = PEER_DIR.parents[2]
# `pulumi-resource-testcomponent`: upstream's Go test component provider, transcribed to Python.
TESTCOMPONENT_DIR = REPO / "tests" / "preflight" / "remote_fixtures" / "testcomponent"

# The Node SDK's dynamic provider tokens, and the Python SDK's (pulumi/dynamic/dynamic.py, Resource).
NODE_TO_PYTHON_TOKENS = {
    "pulumi-nodejs:dynamic:Resource": "pulumi-python:dynamic:Resource",
    "pulumi:providers:pulumi-nodejs": "pulumi:providers:pulumi-python",
}

# A CLI display line for one violation: `[mandatory]  policy-name  (type: name)` (progress.go).
_VIOLATION_LINE = re.compile(r"^\[(advisory|mandatory)\]  (\S+)")

RUN_TIMEOUT_SECONDS = 120


def for_python_program(text: str) -> str:
    """`text` as it reads against a Python program: the Node dynamic provider's tokens swapped."""
    for node, python in NODE_TO_PYTHON_TOKENS.items():
        text = text.replace(node, python)
    return text


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One upstream scenario: its test directory, 1-based number and where integration_test.go has it."""

    test: str
    number: int
    lines: str  # integration_test.go line numbers of this scenario
    want_errors: tuple[str, ...] = ()
    advisory: bool = False
    policy_pack_config: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)
    initial_config: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    cli_error: bool = False  # the CLI fails with an error, not a violation: preflight's exit 2

    def __str__(self) -> str:
        return f"{self.test}-scenario_{self.number}"

    @property
    def stack(self) -> str:
        return f"{self.test}-{self.number}"

    @property
    def expected_exit(self) -> int:
        if not self.want_errors or self.advisory:
            return EXIT_OK
        return EXIT_ERROR if self.cli_error else EXIT_MANDATORY

    @property
    def expected_output(self) -> list[str]:
        return [for_python_program(want) for want in self.want_errors]

    @property
    def expected_violations(self) -> set[tuple[str, str]]:
        """(policy, level) of each violation line of WantErrors."""
        found = (_VIOLATION_LINE.match(want) for want in self.want_errors)
        return {(match.group(2), match.group(1)) for match in found if match}


def scenarios(test: str, specs: Iterable[tuple[str, dict[str, Any]]],
              initial_config: Mapping[str, Any] | None = None) -> list[Scenario]:
    """Scenarios numbered 1.. in upstream order from (integration_test.go lines, fields) pairs."""
    return [Scenario(test=test, number=number, lines=lines, initial_config=initial_config or {}, **fields)
            for number, (lines, fields) in enumerate(specs, start=1)]


@dataclasses.dataclass
class PeerRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    document: dict[str, Any]

    def describe(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout[-6000:]}"
                f"\n--- stderr\n{self.stderr[-6000:]}")


def _stack_file(scenario: Scenario, project: str) -> str:
    """Pulumi.<stack>.yaml as `pulumi config set` leaves it: values are strings, bare keys namespaced."""
    config = {key if ":" in key else f"{project}:{key}": value for key, value in scenario.initial_config.items()}
    config[f"{project}:scenario"] = str(scenario.number)
    return yaml.safe_dump({"config": config}, sort_keys=False)


def _copy_pack(test: str, destination: Path) -> Path:
    shutil.copytree(PEER_DIR / test / "policy-pack-python", destination,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for source in destination.rglob("*.py"):
        source.write_text(for_python_program(source.read_text()))
    return destination


def run_scenario(scenario: Scenario, workdir: Path, base_environment: dict[str, str]) -> PeerRun:
    """One `pulumi up --policy-pack` of integration_test.go, as a preflight preview of a fresh copy.

    `base_environment` is taken in the main thread: pytest sets and deletes PYTEST_CURRENT_TEST
    there while this runs in a worker thread, and copying os.environ meanwhile can fail."""
    root = workdir / str(scenario)
    program = root / "program"
    shutil.copytree(PEER_DIR / scenario.test / "program", program, ignore=shutil.ignore_patterns("__pycache__"))
    project = yaml.safe_load((program / "Pulumi.yaml").read_text())["name"]
    (program / f"Pulumi.{scenario.stack}.yaml").write_text(_stack_file(scenario, project))
    pack = _copy_pack(scenario.test, root / "policy-pack-python")
    out = root / "preview.json"
    argv = [sys.executable, "-m", "preflight", "preview", "--cwd", str(program), "--stack", scenario.stack,
            "--policy-pack", str(pack), "--json", str(out), "--build-dir", str(root / "build")]
    if scenario.policy_pack_config:
        config_file = root / "config" / f"scenario_{scenario.number}" / "policy-config.json"
        config_file.parent.mkdir(parents=True)
        config_file.write_text(json.dumps(scenario.policy_pack_config, indent=4))
        argv += ["--policy-pack-config", str(config_file)]
    environment = dict(base_environment, PULUMI_TEST_PROJECT=scenario.test, PULUMI_TEST_STACK=scenario.stack)
    if scenario.test == "remote_component":  # integration_test.go:99-109: the component's provider on PATH
        environment["PATH"] = os.pathsep.join([environment.get("PATH", ""), str(TESTCOMPONENT_DIR)])
    result = subprocess.run(argv, cwd=REPO, env=environment, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_SECONDS)
    document = json.loads(out.read_text()) if out.exists() else {}
    return PeerRun(argv=argv, returncode=result.returncode, stdout=result.stdout, stderr=result.stderr,
                   document=document)


class PeerRuns:
    """Every selected scenario's run, started at once (each is mostly a wait on its pack process)."""

    def __init__(self, workdir: Path, selected: Iterable[Scenario], workers: int):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        self._workdir = workdir
        self._environment = {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}
        self._futures: dict[str, concurrent.futures.Future[PeerRun]] = {}
        for scenario in selected:
            self._submit(scenario)

    def _submit(self, scenario: Scenario) -> concurrent.futures.Future[PeerRun]:
        if str(scenario) not in self._futures:
            self._futures[str(scenario)] = self._pool.submit(run_scenario, scenario, self._workdir, self._environment)
        return self._futures[str(scenario)]

    def result(self, scenario: Scenario) -> PeerRun:
        return self._submit(scenario).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def assert_as_upstream(run: PeerRun, scenario: Scenario) -> None:
    """What integration_test.go asserts for `scenario`, plus the violations in --json."""
    problems = []
    if run.returncode != scenario.expected_exit:
        problems.append(f"exit {run.returncode}, expected {scenario.expected_exit}")
    # integration_test.go:266-273: each string in stdout or in stderr.
    problems += [f"missing from the output: {want!r}" for want in scenario.expected_output
                 if want not in run.stdout and want not in run.stderr]
    reported = {(v.get("policy"), v.get("enforcementLevel")) for v in run.document.get("violations", [])}
    problems += [f"missing from --json violations: {policy} ({level})"
                 for policy, level in sorted(scenario.expected_violations - reported)]
    assert not problems, f"{scenario} (integration_test.go:{scenario.lines}):\n" + "\n".join(problems) + \
        "\n" + run.describe()
