"""`python -m audit --stack S` (console script `isp-audit`): the live network checked against the lessons.

Exit codes as preflight's: 0 no check FAILed; 1 a check FAILed (the table, and every file asked for,
say which and why); 2 the audit could not run (a bad stack, a bad argument: one paragraph naming it).

The stack config is read offline, as preflight reads it (preflight/stackconfig.py); secret keys are
dropped (the audit needs no secret), `--set` merges as `lab deliver --set` does (lab/settings.py). The
checks of the vantage run concurrently under one overall deadline: a network where nothing answers
still gives its verdicts (WARN) in bounded time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import ipaddress
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audit import report
from audit.expect import Expectation
from audit.model import CHECKS, AuditContext, AuditOptions, Check, Result

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
WORKERS = 16  # concurrent checks: each is mostly waiting on the network
DEFAULT_TIMEOUT = AuditOptions().timeout
MAX_TIMEOUT = 60.0
# The overall deadline, in exchanges that time out: enough for a check to meet several silent targets,
# small enough that an audit of a dead network ends within a minute at the default timeout.
DEADLINE_EXCHANGES = 8
DEADLINE_SLACK = 5.0
DEADLINE_CHECK = "audit-deadline"


class AuditError(Exception):
    """Why the audit cannot run, in one paragraph naming the key or argument."""


def registry() -> list[Check]:
    """Every declared check (importing audit.checks registers them)."""
    import audit.checks  # noqa: F401

    return list(CHECKS)


def deadline_seconds(options: AuditOptions) -> float:
    return options.timeout * options.tries * DEADLINE_EXCHANGES + DEADLINE_SLACK


# ---------------------------------------------------------------------------------------------------
# The stack


def load_config(stack: str, project_dir: Path, overrides: Sequence[str] = (), set_files: Sequence[Path] = ()):
    """The stack's model from its file, without secrets, with `--set-file` then `--set` overrides merged as the
    lab merges them."""
    from components.config import CONFIG_NAMESPACE, ConfigError, parse_stack_config
    from preflight import overrides as stack_overrides
    from preflight.stackconfig import StackConfigError, load_stack_config

    try:
        merged: dict = {}
        for path in set_files:
            merged = stack_overrides.merge(merged, _set_file(path))
        merged = stack_overrides.merge(merged, stack_overrides.parse_overrides(overrides))
        program = stack_overrides.with_overrides(load_stack_config(project_dir, stack), merged)
    except (stack_overrides.OverrideError, StackConfigError) as error:
        raise AuditError(str(error)) from None
    try:
        return parse_stack_config(stack_overrides.namespace_values(program, CONFIG_NAMESPACE),
                                  f"Pulumi.{stack}.yaml", str(program.project_dir))
    except ConfigError as error:
        raise AuditError(str(error)) from None


def _set_file(path: Path) -> dict:
    """A JSON object of NAMESPACE:KEY -> value (as `--set` pairs), e.g. what `lab up` handed its stack."""
    import json

    from preflight.overrides import OverrideError

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise OverrideError(f"--set-file {path}: {error}") from None
    if not isinstance(document, dict) or not all(isinstance(k, str) and ":" in k for k in document):
        raise OverrideError(f"--set-file {path}: must be a JSON object of NAMESPACE:KEY to values")
    return document


# ---------------------------------------------------------------------------------------------------
# Running the checks


@dataclasses.dataclass
class _Progress:
    results: list[Result] = dataclasses.field(default_factory=list)
    seconds: float | None = None


def run_checks(ctx: AuditContext, checks: Sequence[Check], deadline: float,
               workers: int = WORKERS) -> tuple[list[Result], dict[str, float]]:
    """Each check on a worker (daemon threads: a check still waiting at the deadline cannot hold the
    process); what a check yielded before the deadline is kept, and it gets a WARN saying it did not end."""
    progress = {check.id: _Progress() for check in checks}
    pending = list(checks)
    lock = threading.Lock()
    finished = threading.Condition(lock)
    remaining = [len(checks)]

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                check = pending.pop(0)
            _run_one(ctx, check, progress[check.id], lock)
            with finished:
                remaining[0] -= 1
                finished.notify_all()

    for _ in range(min(workers, len(checks))):
        threading.Thread(target=work, name="audit-check", daemon=True).start()
    end = time.monotonic() + deadline
    with finished:
        while remaining[0] and (left := end - time.monotonic()) > 0:
            finished.wait(left)
        results: list[Result] = []
        seconds: dict[str, float] = {}
        for check in checks:
            state = progress[check.id]
            results += state.results
            if state.seconds is None:
                results.append(Result(check.id, check.lesson, DEADLINE_CHECK, "WARN",
                                      f"did not finish within the audit's deadline of {deadline:g} s",
                                      (f"{len(state.results)} result(s) before the deadline; the targets left "
                                       "were not judged (a host not answering within --timeout)",), deadline))
                seconds[check.id] = deadline
            else:
                seconds[check.id] = state.seconds
    return results, seconds


def _run_one(ctx: AuditContext, check: Check, state: _Progress, lock: threading.Lock) -> None:
    started = time.monotonic()
    try:
        for result in check.function(ctx):
            with lock:
                state.results.append(result)
    except Exception as error:  # a check's own bug: said as a WARN, the other checks still count
        where = traceback.extract_tb(error.__traceback__)[-1]
        with lock:
            state.results.append(Result(check.id, check.lesson, "(check)", "WARN",
                                        f"the check stopped: {type(error).__name__}: {error}",
                                        (f"at {where.filename}:{where.lineno} in {where.name}",)))
    with lock:
        state.seconds = time.monotonic() - started


# ---------------------------------------------------------------------------------------------------
# Arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isp-audit", description="Check the live network of a stack against the lessons, read-only.")
    parser.add_argument("--stack", required=True, help="the stack whose Pulumi.<stack>.yaml says what should be")
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="where Pulumi.yaml is (default .)")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=JSON",
                        help="override a config key (objects merge key by key; KEY=null removes it)")
    parser.add_argument("--set-file", action="append", default=[], type=Path, metavar="FILE",
                        help="a JSON object of KEY to value, merged before --set (the lab writes "
                             "build/lab/lab-inputs.json: its certificates and DKIM public key)")
    parser.add_argument("--vantage", choices=("outside", "customer"), default="outside",
                        help="where the audit runs from: the internet (default) or a customer line")
    parser.add_argument("--cafile", help="trust only this CA (PEM), e.g. the lab's")
    parser.add_argument("--resolver", help="a resolver's address for names outside the zones our name servers "
                                           "serve (default: none; those checks WARN)")
    parser.add_argument("--outside-name", default=AuditOptions().outside_name,
                        help="a name outside our zones, for the recursion checks (default %(default)s)")
    parser.add_argument("--outside-smtp", help="customer vantage: an outside mail server's address, for the "
                                               "port 25 egress check")
    parser.add_argument("--send-test-mail", metavar="ADDRESS",
                        help="send one short message to ADDRESS (a mailbox of a hosted mail domain) via our MX")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per network exchange (default %(default)g)")
    parser.add_argument("--only", nargs="+", metavar="CHECK", help="run only these checks")
    parser.add_argument("--json", type=Path, help="write every result, the options and timings as JSON")
    parser.add_argument("--sarif", type=Path, help="write FAILs and WARNs as SARIF 2.1.0 (code scanning)")
    parser.add_argument("--junit", type=Path, help="write a JUnit XML report")
    parser.add_argument("--baseline", type=Path, help="a previous --json: report what changed since")
    return parser


def _address(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise AuditError(f"{option} {value!r} is not an IP address: the audit resolves no name to find "
                         "whom to ask, so give the address") from None


def options_from(args: argparse.Namespace) -> AuditOptions:
    if not 0 < args.timeout <= MAX_TIMEOUT:
        raise AuditError(f"--timeout {args.timeout:g}: give seconds per exchange, more than 0 and at most "
                         f"{MAX_TIMEOUT:g}")
    if args.cafile is not None and not Path(args.cafile).is_file():
        raise AuditError(f"--cafile {args.cafile}: no such file (a PEM file of the CA to trust)")
    return AuditOptions(vantage=args.vantage, timeout=args.timeout, cafile=args.cafile,
                        resolver=_address(args.resolver, "--resolver"), outside_name=args.outside_name,
                        outside_smtp=_address(args.outside_smtp, "--outside-smtp"),
                        send_test_mail=args.send_test_mail)


def select(checks: Sequence[Check], vantage: str, only: Sequence[str] | None) -> list[Check]:
    if only:
        known = {check.id for check in checks}
        if unknown := [name for name in only if name not in known]:
            raise AuditError(f"--only {' '.join(unknown)}: no such check; the checks are "
                             f"{', '.join(sorted(known))}")
    return [check for check in checks if check.vantage == vantage and (not only or check.id in only)]


def build_network(expect: Expectation, options: AuditOptions) -> tuple[Any, Any]:
    """The Net (only the stack's addresses, --resolver and --outside-smtp) and the StackResolver."""
    from audit.net import Net
    from audit.resolver import StackResolver

    extra = {a for a in (options.resolver, options.outside_smtp) if a}
    net = Net(allowed=expect.addresses | extra, timeout=options.timeout, tries=options.tries)
    return net, StackResolver(expect, net, options.resolver)


def main(argv: Sequence[str] | None = None, *, network: Callable[..., tuple[Any, Any]] | None = None) -> int:
    args = _parser().parse_args(argv)  # a bad argument: argparse says so and exits 2
    try:
        options = options_from(args)
        cfg = load_config(args.stack, args.project_dir, args.overrides, args.set_file)
        expect = Expectation.from_config(cfg, args.stack)
        if options.send_test_mail:
            from audit.testmail import hosted_mailbox_problem

            if problem := hosted_mailbox_problem(options.send_test_mail, expect):
                raise AuditError(f"--send-test-mail: {problem}")
        checks = select(registry(), options.vantage, args.only)
        previous = None
        if args.baseline is not None:
            # The first night has no baseline yet (the timer's --json becomes the next one): all is new.
            previous = report.load_baseline(args.baseline) if args.baseline.exists() else ()
            if not args.baseline.exists():
                print(f"isp-audit: no baseline yet at {args.baseline}: every result counts as new", file=sys.stderr)
    except (AuditError, report.BaselineError) as error:
        print(f"isp-audit: {error}", file=sys.stderr)
        return EXIT_ERROR
    net, resolver = (network or build_network)(expect, options)
    ctx = AuditContext(expect=expect, net=net, resolver=resolver, options=options)
    started, clock = datetime.datetime.now(datetime.UTC), time.monotonic()
    results, check_seconds = run_checks(ctx, checks, deadline_seconds(options))
    if options.send_test_mail:
        from audit.testmail import send_test_mail

        results.append(send_test_mail(options.send_test_mail, expect, net, options))
    run = report.AuditRun(stack=args.stack, options=options, results=tuple(results), checks=tuple(checks),
                          started=started, seconds=time.monotonic() - clock,
                          check_seconds=tuple(check_seconds.items()))
    diff = report.compare(previous, run.results) if previous is not None else None
    sys.stdout.write(report.table(run, diff))
    try:
        if args.json:
            report.write_json(run, args.json, diff)
        if args.sarif:
            report.write_sarif(run, args.sarif, previous)
        if args.junit:
            report.write_junit(run, args.junit)
    except OSError as error:
        print(f"isp-audit: cannot write the report: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FAILED if run.failed else EXIT_OK
