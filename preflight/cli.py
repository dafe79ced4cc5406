"""`python -m preflight preview`: an offline `pulumi preview` (and `--policy-pack`) for Pulumi Python programs.

Exit codes: 0 clean (or advisory violations only), 1 a verdict: a mandatory policy violation, or (with
--state) the mass-change guard refusing a plan that deletes or replaces too many DNS records and zone
files; 2 an error: a program, config, checkpoint or policy pack error, a protected resource the plan
would delete or replace (the engine fails such a preview), and any failure of preflight itself (1 never
means anything but a verdict). This differs from the CLI on purpose: `pulumi preview` exits 1 for a
mandatory violation and equally for a failed program or a crashed pack (pulumi/pulumi
pkg/cmd/pulumi/cmd/exit_codes.go, ExitCodeFor falls back to ExitCodeError = 1; ExitPolicyViolation = 5
is defined but not wired), so a CI job cannot tell "the policies refuse this change" from "the preview
never ran" without reading the log. With 2 for errors it can: retry or page on 2, ask for a fix on 1.

Policy results are printed twice on stdout: first the CLI's own `Policies:` block (reports.policies_block,
as pkg/backend/display/progress.go prints it: `pack@vX`, `- [mandatory]  policy  (type: name)` and the
message), so a log reads the same with or without the CLI, then preflight's summary grouped by policy.

With `--state FILE` (what `pulumi stack export` writes) the preview is one against the deployed stack:
each resource is created, updated, replaced, deleted or the same (preflight/prior.py). `--state-out FILE`
saves the checkpoint an `up` of the previewed plan would leave, only when the preview exits 0.

Results are never stale: a run first removes the previous ones (`<build-dir>/<stack>/hosts`, the
--json, --sarif, --junit and --state-out files), writes each new one beside its place and renames it
in, and publishes host files, SARIF, JUnit and the checkpoint only when the preview succeeds. After
exit 2 the --json file, if asked for, holds the error and no other result remains.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_MANDATORY = 1
EXIT_ERROR = 2
_REEXEC_MARKER = "PREFLIGHT_PROJECT_PYTHON"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preflight",
        description="Offline `pulumi preview` for Pulumi Python programs: runs the program under Pulumi's "
                    "mocks as a first preview would, and optionally drives CrossGuard policy packs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser("preview", help="preview one stack of a project")
    preview.add_argument("--stack", "-s", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    preview.add_argument("--cwd", "-C", default=".", help="project directory holding Pulumi.yaml (default: .)")
    preview.add_argument("--json", dest="json_file", help="write the preview (and policy results) as JSON here")
    preview.add_argument("--policy-pack", action="append", default=[], dest="policy_packs", metavar="DIR",
                         help="run this policy pack against the preview (repeatable)")
    preview.add_argument("--policy-pack-config", dest="policy_pack_config", metavar="FILE",
                         help="policy pack config file, as `pulumi preview --policy-pack-config`")
    preview.add_argument("--sarif", dest="sarif_file", metavar="FILE", help="write policy results as SARIF")
    preview.add_argument("--junit", dest="junit_file", metavar="FILE", help="write policy results as JUnit XML")
    preview.add_argument("--build-dir", dest="build_dir", metavar="DIR",
                         help="where host files go: <build-dir>/<stack>/hosts (default: <project>/build)")
    preview.add_argument("--invoke-results", dest="invoke_results", metavar="FILE",
                         help="JSON object mapping an invoke token (e.g. cloudflare:index/getZone:getZone) to the "
                              "result the mocks return for it; every other invoke returns {}")
    preview.add_argument("--state", dest="state_file", metavar="FILE",
                         help="preview against the deployed stack: the file `pulumi stack export --file` writes")
    preview.add_argument("--state-out", dest="state_out", metavar="FILE",
                         help="write the checkpoint an `up` of this plan would leave (for preflight's next --state; "
                              "not for `pulumi stack import`)")
    preview.add_argument("--allow-mass-change", dest="allow_mass_change", action="store_true",
                         help="do not refuse a plan that deletes or replaces more DNS records or zone files than "
                              "the stack's threshold (preflight:massChangePercent, preflight:massChangeMinimum)")
    return parser


class _MaskingStream:
    """Wraps stdout/stderr while the program runs so secret placeholders it prints come out as [secret]."""

    def __init__(self, stream: TextIO, placeholders: list[str]):
        self._stream = stream
        self._placeholders = placeholders

    def write(self, text: str) -> int:
        from preflight.plan import mask

        return self._stream.write(mask(text, self._placeholders))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# Every error said, for the --json document of a run that failed before the program ran.
_ERRORS: list[str] = []


def _error(message: str) -> None:
    from preflight.stackconfig import scrub

    _ERRORS.append(scrub(message))
    print(f"error: {_ERRORS[-1]}", file=sys.stderr)


def _absolute(path: str | None) -> Path | None:
    return Path(path).resolve() if path else None


def _project_python(stack_config: Any) -> Path | None:
    """The project's own virtualenv interpreter (Pulumi.yaml runtime options), when it is not this one."""
    if os.environ.get(_REEXEC_MARKER):
        return None
    options = stack_config.runtime_options
    venv = options.get("virtualenv") or (".venv" if options.get("toolchain") == "uv" else None)
    if not venv:
        return None
    venv_dir = (stack_config.project_dir / str(venv)).resolve()
    python = venv_dir / "bin" / "python"
    if venv_dir == Path(sys.prefix).resolve():
        return None
    if not python.exists():
        stack_config.warnings.append(
            f"the project's virtualenv {venv} does not exist; running the program with {sys.executable}")
        return None
    return python


