"""`python -m bench.audit` (`make bench-audit`): how long `python -m audit` takes on the dev and prod stacks.

The goal (the audit's issue): an audit of the dev or prod stack finishes in under 30 s when all hosts
answer, and a host that does not answer gives WARN, not a hang. Each stack is audited through
`audit.cli.main`, exactly as `python -m audit --stack S` runs, with the stack's hosts moved to loopback
and fake servers answering there (bench/audit_world.py); nothing leaves the machine. Scenarios:

- `all-answer`: every host answers (the audit should PASS everything: it checks the world too);
- `silent`: the first name server (the one every question of ours goes to first) and the mail host are
  filtered (SYNs and datagrams dropped); their checks must WARN, none FAIL, none hit the deadline;
- `customer`: `--vantage customer`, every host answering.

Each is run `--runs` times (3; the median wall time is kept) at the audit's default `--timeout` (3 s),
interleaved by stack and scenario. The table is printed and written, with every run's figures, to
`bench/audit-results.json`. Timings are figures, never asserted; tests/bench checks the machinery.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from audit import cli
from audit.expect import Expectation
from bench.audit_world import OUTSIDE_NAME, OUTSIDE_SMTP, RESOLVER, LoopbackWorld, relocation
from tests.audit.fakes import fake_ca

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "audit-results.json"
GOAL_SECONDS = 30.0
STACKS = ("dev", "prod")
RUNS = 3
SLOWEST = 5


@dataclass(frozen=True)
class Scenario:
    name: str
    vantage: str
    silent: tuple[str, ...]  # "first-name-server", "mail", "resolver": what does not answer
    description: str


SCENARIOS = (
    Scenario("all-answer", "outside", (), "every host answers"),
    Scenario("silent", "outside", ("first-name-server", "mail"),
             "the first name server (asked first) and the mail host silent (filtered)"),
    Scenario("customer", "customer", (), "--vantage customer, every host answers"),
    Scenario("silent-resolver", "outside", ("resolver",),
             "every host answers, the --resolver (the nightly run's AUDIT_RESOLVER) silent"),
)


def silent_hosts(scenario: Scenario, expect: Expectation) -> tuple[str, ...]:
    """What LoopbackWorld keeps silent: host FQDNs, or the resolver's address."""
    named = {"first-name-server": expect.name_servers[0].name, "mail": expect.mail_hosts[0].name,
             "resolver": RESOLVER}
    return tuple(named[part] for part in scenario.silent)


def audit_once(stack: str, scenario: Scenario, *, timeout: float, project_dir: Path = REPO) -> dict:
    """One audit of `stack` in `scenario`: its wall time and what the --json report says."""
    overrides = relocation(stack, project_dir)
    expect = Expectation.from_config(cli.load_config(stack, project_dir, overrides), stack)
    silent = silent_hosts(scenario, expect)
    argv = ["--stack", stack, "--project-dir", str(project_dir), "--vantage", scenario.vantage,
            "--timeout", f"{timeout:g}", "--cafile", fake_ca().cafile, "--resolver", RESOLVER,
            "--outside-name", OUTSIDE_NAME, "--outside-smtp", OUTSIDE_SMTP]
    argv += [arg for pair in overrides for arg in ("--set", pair)]
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        report = Path(scratch) / "audit.json"
        with LoopbackWorld(cli.load_config(stack, project_dir, overrides), expect, silent=silent,
                           vantage=scenario.vantage) as world:
            with contextlib.redirect_stdout(io.StringIO()) as table, contextlib.redirect_stderr(io.StringIO()):
                started = time.perf_counter()
                code = cli.main([*argv, "--json", str(report)], network=world.network)
                seconds = time.perf_counter() - started
            fake_failures = world.fake_failures()
        document = json.loads(report.read_text())
    silent_addresses = {a for e in (*expect.name_servers, *expect.mail_hosts) if e.name in silent for a in e.addresses}
    results = document["results"]
    # a result about a silent host names its address as the target ("mail.example.net 127.0.0.25:25")
    about_silent = [r for r in results if any(f" {a}" in f" {r['target']}" for a in silent_addresses)]
    checks = sorted(document["checks"], key=lambda c: -c["seconds"])
    return {
        "seconds": seconds,
        "exitCode": code,
        "checks": len(document["checks"]),
        "results": len(results),
        "counts": document["counts"],
        "slowest": [[c["id"], c["seconds"]] for c in checks[:SLOWEST]],
        "silentHosts": list(silent),
        "silentResults": {status: sum(r["status"] == status for r in about_silent) for status in ("PASS", "WARN",
                                                                                                     "FAIL")},
        "deadlineHit": any(r["target"] == cli.DEADLINE_CHECK for r in results),
        "notPassing": [f'{r["status"]} {r["check"]} {r["target"]}: {r["summary"]}' for r in results
                       if r["status"] != "PASS"],
        "fakeFailures": fake_failures,
        "table": table.getvalue() if code == cli.EXIT_ERROR else "",
    }


