"""Deploy the lab stack without the Pulumi CLI: its program under preflight's runner, then its commands.

`render_plan` runs the stack's program once, in a process of its own, under preflight's runner
(the same mocks `python -m preflight preview` uses), and keeps every registration. `execute`
then runs each `command:local:Command`'s `create` the way pulumi-command's provider does:
`interpreter + [create]` (default `/bin/sh -c`), the process environment plus `environment`,
`stdin` on standard input, in `dir` (default: the project directory), and in dependency order.

The order is the engine's: a resource starts after everything it depends on (`dependencies`
and `propertyDependencies`, components standing for all their descendants) and after
everything its ancestors depend on, because a child cannot register before its parent, and a
parent registers only after its own dependencies. Like `pulumi up` without
`--continue-on-error`, the first failure stops the deployment and is reported. The lab keeps
no state: every run is a create, so every create script is written to converge.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.delivery import STAGING_DIRNAME
from lab.settings import PROJECT_DIR, LabError, load_lab, parse_overrides
from lab.system import project_env
from preflight.model import SECRET_SIG, SIG_KEY, UNKNOWN

LOCAL_COMMAND = "command:local:Command"
DEFAULT_INTERPRETER = ("/bin/sh", "-c")
STEP_TIMEOUT = 120


@dataclass(frozen=True)
class Step:
    """One local command, as the provider would run it."""

    urn: str
    name: str
    parent: str | None
    create: str
    interpreter: tuple[str, ...] = DEFAULT_INTERPRETER
    environment: tuple[tuple[str, str], ...] = ()
    stdin: str | None = None
    dir: str | None = None
    after: tuple[str, ...] = ()  # urns of the steps that must finish first


@dataclass(frozen=True)
class Plan:
    stack: str
    registrations: tuple[dict[str, Any], ...]
    steps: tuple[Step, ...]

    def files_for(self, host: str | None) -> dict[str, str]:
        """Real path -> content of every file the plan delivers to `host` (local copies only)."""
        files = {}
        for step in self.steps:
            env = dict(step.environment)
            if env.get("ISP_HOST") == host and "ISP_STAGED_PATH" in env and step.stdin is not None:
                files[env["ISP_STAGED_PATH"].replace(f"/{STAGING_DIRNAME}/", "/")] = step.stdin
        return files

    def steps_under(self, component_name: str) -> list[Step]:
        """The steps of one component (e.g. the `ns1-bind` ServiceConfig), in plan order."""
        urns = {r["urn"] for r in self.registrations if r["name"] == component_name}
        if not urns:
            raise LabError(f"the plan has no component {component_name!r}")
        parents = {r["urn"]: r.get("parent") for r in self.registrations}

        def under(urn: str | None) -> bool:
            while urn:
                if urn in urns:
                    return True
                urn = parents.get(urn)
            return False

        return [s for s in self.steps if under(s.parent)]


@dataclass
class StepResult:
    name: str
    urn: str
    exit_code: int | None
    seconds: float
    stdout: str = ""
    stderr: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.error


@dataclass
class DeployResult:
    results: list[StepResult] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.not_run

    @property
    def failed(self) -> StepResult | None:
        return next((r for r in self.results if not r.ok), None)

    def failure_message(self) -> str:
        failed = self.failed
        if failed is None:
            return ""
        lines = (failed.error or failed.stderr or failed.stdout).strip().splitlines()
        return f"{failed.name} failed (exit {failed.exit_code}): {lines[-1] if lines else 'no output'}"


def _plain(value: Any) -> Any:
    """Secrets unwrapped, as the provider receives them; unknowns cannot be run."""
    while isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        value = value.get("value")
    if value == UNKNOWN:
        raise LabError("a command input is unknown at preview; the lab can only run fully known commands")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def order_steps(registrations: Sequence[dict[str, Any]]) -> list[Step]:
    """The local commands in an order the engine could run them, registration order among equals."""
    by_urn = {r["urn"]: r for r in registrations}
    children: dict[str, list[str]] = {}
    for r in registrations:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])

    def commands_of(urn: str) -> set[str]:
        """A command stands for itself; a component for every command below it."""
        found: set[str] = set()
        stack = [urn]
        while stack:
            current = stack.pop()
            registration = by_urn.get(current)
            if registration is None:
                continue
            if registration["type"] == LOCAL_COMMAND:
                found.add(current)
            stack += children.get(current, [])
        return found

    def direct(r: dict[str, Any]) -> set[str]:
        urns = set(r.get("dependencies") or [])
        for deps in (r.get("property_dependencies") or {}).values():
            urns |= set(deps)
        return urns

    steps: dict[str, Step] = {}
    for r in registrations:
        if r["type"] != LOCAL_COMMAND:
            continue
        inputs = _plain(r.get("inputs") or {})
        create = inputs.get("create")
        if not isinstance(create, str) or not create:
            continue  # a command without create does nothing at create time
        wanted = set(direct(r))
        ancestor = r.get("parent")
        while ancestor:
            wanted |= direct(by_urn.get(ancestor, {}))
            ancestor = by_urn.get(ancestor, {}).get("parent")
        after = set().union(*(commands_of(u) for u in wanted)) if wanted else set()
        after.discard(r["urn"])
        steps[r["urn"]] = Step(
            urn=r["urn"],
            name=r["name"],
            parent=r.get("parent"),
            create=create,
            interpreter=tuple(inputs.get("interpreter") or DEFAULT_INTERPRETER),
            environment=tuple(sorted((inputs.get("environment") or {}).items())),
            stdin=inputs.get("stdin"),
            dir=inputs.get("dir"),
            after=tuple(sorted(after)),
        )
    index = {urn: i for i, urn in enumerate(r["urn"] for r in registrations)}
    ordered: list[Step] = []
    done: set[str] = set()
    pending = sorted(steps, key=index.__getitem__)
    while pending:
        ready = [u for u in pending if all(a in done or a not in steps for a in steps[u].after)]
        if not ready:
            raise LabError(f"the commands' dependencies form a cycle among {[steps[u].name for u in pending]}")
        first = ready[0]
        ordered.append(steps[first])
        done.add(first)
        pending.remove(first)
    return ordered


LAB_INPUTS_FILE = "lab-inputs.json"


def plan_from_registrations(stack: str, registrations: Sequence[dict[str, Any]]) -> Plan:
    return Plan(stack=stack, registrations=tuple(registrations), steps=tuple(order_steps(registrations)))


def render_plan(stack: str, overrides: Sequence[str] = (), out: Path | None = None,
                project_dir: Path = PROJECT_DIR) -> Plan:
    """Run the stack's program (in its own process: the Pulumi runtime is one program per process)."""
    out = out or project_dir / "build" / stack / "plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    own_overrides, secret_files = lab_inputs(stack, overrides, project_dir)
    # What the lab itself handed the program (certificates, the DKIM public key; never a secret): the audit
    # reads it (`--set-file`) to know what the running lab should publish.
    (out.parent / LAB_INPUTS_FILE).write_text(json.dumps(parse_overrides(own_overrides), indent=1) + "\n")
    argv = [sys.executable, "-m", "lab.deploy", "--stack", stack, "--out", str(out)]
    for pair in [*own_overrides, *overrides]:  # the caller's --set last: it may replace the lab's own
        argv += ["--set", pair]
    for key, path in secret_files.items():
        argv += ["--secret-file", f"{key}={path}"]  # the path, never the secret, is in the argv
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=project_dir,
                            env={**os.environ, **project_env()})
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise LabError("the stack's program failed: " + " | ".join(detail))
    document = json.loads(out.read_text())
    return plan_from_registrations(document["stack"], document["registrations"])


