"""`bench/audit.py` at a tiny size (one run, a 0.3 s --timeout): the results file has every scenario, the
loopback world lets a faithful stack PASS everything, silent hosts give WARN (no FAIL, no deadline), and
nothing the audit may contact is off loopback. Behaviour only, never timings."""

from __future__ import annotations

import ipaddress
import json
import socket

import pytest

from audit import cli
from audit.expect import Expectation
from bench import audit as bench_audit
from bench.audit_world import RESOLVER, SilentHost, relocation
from tests.conftest import REPO

TINY_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def dev_results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench-audit") / "audit-results.json"
    assert bench_audit.main(["--runs", "1", "--timeout", str(TINY_TIMEOUT), "--stacks", "dev", "--out", str(out)]) == 0
    return {row["scenario"]: row for row in json.loads(out.read_text())["rows"]}


def test_the_results_file_has_every_scenario(dev_results):
    assert set(dev_results) == {scenario.name for scenario in bench_audit.SCENARIOS}
    for row in dev_results.values():
        assert row["exitCode"] == cli.EXIT_OK and row["goalSeconds"] == bench_audit.GOAL_SECONDS
        assert row["checks"] > 0 and len(row["slowest"]) <= bench_audit.SLOWEST and row["fakeFailures"] == []


def test_every_check_passes_when_every_host_answers(dev_results):
    # the world answers as a stack holding every lesson: anything but PASS is the bench's own bug
    for name in ("all-answer", "customer"):
        assert dev_results[name]["notPassing"] == [], name
        assert dev_results[name]["counts"]["PASS"] == dev_results[name]["results"]


def test_silent_hosts_give_warn_not_fail_nor_a_hang(dev_results):
    silent = dev_results["silent"]
    assert silent["silentHosts"] == ["ns1.example.org", "mail.example.org"]
    assert silent["silentResults"]["FAIL"] == 0 and silent["silentResults"]["WARN"] > 0
    assert silent["counts"]["FAIL"] == 0 and not silent["deadlineHit"]
    assert any(line.startswith("WARN smtp-banner mail.example.org 127.0.0.25:25") for line in silent["notPassing"])
    resolver = dev_results["silent-resolver"]
    assert resolver["counts"]["FAIL"] == 0 and resolver["counts"]["WARN"] > 0 and not resolver["deadlineHit"]


def test_a_silent_host_drops_connections_instead_of_refusing_them():
    with SilentHost("127.0.0.77", {25: 0}, {53: 0}) as host:
        with pytest.raises(TimeoutError):
            socket.create_connection(("127.0.0.77", host.tcp_ports[25]), timeout=TINY_TIMEOUT)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(TINY_TIMEOUT)
            client.sendto(b"query", ("127.0.0.77", host.udp_ports[53]))
            with pytest.raises(TimeoutError):
                client.recv(512)


@pytest.mark.parametrize("stack", bench_audit.STACKS)
def test_the_relocated_stack_is_contacted_only_on_loopback(stack):
    cfg = cli.load_config(stack, REPO, relocation(stack, REPO))
    expect = Expectation.from_config(cfg, stack)
    assert expect.name_servers and expect.mail_hosts and expect.web_names
    for address in {*expect.addresses, RESOLVER}:
        assert ipaddress.ip_address(address).is_loopback, address
