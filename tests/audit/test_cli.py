"""`python -m audit`: arguments, exit codes, the deadline, the allowlist it builds, the test mail, and the
systemd and GitHub Actions examples that run it. The checks are fakes here (a registry of our own)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import pytest
import yaml

from audit import cli, testmail
from audit.model import AuditOptions, Check, Result
from audit.net import Net
from tests.audit.context_builder import Endpoint, expectation
from tests.audit.fakes import FakeSmtp, fake_ca, make_certificate
from tests.conftest import REPO

LAB = ["--stack", "lab", "--project-dir", str(REPO)]


def passing(ctx):
    yield Result("fake-pass", "3", ctx.expect.name_servers[0].name, "PASS", "refused", ("evidence of a pass",))


def failing(ctx):
    yield Result("fake-fail", "5", ctx.expect.mail_hosts[0].name, "FAIL", "banner differs", ("220 other.name",))


def from_customer(ctx):
    yield Result("fake-customer", "1", "port 25 out", "PASS", "blocked")


PASSING = Check("fake-pass", "3", "outside", "passes", passing)
FAILING = Check("fake-fail", "5", "outside", "fails", failing)
CUSTOMER = Check("fake-customer", "1", "customer", "from a customer line", from_customer)


@pytest.fixture
def registry(monkeypatch):
    checks = [PASSING, FAILING, CUSTOMER]
    monkeypatch.setattr(cli, "registry", lambda: checks)
    return checks


def quiet_network(expect, options):
    """A Net allowed only the stack's addresses, which the fake checks never use."""
    return Net(expect.addresses, timeout=0.2, tries=1), None


def run(argv, capsys, **kwargs):
    code = cli.main([*LAB, *argv], network=kwargs.pop("network", quiet_network), **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_0_when_nothing_fails(registry, capsys):
    code, out, _ = run(["--only", "fake-pass"], capsys)
    assert code == cli.EXIT_OK
    assert out.startswith("PASS  3")
    assert "ns1.isp.test" in out


def test_exit_1_on_a_fail_and_every_file_is_written(registry, capsys, tmp_path):
    files = {"--json": tmp_path / "a.json", "--sarif": tmp_path / "a.sarif", "--junit": tmp_path / "a.xml"}
    code, out, _ = run([arg for pair in files.items() for arg in (pair[0], str(pair[1]))], capsys)
    assert code == cli.EXIT_FAILED
    assert "FAIL  5" in out and "      220 other.name" in out
    assert "fake-customer" not in out  # another vantage's check does not run
    document = json.loads(files["--json"].read_text())
    assert {r["check"] for r in document["results"]} == {"fake-pass", "fake-fail"}
    assert json.loads(files["--sarif"].read_text())["runs"][0]["results"][0]["ruleId"] == "fake-fail"
    assert "<failure" in files["--junit"].read_text()


def test_customer_vantage_runs_only_its_checks(registry, capsys):
    code, out, _ = run(["--vantage", "customer"], capsys)
    assert code == cli.EXIT_OK
    assert "fake-customer" in out and "fake-pass" not in out


def test_baseline_reports_what_changed(registry, capsys, tmp_path):
    baseline = tmp_path / "night.json"
    code, _, err = run(["--only", "fake-pass", "--baseline", str(baseline), "--json", str(baseline)], capsys)
    assert code == 0 and "no baseline yet" in err  # the first night
    code, out, _ = run(["--baseline", str(baseline), "--json", str(baseline)], capsys)
    assert code == 1
    assert "since the baseline: 1 new failures, 0 fixed, 0 still failing, 0 new warnings" in out
    code, out, _ = run(["--baseline", str(baseline)], capsys)
    assert "0 new failures, 0 fixed, 1 still failing" in out


@pytest.mark.parametrize("argv, words", [
    (["--set", "isp:bogusKey=1"], "isp:bogusKey is not a known setting"),
    (["--set", 'isp:mail={"submissionPorts":[25]}'], "isp:mail.submissionPorts"),
    (["--set", "nonamespace=1"], "--set 'nonamespace=1'"),
    (["--resolver", "resolver.example"], "--resolver 'resolver.example' is not an IP address"),
    (["--outside-smtp", "mx"], "--outside-smtp 'mx' is not an IP address"),
    (["--timeout", "0"], "--timeout 0"),
    (["--cafile", "/nonexistent/ca.pem"], "--cafile /nonexistent/ca.pem: no such file"),
    (["--only", "no-such-check"], "--only no-such-check: no such check; the checks are fake-customer"),
    (["--send-test-mail", "someone@example.com"], "example.com is not a hosted mail domain of this stack (isp.test)"),
    (["--send-test-mail", "not-an-address"], "is not a mail address"),
])
def test_exit_2_names_the_argument_or_key(registry, capsys, argv, words):
    code, out, err = run(argv, capsys)
    assert code == cli.EXIT_ERROR
    assert words in err
    assert out == ""  # nothing was probed


def test_exit_2_for_a_stack_file_with_an_unknown_key(registry, capsys, tmp_path):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "__main__.py").write_text("")  # a project has a program; the audit never runs it
    document = yaml.safe_load((REPO / "Pulumi.lab.yaml").read_text())
    document["config"]["isp:mial"] = {"dailyLimitPerAccount": 3}
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))
    code = cli.main(["--stack", "broken", "--project-dir", str(tmp_path)], network=quiet_network)
    _, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR
    assert "isp:mial is not a known setting (did you mean mail?)" in err
    code = cli.main(["--stack", "nosuchstack", "--project-dir", str(tmp_path)], network=quiet_network)
    assert code == cli.EXIT_ERROR and "Pulumi.nosuchstack.yaml is missing" in capsys.readouterr().err


