"""`python -m preflight preview`: an offline `pulumi preview` (and `--policy-pack`) for Pulumi Python programs.

Exit codes: 0 clean (or advisory violations only), 1 a mandatory policy violation, 2 a program,
config or policy pack error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


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
    return subprocess.call([str(python), "-m", "preflight", *argv], env=environment)


def _write_json(path: Path | None, document: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def preview(args: argparse.Namespace, argv: list[str]) -> int:
    from preflight.stackconfig import StackConfigError, load_stack_config

    # The program runs in its own directory: resolve every path the user gave before that.
    project_dir = Path(args.cwd).resolve()
    json_path = _absolute(args.json_file)
    sarif_path = _absolute(args.sarif_file)
    junit_path = _absolute(args.junit_file)
    pack_dirs = [Path(p).resolve() for p in args.policy_packs]
    pack_config = _absolute(args.policy_pack_config)
    build_dir = _absolute(args.build_dir) or project_dir / "build"
    if (sarif_path or junit_path) and not pack_dirs:
        _error("--sarif and --junit report policy results; give at least one --policy-pack.")
        return EXIT_ERROR
    invoke_results = _read_invoke_results(_absolute(args.invoke_results))
    if invoke_results is None:
        return EXIT_ERROR

    try:
        stack_config = load_stack_config(project_dir, args.stack)
    except StackConfigError as problem:
        _error(str(problem))
        return EXIT_ERROR

    project_python = _project_python(stack_config)
    if project_python is not None:
        return _run_in_project_python(project_python, argv)

    # The packs start now and analyse each resource as the program registers it, as with the CLI.
    policy_run = _start_policy_packs(stack_config, pack_dirs, pack_config) if pack_dirs else None
    try:
        return _preview_stack(stack_config, policy_run, invoke_results=invoke_results, json_path=json_path,
                              sarif_path=sarif_path, junit_path=junit_path, build_dir=build_dir)
    finally:
        if policy_run is not None:
            policy_run.close()


def _preview_stack(stack_config: Any, policy_run: Any, *, invoke_results: dict[str, dict[str, Any]],
                   json_path: Path | None, sarif_path: Path | None, junit_path: Path | None,
                   build_dir: Path) -> int:
    placeholders = stack_config.secret_placeholders
    document_base = {"project": stack_config.project, "stack": stack_config.stack, "placeholders": placeholders}
    run = _run(stack_config, placeholders, json_path, document_base, invoke_results,
               on_registration=policy_run.submit if policy_run is not None else None)
    if run is None:
        return EXIT_ERROR

    from preflight.hostfiles import write_host_files
    from preflight.plan import mask, preview_document, render_plan, render_violations

    host_files = write_host_files(run.registrations, program_dir=stack_config.program_dir, build_dir=build_dir,
                                  stack=stack_config.stack)
    sys.stdout.write(render_plan(run.registrations, host_files=host_files, messages=run.messages, reads=run.reads,
                                 warnings=stack_config.warnings, **document_base))

    report = None
    if policy_run is not None:
        report, pack_error = _finish_policy_packs(policy_run, run)
        if report is None:
            _error(mask(pack_error, placeholders))
            _write_json(json_path, preview_document(run.registrations, host_files=host_files, error=pack_error,
                                                    **document_base))
            return EXIT_ERROR
        sys.stdout.write(render_violations(report, placeholders))
        from preflight import reports

        if sarif_path is not None:
            reports.write_sarif(report, sarif_path, stack=stack_config.stack)
        if junit_path is not None:
            reports.write_junit(report, junit_path, stack=stack_config.stack, registrations=run.registrations)

    if json_path is not None:
        _write_json(json_path, preview_document(run.registrations, host_files=host_files, report=report,
                                                **document_base))
    if report is not None and any(v.enforcement_level == "mandatory" for v in report.violations):
        return EXIT_MANDATORY
    return EXIT_OK


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
         on_registration: Any = None) -> Any:
    """Run the program with masked stdout/stderr; on failure report it (and the JSON) and return None."""
    from preflight.plan import mask, preview_document
    from preflight.runner import ProgramError, run_program

    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = _MaskingStream(real_stdout, placeholders)  # type: ignore[assignment]
    sys.stderr = _MaskingStream(real_stderr, placeholders)  # type: ignore[assignment]
    try:
        return run_program(stack_config, invoke_results=invoke_results, on_registration=on_registration)
    except ProgramError as failure:
        message = f"the Pulumi program failed: {failure}"
        if os.environ.get("PREFLIGHT_DEBUG") == "1" and failure.__cause__ is not None:
            traceback.print_exception(failure.__cause__)
        sys.stdout, sys.stderr = real_stdout, real_stderr
        for diagnostic in failure.messages:
            print(f"{diagnostic.severity}: {mask(diagnostic.message, placeholders)}", file=sys.stderr)
        _error(mask(message, placeholders))
        _write_json(json_path, preview_document([], error=message, **document_base))
        return None
    finally:
        sys.stdout, sys.stderr = real_stdout, real_stderr


def _start_policy_packs(stack_config: Any, pack_dirs: list[Path], pack_config: Path | None) -> Any:
    """The packs, starting in the background (their errors surface when the run finishes)."""
    from preflight import analyzer

    return analyzer.PolicyRun(
        project=stack_config.project,
        stack=stack_config.stack,
        organization="organization",
        config=stack_config.config,
        secret_keys=stack_config.secret_keys,
        pack_dirs=pack_dirs,
        pack_config_file=pack_config,
    )


def _finish_policy_packs(policy_run: Any, run: Any) -> tuple[Any, str]:
    """(report, "") or (None, what went wrong with a pack)."""
    from preflight import analyzer

    try:
        report = policy_run.finish(run.registrations)
    except analyzer.PackError as problem:
        return None, f"policy pack error: {problem}"
    return report, ""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "preview":
        return preview(args, argv)
    return EXIT_ERROR