def measure(stacks=STACKS, scenarios=SCENARIOS, *, runs: int = RUNS, timeout: float = cli.DEFAULT_TIMEOUT,
            project_dir: Path = REPO, progress=None) -> dict:
    """Every stack in every scenario, `runs` times interleaved; the run of median wall time is kept."""
    every: dict[tuple[str, str], list[dict]] = {}
    for run in range(runs):
        for stack in stacks:
            for scenario in scenarios:
                figures = audit_once(stack, scenario, timeout=timeout, project_dir=project_dir)
                every.setdefault((stack, scenario.name), []).append(figures)
                if progress:
                    progress(f"run {run + 1}/{runs} {stack} {scenario.name}: {figures['seconds']:.2f} s")
    rows = []
    for (stack, name), figures in every.items():
        median = statistics.median(f["seconds"] for f in figures)
        kept = min(figures, key=lambda f: abs(f["seconds"] - median))
        rows.append({"stack": stack, "scenario": name, "medianSeconds": median, "goalSeconds": GOAL_SECONDS,
                     "withinGoal": median < GOAL_SECONDS, "runSeconds": [f["seconds"] for f in figures],
                     **{k: v for k, v in kept.items() if k != "seconds"}})
    return {"goalSeconds": GOAL_SECONDS, "timeout": timeout, "runs": runs, "rows": rows,
            "scenarios": {s.name: s.description for s in scenarios}, "machine": _machine()}


def _machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "loadAverage": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def table(document: dict) -> str:
    goal = f"{document['goalSeconds']:g}"
    lines = ["| stack | scenario | wall s (median) | runs s | goal s | within goal | checks | results | "
             "PASS/WARN/FAIL | silent hosts' results P/W/F | deadline hit | slowest checks (s) |",
             "|---|---|---:|---|---:|---|---:|---:|---|---|---|---|"]
    for row in document["rows"]:
        counts = "/".join(str(row["counts"].get(s, 0)) for s in ("PASS", "WARN", "FAIL"))
        silent = "/".join(str(row["silentResults"][s]) for s in ("PASS", "WARN", "FAIL")) if row["silentHosts"] else "-"
        slowest = ", ".join(f"{check} {seconds:.2f}" for check, seconds in row["slowest"])
        runs = ", ".join(f"{seconds:.2f}" for seconds in row["runSeconds"])
        lines.append(f"| {row['stack']} | {row['scenario']} | {row['medianSeconds']:.2f} | {runs} | {goal} | "
                     f"{'yes' if row['withinGoal'] else '**no**'} | {row['checks']} | {row['results']} | {counts} | "
                     f"{silent} | {'yes' if row['deadlineHit'] else 'no'} | {slowest} |")
    machine = document["machine"]
    lines.append("")
    lines.append(f"--timeout {document['timeout']:g} s, {document['runs']} runs each (median kept); finished "
                 f"{machine['finished']}, Python {machine['python']}, {machine['cpus']} CPUs, load average "
                 f"{', '.join(f'{x:.2f}' for x in machine['loadAverage'])}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--timeout", type=float, default=cli.DEFAULT_TIMEOUT, help="the audit's --timeout")
    parser.add_argument("--stacks", nargs="+", default=list(STACKS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    document = measure(args.stacks, runs=args.runs, timeout=args.timeout,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    sys.stdout.write(table(document))
    for row in document["rows"]:
        for line in row["notPassing"]:
            print(f"  {row['stack']} {row['scenario']}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