def test_exit_2_for_a_bad_baseline(registry, capsys, tmp_path):
    (tmp_path / "b.json").write_text("{}")
    code, out, err = run(["--baseline", str(tmp_path / "b.json")], capsys)
    assert code == cli.EXIT_ERROR and "not the --json output of isp-audit" in err and out == ""


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--stack", "lab", "--vantage", "inside"])
    assert exit_info.value.code == cli.EXIT_ERROR
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])  # --stack is required
    assert exit_info.value.code == cli.EXIT_ERROR


def test_the_deadline_bounds_a_check_that_never_ends(monkeypatch, capsys):
    release = threading.Event()

    def hangs(ctx):
        yield Result("hangs", "3", "ns1 first", "PASS", "answered")
        release.wait(30)  # a target that never answers (as if no timeout held)
        yield Result("hangs", "3", "ns1 second", "PASS", "too late")

    def crashes(ctx):
        raise RuntimeError("a bug in a check")
        yield  # a generator

    checks = [Check("hangs", "3", "outside", "hangs", hangs), Check("crashes", "8", "outside", "crashes", crashes),
              PASSING]
    monkeypatch.setattr(cli, "registry", lambda: checks)
    monkeypatch.setattr(cli, "deadline_seconds", lambda options: 0.5)
    started = time.monotonic()
    try:
        code, out, _ = run([], capsys)
    finally:
        release.set()
    assert time.monotonic() - started < 3  # the 0.5 s deadline, not the 30 s the check would take
    assert code == cli.EXIT_OK  # WARN is not FAIL
    assert "ns1 first" in out and "too late" not in out
    assert "WARN  3  hangs" in out and "did not finish within the audit's deadline of 0.5 s" in out
    assert "the check stopped: RuntimeError: a bug in a check" in out
    assert "PASS  3  fake-pass" in out


def test_deadline_is_bounded_by_timeout_and_tries():
    assert cli.deadline_seconds(AuditOptions(timeout=3.0, tries=2)) < 60
    assert cli.deadline_seconds(AuditOptions(timeout=1.0, tries=1)) < cli.deadline_seconds(AuditOptions())


def test_the_net_is_allowed_only_the_stack_the_resolver_and_the_outside_smtp(monkeypatch, capsys):
    seen = {}

    def looks(ctx):
        seen["allowed"] = ctx.net.allowed
        with pytest.raises(ValueError):
            ctx.net.connect("192.0.2.99", 25)  # not ours: refused before any packet
        yield Result("looks", "3", "net", "PASS", "ok")

    monkeypatch.setattr(cli, "registry", lambda: [Check("looks", "3", "outside", "looks", looks)])
    code = cli.main([*LAB, "--resolver", "192.0.2.10", "--outside-smtp", "192.0.2.25", "--timeout", "0.2"])
    capsys.readouterr()
    assert code == cli.EXIT_OK
    stack = {"198.51.100.1", "198.51.100.25", "198.51.100.43", "198.51.100.53", "198.51.100.80"}
    assert seen["allowed"] == stack | {"192.0.2.10", "192.0.2.25"}


def test_python_dash_m_audit(tmp_path):
    """The module entry point: a real process, exit 2 for a stack that does not exist (no traffic)."""
    completed = subprocess.run([sys.executable, "-m", "audit", "--stack", "nosuch", "--project-dir", str(REPO)],
                               capture_output=True, text=True, timeout=60, cwd=REPO)
    assert completed.returncode == 2
    assert "Pulumi.nosuch.yaml is missing" in completed.stderr


# ---------------------------------------------------------------------------------------------------
# --send-test-mail


def mail_expect():
    return expectation(mail_hosts=[Endpoint("mail.example.net", ("127.0.0.1",))], domain="example.net")


