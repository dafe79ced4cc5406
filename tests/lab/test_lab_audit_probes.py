"""The lab's outside probes judge through the audit: the arguments they give it, and how its results judge
them (pure, no root: the audit's runs are stood in for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.cli import _parser, registry, select
from lab import audit_probes
from lab.audit_probes import AUDITED, AuditRun, _judged, audit_argv, judged_by_audit
from lab.probes import PROBES, Lab
from lab.settings import load_lab
from lab.topology import build_topology


@pytest.fixture(scope="module")
def lab() -> Lab:
    return Lab(build_topology(load_lab("lab"), project_dir="/srv/isp"), plan=None)  # type: ignore[arg-type]


def result(check: str, status: str, evidence: tuple[str, ...] = ("the query -> the answer",)) -> dict:
    return {"check": check, "target": "ns1.isp.test 198.51.100.53", "status": status, "summary": "said",
            "evidence": list(evidence)}


@pytest.mark.parametrize("name", sorted(AUDITED))
def test_each_delegated_probe_is_a_lab_probe_whose_runs_select_exactly_their_checks(lab, name):
    assert name in {p[0] for p in PROBES}
    for run in AUDITED[name]:
        argv = audit_argv(lab, run.vantage, Path("/tmp/report.json"), run.checks)
        args = _parser().parse_args(argv)
        assert args.only == list(run.checks) and args.vantage == run.vantage and args.stack == "lab"
        # A check of another vantage, or a misspelt one, would select nothing (or raise): the probe would lie.
        assert sorted(c.id for c in select(registry(), args.vantage, args.only)) == sorted(run.checks)
        assert lab.topology.host(run.where).namespace


def test_without_only_the_argv_is_the_readmes_and_runs_every_check(lab):
    argv = audit_argv(lab, "customer", Path("/tmp/report.json"))
    assert "--only" not in argv and argv[argv.index("--outside-smtp") + 1] == lab.sink


def test_all_pass_passes_with_the_audits_lines_as_evidence():
    ok, evidence = _judged(0, {"results": [result("fcrdns", "PASS")]}, "internet", ("fcrdns",))
    assert ok and evidence[0].startswith("python -m audit --only fcrdns from internet (exit 0): 1 results, 1 PASS")
    assert evidence[1] == "PASS  fcrdns  ns1.isp.test 198.51.100.53: said"


@pytest.mark.parametrize("status", ["FAIL", "WARN"])
def test_a_fail_or_warn_fails_the_probe_marked_with_its_evidence(status):
    document = {"results": [result("spf", "PASS"), result("spf", status, ("TXT isp.test -> v=spf1 -all",))]}
    ok, evidence = _judged(1 if status == "FAIL" else 0, document, "internet", ("spf",))
    assert not ok
    at = evidence.index(f"{status}  spf  ns1.isp.test 198.51.100.53: said  <- unexpected")
    assert evidence[at + 1] == "    TXT isp.test -> v=spf1 -all"


def test_a_check_asked_for_that_gave_no_result_fails_the_probe():
    ok, evidence = _judged(0, {"results": [result("mta-sts", "PASS")]}, "internet", ("mta-sts", "tls-rpt"))
    assert not ok and any(line.startswith("no result from tls-rpt") and "unexpected" in line for line in evidence)


def test_an_audit_that_did_not_run_fails_saying_why():
    ok, evidence = _judged(2, {"error": "AuditError: no stack"}, "customer", ("recursion-offered",))
    assert not ok and evidence == ["the audit --only recursion-offered from customer did not run: AuditError: no stack"]


def test_every_run_of_a_probe_is_made_and_each_must_pass(lab, monkeypatch):
    calls = []

    def fake(lab, where, vantage, only):
        calls.append((where, vantage, only))
        return (0, {"results": [result(only[0], "PASS" if where == "internet" else "FAIL")]})

    monkeypatch.setattr(audit_probes, "run_audit", fake)
    ok, evidence = judged_by_audit(lab, AUDITED["recursion"])
    assert calls == [("internet", "outside", ("recursion-refused",)), ("customer", "customer", ("recursion-offered",))]
    assert not ok and evidence[0].startswith("python -m audit --only recursion-refused from internet")
    assert any(line.startswith("FAIL  recursion-offered") for line in evidence)
    assert judged_by_audit(lab, [AuditRun("internet", "outside", ("fcrdns",))])[0]