def _run_in_project_python(python: Path, argv: list[str]) -> int:
    """Run preflight again with the project's interpreter, so the program meets its own packages."""
    environment = dict(os.environ)
    preflight_root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [preflight_root, environment.get("PYTHONPATH")]))
    environment[_REEXEC_MARKER] = "1"
    code = subprocess.call([str(python), "-m", "preflight", *argv], env=environment)
    return code if code in (EXIT_OK, EXIT_MANDATORY, EXIT_ERROR) else EXIT_ERROR  # killed: an error, not a verdict


def _write_json(path: Path | None, document: dict[str, Any]) -> None:
    if path is not None:
        from preflight.reports import write_atomically

        write_atomically(path, (json.dumps(document, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def _remove(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@dataclasses.dataclass
class _Results:
    """Where this run's results go; none of the previous run's may outlive a failure."""

    hosts: Path  # <build-dir>/<stack>/hosts
    json: Path | None
    sarif: Path | None
    junit: Path | None
    state_out: Path | None = None
    staging: Path | None = None  # host files of this run until the preview has succeeded

    def discard(self) -> None:
        for path in (self.hosts, self.sarif, self.junit, self.state_out, self.staging):
            _remove(path)
        self.staging = None

    def discard_previous(self) -> None:
        for path in (self.hosts, self.json, self.sarif, self.junit, self.state_out):
            _remove(path)

    def stage_host_files(self, registrations: list[Any], program_dir: Path, stack: str) -> Any:
        """Write host files beside their place; the HostFiles returned name where they will be."""
        from preflight.hostfiles import HostFiles, write_host_files

        self.hosts.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=".preflight-", dir=self.hosts.parent))
        staged = write_host_files(registrations, program_dir=program_dir, build_dir=self.staging, stack=stack)
        final = [dataclasses.replace(f, local_path=self.hosts / f.local_path.relative_to(staged.hosts_dir))
                 for f in staged.written]
        return HostFiles(hosts_dir=self.hosts, written=final, notes=staged.notes), staged.hosts_dir

    def publish_host_files(self, staged_hosts: Path) -> None:
        _remove(self.hosts)
        os.replace(staged_hosts, self.hosts)
        _remove(self.staging)
        self.staging = None


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one == other or (one.exists() and other.exists() and os.path.samefile(one, other))
    except OSError:
        return False


def preview(args: argparse.Namespace, argv: list[str]) -> int:
    from preflight.stackconfig import StackConfigError, check_stack_name

    try:
        check_stack_name(args.stack)  # before any path holding it is touched
    except StackConfigError as problem:
        _error(str(problem))
        return EXIT_ERROR
    # The program runs in its own directory: resolve every path the user gave before that.
    project_dir = Path(args.cwd).resolve()
    build_dir = _absolute(args.build_dir) or project_dir / "build"
    results = _Results(hosts=build_dir / args.stack / "hosts", json=_absolute(args.json_file),
                       sarif=_absolute(args.sarif_file), junit=_absolute(args.junit_file),
                       state_out=_absolute(args.state_out))
    for option, path in (("--json", results.json), ("--sarif", results.sarif), ("--junit", results.junit),
                         ("--state-out", results.state_out)):
        if path is not None and path.is_dir() and not path.is_symlink():
            _error(f"{option} {path} is a directory; give the name of a file to write.")
            return EXIT_ERROR
    state = _absolute(args.state_file)
    if state is not None and results.state_out is not None and _same_file(state, results.state_out):
        # A run removes its previous results first: the checkpoint it reads would be gone.
        _error(f"--state-out {results.state_out} is the --state file; write the new checkpoint elsewhere and move "
               "it in place after the run.")
        return EXIT_ERROR
    # An interrupted or failed run must not leave the previous run's results looking current.
    results.discard_previous()
    try:
        code = _preview(args, argv, project_dir, results)
    except Exception as failure:  # noqa: BLE001 - preflight's own failure is an error (2), never a traceback
        if os.environ.get("PREFLIGHT_DEBUG") == "1":
            traceback.print_exception(failure)
        code = EXIT_ERROR
        _error(f"preflight failed: {type(failure).__name__}: {failure} (PREFLIGHT_DEBUG=1 prints the traceback)")
    if code == EXIT_ERROR:
        results.discard()
        if results.json is not None and not results.json.exists():
            from preflight.plan import preview_document

            _write_json(results.json, preview_document([], project="", stack=args.stack,
                                                       error="\n".join(_ERRORS) or "the preview failed"))
    return code


@dataclasses.dataclass
class _Against:
    """What a preview against the deployed stack (--state) needs beyond a first preview."""

    checkpoint: Any = None  # state.Checkpoint; None: a first preview
    state: Path | None = None
    invoke_results: Path | None = None
    allow_mass_change: bool = False


def _preview(args: argparse.Namespace, argv: list[str], project_dir: Path, results: _Results) -> int:
    from preflight.stackconfig import StackConfigError, load_stack_config

    pack_dirs = [Path(p).resolve() for p in args.policy_packs]
    pack_config = _absolute(args.policy_pack_config)
    if (results.sarif or results.junit) and not pack_dirs:
        _error("--sarif and --junit report policy results; give at least one --policy-pack.")
        return EXIT_ERROR
    against = _Against(state=_absolute(args.state_file), invoke_results=_absolute(args.invoke_results),
                       allow_mass_change=args.allow_mass_change)
    invoke_results = _read_invoke_results(against.invoke_results)
    if invoke_results is None:
        return EXIT_ERROR

    try:
        stack_config = load_stack_config(project_dir, args.stack)
    except StackConfigError as problem:
        _error(str(problem))
        return EXIT_ERROR
    from preflight import guard

    try:
        guard.thresholds(stack_config.config)  # a threshold that is not usable fails before anything runs
    except guard.GuardConfigError as problem:
        _error(f"Pulumi.{stack_config.stack}.yaml: {problem}")
        return EXIT_ERROR

    project_python = _project_python(stack_config)
    if project_python is not None:
        return _run_in_project_python(project_python, argv)

    if against.state is not None:
        from preflight.state import StateError, read_checkpoint

        try:
            against.checkpoint = read_checkpoint(against.state, project=stack_config.project,
                                                 stack=stack_config.stack)
        except StateError as problem:
            _error(str(problem))
            return EXIT_ERROR
        stack_config.warnings.extend(against.checkpoint.warnings)
        for warning in against.checkpoint.warnings:  # whole: the plan shortens long diagnostics
            print(f"warning: {warning}", file=sys.stderr)

    # The packs start now and analyse each resource as the program registers it, as with the CLI.
    policy_run = _start_policy_packs(stack_config, pack_dirs, pack_config) if pack_dirs else None
    try:
        return _preview_stack(stack_config, policy_run, invoke_results=invoke_results, results=results,
                              against=against, pack_paths=_pack_paths_as_given(args.policy_packs))
    finally:
        if policy_run is not None:
            policy_run.close()


def _pack_paths_as_given(paths: list[str]) -> dict[str, str]:
    """Each pack's directory -> the path as the user gave it, which the CLI's `(local: ...)` shows."""
    return {str(Path(path).resolve()): path for path in paths}


def _preview_stack(stack_config: Any, policy_run: Any, *, invoke_results: dict[str, dict[str, Any]],
                   results: _Results, against: _Against, pack_paths: dict[str, str] | None = None) -> int:
    placeholders = stack_config.secret_placeholders
    document_base = {"project": stack_config.project, "stack": stack_config.stack, "placeholders": placeholders}
    answers = None
    if against.checkpoint is not None:
        from preflight.prior import PriorAnswers

        answers = PriorAnswers(against.checkpoint)
    run = _run(stack_config, placeholders, results.json, document_base, invoke_results,
               on_registration=policy_run.submit if policy_run is not None else None, answers=answers)
    if run is None:
        return EXIT_ERROR

    from preflight import guard
    from preflight import steps as step_rules
    from preflight.plan import mask, preview_document, render_plan, render_violations

    # The engine fails a preview that would delete or replace a protected resource.
    refused = step_rules.protect_errors(run.steps or [])
    mass_change = None
    if run.steps is not None:
        document_base["steps"] = run.steps
        mass_change = guard.check_mass_change(against.checkpoint, run.steps, stack_config.config,
                                              allowed=against.allow_mass_change)
        document_base["guard"] = mass_change
    host_files, staged_hosts = results.stage_host_files(run.registrations, stack_config.program_dir,
                                                        stack_config.stack)
    # What the program logged may quote what it read (decrypted, under the CLI): shown scrubbed.
    messages = [dataclasses.replace(m, message=scrub_text(m.message)) for m in run.messages]
    sys.stdout.write(render_plan(run.registrations, host_files=host_files, messages=messages, reads=run.reads,
                                 warnings=stack_config.warnings, errors=refused, **document_base))
    if refused:
        for message in refused:
            _error(message)
        _write_json(results.json, preview_document(run.registrations, errors=refused, error="\n".join(refused),
                                                   **document_base))
        return EXIT_ERROR

    report = None
    if policy_run is not None:
        report, pack_error = _finish_policy_packs(policy_run, run)
        if report is None:
            _error(mask(pack_error, placeholders))
            # The preview failed: its host files are not published, so the document lists none.
            _write_json(results.json, preview_document(run.registrations, error=scrub_text(pack_error),
                                                       **document_base))
            return EXIT_ERROR
    code = EXIT_OK
    if report is not None and any(v.enforcement_level == "mandatory" for v in report.violations):
        code = EXIT_MANDATORY
    if mass_change is not None and mass_change.fired:  # a verdict, as a mandatory violation is
        code = EXIT_MANDATORY

    if code == EXIT_OK and results.state_out is not None:
        from preflight.prior import UpError, simulate_up

        try:
            for warning in simulate_up(project_dir=stack_config.project_dir, stack=stack_config.stack,
                                       state=against.state, out=results.state_out,
                                       invoke_results=against.invoke_results,
                                       registered=[r.urn for r in run.registrations]):
                print(f"warning: {warning}", file=sys.stderr)
        except UpError as problem:
            message = f"the simulated up for --state-out failed: {problem}"
            _error(mask(message, placeholders))
            _write_json(results.json, preview_document(run.registrations, error=scrub_text(message), **document_base))
            return EXIT_ERROR

    results.publish_host_files(staged_hosts)
    if report is not None:
        from preflight import reports

        sys.stdout.write("\n" + reports.policies_block(report, local_paths=pack_paths, placeholders=placeholders))
        sys.stdout.write(render_violations(report, placeholders))

        changes = {"steps": run.steps, "guard": mass_change} if run.steps is not None else {}
        if results.sarif is not None:
            reports.write_sarif(report, results.sarif, stack=stack_config.stack, **changes)
        if results.junit is not None:
            reports.write_junit(report, results.junit, stack=stack_config.stack, registrations=run.registrations,
                                **changes)

    if results.json is not None:
        _write_json(results.json, preview_document(run.registrations, host_files=host_files, report=report,
                                                   **document_base))
    return code


def _read_invoke_results(path: Path | None) -> dict[str, dict[str, Any]] | None:
    """The --invoke-results file ({} without one); None (after saying why) when it is unusable."""
    if path is None:
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        _error(f"cannot read --invoke-results {path}: {problem}")
        return None
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        _error(f"--invoke-results {path} must be a JSON object mapping invoke tokens to result objects.")
        return None
    return results


def _run(stack_config: Any, placeholders: list[str], json_path: Path | None,
         document_base: dict[str, Any], invoke_results: dict[str, dict[str, Any]],
         on_registration: Any = None, answers: Any = None) -> Any:
    """Run the program with masked stdout/stderr; on failure report it (and the JSON) and return None."""
    from preflight.plan import mask, preview_document
    from preflight.runner import ProgramError, run_program

    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = _MaskingStream(real_stdout, placeholders)  # type: ignore[assignment]
    sys.stderr = _MaskingStream(real_stderr, placeholders)  # type: ignore[assignment]
    try:
        return run_program(stack_config, invoke_results=invoke_results, on_registration=on_registration,
                           answers=answers)
    except ProgramError as failure:
        message = f"the Pulumi program failed: {failure}"
        if os.environ.get("PREFLIGHT_DEBUG") == "1" and failure.__cause__ is not None:
            traceback.print_exception(failure.__cause__)
        sys.stdout, sys.stderr = real_stdout, real_stderr
        for diagnostic in failure.messages:
            print(f"{diagnostic.severity}: {scrub_text(mask(diagnostic.message, placeholders))}", file=sys.stderr)
        _error(mask(message, placeholders))
        _write_json(json_path, preview_document([], error=scrub_text(message), **document_base))
        return None
    finally:
        sys.stdout, sys.stderr = real_stdout, real_stderr


def _start_policy_packs(stack_config: Any, pack_dirs: list[Path], pack_config: Path | None) -> Any:
    """The packs, starting in the background (their errors surface when the run finishes)."""
    from preflight.policyrun import PolicyRun

    return PolicyRun(
        project=stack_config.project,
        stack=stack_config.stack,
        organization="organization",
        config=stack_config.config,
        secret_keys=stack_config.secret_keys,
        pack_dirs=pack_dirs,
        pack_config_file=pack_config,
        project_dir=stack_config.project_dir,
    )


def _finish_policy_packs(policy_run: Any, run: Any) -> tuple[Any, str]:
    """(report, "") or (None, what went wrong with a pack)."""
    from preflight.verdicts import PackError, PolicyConfigError

    try:
        report = policy_run.finish(run.registrations)
    except PolicyConfigError as problem:  # already one `validating policy config: ...` line per error, as the CLI
        return None, str(problem)
    except PackError as problem:
        return None, f"policy pack error: {problem}"
    return report, ""


def scrub_text(text: str) -> str:
    from preflight.stackconfig import scrub

    return scrub(text)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "preview":
        return preview(args, argv)
    return EXIT_ERROR