def lab_inputs(stack: str, overrides: Sequence[str] = (),
               project_dir: Path = PROJECT_DIR) -> tuple[list[str], dict[str, Path]]:
    """What the lab hands the program besides its stack file: a provided webmail certificate
    issued by the lab's CA (`--set`) and its key (a secret file), the DKIM key and the MTA-STS
    certificate (lab/mailauth_setup.py), as a user would configure them."""
    cfg = load_lab(stack, parse_overrides(overrides), project_dir).cfg
    from lab.mailauth_setup import mail_auth_inputs
    from lab.pki import ensure_webmail_pki

    pairs: list[str] = []
    secret_files: dict[str, Path] = {}
    if cfg.hosts_with("webmail") and cfg.webmail.certificate.source == "provided":
        pairs, secret_files = ensure_webmail_pki(cfg.webmail_fqdn).overrides()
    mail_pairs, mail_secrets = mail_auth_inputs(cfg)  # DKIM key, MTA-STS certificate (lab/mailauth_setup.py)
    return [*pairs, *mail_pairs], {**secret_files, **mail_secrets}


def execute(steps: Iterable[Step], *, cwd: Path = PROJECT_DIR, timeout: float = STEP_TIMEOUT,
            echo: Callable[[str], None] = print) -> DeployResult:
    """Run each step's create; stop at the first failure (what is left is reported as not run)."""
    steps = list(steps)
    outcome = DeployResult()
    for position, step in enumerate(steps):
        started = time.monotonic()
        argv = [*step.interpreter, step.create]
        env = {**os.environ, **dict(step.environment)}
        try:
            completed = subprocess.run(argv, input=step.stdin if step.stdin is not None else "", capture_output=True,
                                       text=True, timeout=timeout, env=env, cwd=step.dir or cwd)
            result = StepResult(step.name, step.urn, completed.returncode, time.monotonic() - started,
                                completed.stdout, completed.stderr)
        except subprocess.TimeoutExpired:
            result = StepResult(step.name, step.urn, None, time.monotonic() - started,
                                error=f"did not finish within {timeout:g} s")
        except OSError as error:
            result = StepResult(step.name, step.urn, None, time.monotonic() - started, error=str(error))
        outcome.results.append(result)
        mark = "ok" if result.ok else "FAILED"
        echo(f"  {mark:>6}  {step.name} ({result.seconds:.1f} s)")
        if not result.ok:
            for line in (result.error or result.stderr or result.stdout).strip().splitlines()[-6:]:
                echo(f"          | {line}")
            outcome.not_run = [s.name for s in steps[position + 1:]]
            break
    return outcome


def _main(argv: Sequence[str] | None = None) -> int:
    """`python -m lab.deploy --stack lab --out F [--set K=JSON]`: run the program, write its registrations."""
    parser = argparse.ArgumentParser(prog="python -m lab.deploy")
    parser.add_argument("--stack", default="lab")
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--secret-file", action="append", default=[], dest="secret_files", metavar="NS:KEY=PATH",
                        help="a secret config value read from PATH (as `pulumi config set --secret KEY < PATH`)")
    args = parser.parse_args(argv)
    from preflight.runner import ProgramError, run_program

    out = Path(args.out).resolve()
    try:
        secrets = {}
        for pair in args.secret_files:
            key, _, path = pair.partition("=")
            secrets[key] = Path(path).read_text()
        stack = load_lab(args.stack, parse_overrides(args.overrides), secrets=secrets)
        run = run_program(stack.program)
    except (LabError, ProgramError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    registrations = [dataclasses.asdict(r) for r in run.registrations]
    # The plan holds the secret inputs the commands need (the provider gets them too): owner-only.
    out.unlink(missing_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps({"stack": run.stack, "registrations": registrations}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