def test_test_mail_sends_one_message_over_starttls_and_reports_the_refusal():
    certificate = make_certificate(["mail.example.net"], ca=fake_ca())
    with FakeSmtp(certificate=certificate, rcpt_code=250) as fake:
        net = Net({"127.0.0.1"}, timeout=2, tries=1, ports=fake.ports(25))
        result = testmail.send_test_mail("someone@example.net", mail_expect(), net,
                                         AuditOptions(cafile=fake_ca().cafile, timeout=2))
    assert result.check == "test-mail" and result.target == "someone@example.net"
    assert result.status == "FAIL" and "554" in result.summary  # the fake refuses every DATA
    assert "C: STARTTLS (verified)" in result.evidence
    verbs = [line.split()[0].upper() for line in fake.commands]
    assert verbs.count("DATA") == 1 and verbs.count("STARTTLS") == 1
    assert any(line.upper().startswith("MAIL FROM:<>") for line in fake.commands)


def test_test_mail_refused_recipient_and_wrong_certificate():
    with FakeSmtp(starttls=False, rcpt_code=550) as fake:
        net = Net({"127.0.0.1"}, timeout=2, tries=1, ports=fake.ports(25))
        result = testmail.send_test_mail("nobody@example.net", mail_expect(), net, AuditOptions(timeout=2))
    assert (result.status, result.summary) == ("FAIL", "RCPT refused: 550")
    assert "DATA" not in [line.split()[0].upper() for line in fake.commands]
    other = make_certificate(["other.example.org"], ca=fake_ca())
    with FakeSmtp(certificate=other, rcpt_code=250) as fake:
        net = Net({"127.0.0.1"}, timeout=2, tries=1, ports=fake.ports(25))
        result = testmail.send_test_mail("someone@example.net", mail_expect(), net,
                                         AuditOptions(cafile=fake_ca().cafile, timeout=2))
    assert result.status == "FAIL" and result.summary.startswith("STARTTLS failed")


def test_test_mail_to_a_silent_host_is_a_warn():
    with FakeSmtp(silent=True) as fake:
        net = Net({"127.0.0.1"}, timeout=0.3, tries=1, ports=fake.ports(25))
        result = testmail.send_test_mail("someone@example.net", mail_expect(), net, AuditOptions(timeout=0.3))
    assert result.status == "WARN" and "no mail host of ours answered" in result.summary


def test_hosted_mailbox_problem():
    expect = mail_expect()
    assert testmail.hosted_mailbox_problem("someone@example.net", expect) is None
    assert "not a hosted mail domain" in testmail.hosted_mailbox_problem("someone@example.com", expect)
    assert "not a mail address" in testmail.hosted_mailbox_problem("someone", expect)


# ---------------------------------------------------------------------------------------------------
# The systemd timer and the workflow


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    source = REPO / "deploy" / "audit"
    service = (source / "isp-audit.service").read_text()
    assert "DynamicUser=yes" in service and "ProtectSystem=strict" in service
    assert "--baseline ${STATE_DIRECTORY}/audit.json --json ${STATE_DIRECTORY}/audit.json" in service
    # verify wants ExecStart's program to exist: point it at this interpreter (same checkout layout).
    (tmp_path / "isp-audit.service").write_text(
        service.replace("/opt/isp/.venv/bin/python", sys.executable).replace("=/opt/isp\n", f"={REPO}\n"))
    shutil.copy(source / "isp-audit.timer", tmp_path / "isp-audit.timer")
    completed = subprocess.run([analyze, "verify", "--man=no", "isp-audit.service", "isp-audit.timer"],
                               capture_output=True, text=True, timeout=60, cwd=tmp_path)
    ours = [line for line in (completed.stderr + completed.stdout).splitlines() if "isp-audit" in line]
    assert completed.returncode == 0, completed.stderr
    assert ours == []
    assert "OnCalendar=" in (source / "isp-audit.timer").read_text()


def test_workflow_runs_the_audit_and_uploads_sarif_even_on_a_fail():
    document = yaml.safe_load((REPO / ".github" / "workflows" / "audit.yml").read_text())
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert document["permissions"]["security-events"] == "write"
    (job,) = document["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "pip install -r requirements.txt" in runs
    audit = next(step for step in steps if "python -m audit" in step.get("run", ""))
    assert "--stack prod --sarif audit.sarif" in audit["run"]
    assert 'test "$code" -le 1' in audit["run"]  # a FAIL (1) goes on to the upload; 2 stops
    upload = next(step for step in steps if step.get("uses", "").startswith("github/codeql-action/upload-sarif@v3"))
    assert upload["with"]["sarif_file"] == "audit.sarif"
    assert "cancelled()" in upload["if"]
    assert steps.index(upload) > steps.index(audit)
    assert steps[-1]["if"] == "${{ steps.audit.outputs.code == '1' }}" and steps[-1]["run"] == "exit 1"
