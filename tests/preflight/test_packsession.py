"""preflight.packsession: a pack's process and gRPC session, started, failing and stopped."""

from __future__ import annotations

import pytest
from pack_helpers import API_TOKEN, CRASHING_PACK, DNS_PACK, ROOT_URN, Runner, registrations, violations

from preflight import packsession
from preflight.policyrun import run_policy_packs
from preflight.verdicts import PackError


def test_crashing_pack_reports_its_stderr_and_stops_the_others(monkeypatch):
    runner = Runner(monkeypatch)
    with pytest.raises(PackError) as caught:
        runner.run([DNS_PACK, CRASHING_PACK])
    message = str(caught.value)
    assert "exited before printing its gRPC port" in message and "exited with code 1" in message
    assert "RuntimeError: fixture pack crashed on purpose before serving" in message
    runner.assert_all_stopped(expected=2)  # the dns pack, already running, is stopped too


def test_silent_pack_times_out_and_is_killed(tmp_path, monkeypatch):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text(
        f"import sys, time\nprint('{API_TOKEN} is the token', file=sys.stderr, flush=True)\ntime.sleep(120)\n"
    )
    monkeypatch.setattr(packsession, "PACK_START_TIMEOUT_SECONDS", 2.0)
    runner = Runner(monkeypatch)
    with pytest.raises(PackError) as caught:
        runner.run([tmp_path])
    assert "did not print its gRPC port within 2 s" in str(caught.value)
    assert "[secret] is the token" in str(caught.value) and API_TOKEN not in str(caught.value)
    runner.assert_all_stopped(expected=1)


def test_a_config_too_large_for_the_environment_still_reaches_the_pack(monkeypatch, capsys):
    # As PULUMI_CONFIG this is more than Linux lets one environment variable hold (exec fails: E2BIG).
    config = {"isp:apiToken": API_TOKEN, "isp:notes": "x" * (200 * 1024)}
    runner = Runner(monkeypatch)
    report = run_policy_packs(registrations(), project="isp", stack="dev", organization="acme", config=config,
                              secret_keys=["isp:apiToken"], pack_dirs=[DNS_PACK])
    runner.assert_all_stopped(expected=1)
    inventory = [v.message for v in violations(report, "stack-inventory", ROOT_URN)]
    assert any("resources=7 token=[secret]" in message for message in inventory)  # the pack read its config
    assert "pulumi/pulumi#20402" in capsys.readouterr().err
