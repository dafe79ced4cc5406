"""No lockout: the gateway ruleset admits the deploy's own SSH, and one that would not is refused.

In the program (the config model and `components.gateway`), then on the gateway itself: the apply
script (the delivery's reload), its revert timer and the confirm, run for real with nft in throwaway
network namespaces, and a real lockout played end to end: a ruleset that drops the deploy is applied,
a new connection cannot get through while the established one still can, the timer puts the old
ruleset back, and the confirm that then gets through fails, saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pulumi
import pytest

from components.config import ConfigError, parse_stack_config
from components.delivery import HostConnection
from components.gateway import (
    APPLY,
    CONFIRM,
    REVERT,
    GatewayArgs,
    LockoutError,
    NatMapping,
    confirm_argv,
    deploy_path,
    ruleset_for,
)
from components.render.nftables import render_gateway_ruleset
from tests.components.render.conftest import Namespaces
from tests.conftest import project_copy, require_tool, run_preflight

DEPLOY, GATEWAY_WAN = "192.0.2.2", "192.0.2.1"


def _gateway_args(cfg, **change) -> GatewayArgs:
    gw = cfg.hosts_with("gateway")[0]
    return GatewayArgs(
        connection=HostConnection(host="gw.example.net", user="deploy", private_key=pulumi.Output.secret("K")),
        gateway=cfg.gateway,
        deploy=deploy_path(cfg),
        public_address=str(gw.public_address),
        server_networks=[str(n) for n in cfg.networks.servers],
        customer_pools=["203.0.113.0/25"],
        mail_nat=[NatMapping(private_address="10.20.0.25", public_address="198.51.100.25")],
        host_nat=[NatMapping(private_address="10.20.0.11", public_address="198.51.100.11")],
        submission_ports=[587, 465],
        **change,
    )


def _host(values: dict, name: str) -> dict:
    return next(h for h in values["hosts"] if h["name"] == name)


# ---------------------------------------------------------------- in the program


def test_the_ruleset_admits_each_hosts_own_ssh_port(prod_values):
    """The hole: a gateway on sshPort 2222 got `tcp dport 22` and dropped the deploy's own connection."""
    _host(prod_values, "gw")["sshPort"] = 2222
    _host(prod_values, "mail")["sshPort"] = 2200
    cfg = parse_stack_config(prod_values)
    ruleset = ruleset_for(_gateway_args(cfg))
    input_chain = ruleset[ruleset.index("chain input"):ruleset.index("chain forward")]
    assert "ip saddr @management_v4 tcp dport 2222 accept" in input_chain
    assert "dport 22 " not in input_chain
    forward = ruleset[ruleset.index("chain forward"):ruleset.index("chain output")]
    assert "ip saddr @management_v4 ip daddr 10.20.0.25 tcp dport 2200 accept" in forward
    assert "ip6 saddr @management_v6 ip6 daddr 2001:db8:100::25 tcp dport 2200 accept" in forward
    assert "ip saddr @management_v4 ip daddr 10.20.0.50 tcp dport 22 accept" in forward  # db1: private only
    assert forward.index("dport 2200 accept") < forward.index("counter reject")


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        ([], "isp:gateway.managementNetworks = []: admits nobody"),
        (["10.20.0.0/24", "127.0.0.0/8"], "[1] 127.0.0.0/8 is loopback space"),
        (["::1/128"], "loopback"),
        (["224.0.0.0/4"], "multicast"),
        (["0.0.0.0/8"], "unspecified"),
        (["169.254.0.0/16"], "link-local"),
        (["fe80::/10"], "link-local"),
        (["240.0.0.0/4"], "reserved"),
    ],
)
def test_management_networks_no_deploy_can_come_from_are_refused(prod_values, networks, expected):
    prod_values["gateway"] = {"managementNetworks": networks}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(prod_values)
    assert "isp:gateway.managementNetworks" in str(refused.value) and expected in str(refused.value)


@pytest.mark.parametrize("networks", [["0.0.0.0/0"], ["0.0.0.0/1"], ["::/0", "192.0.2.0/28"], ["198.18.0.0/15"]])
def test_wide_or_unusual_management_networks_are_not_a_lockout(prod_values, networks):
    prod_values["gateway"] = {"managementNetworks": networks}
    ruleset_for(_gateway_args(parse_stack_config(prod_values)))


def test_ipv6_only_management_for_an_ipv4_only_gateway_is_refused(prod_values):
    prod_values["gateway"] = {"managementNetworks": ["2001:db8:ff::/48"]}
    _host(prod_values, "gw")["sshPort"] = 2222
    args = _gateway_args(parse_stack_config(prod_values))
    with pytest.raises(LockoutError) as refused:
        ruleset_for(args)
    assert str(refused.value) == (
        'isp:gateway.managementNetworks = ["2001:db8:ff::/48"]: lists no IPv4 network, and gw (isp:hosts[0]) is '
        "reached over IPv4 only: would drop the deploy's own SSH connection to gw (port 2222)"
    )
    # With an IPv6 address of its own, the gateway can be reached from there.
    _host(prod_values, "gw")["publicAddress6"] = "2001:db8:100::1"
    assert "tcp dport 2222 accept" in ruleset_for(_gateway_args(parse_stack_config(prod_values)))


def test_a_lockout_exits_2_and_registers_nothing(tmp_path):
    def lock_out(config: dict) -> None:
        config["isp:gateway"] = {"managementNetworks": ["2001:db8:ff::/48"]}
        next(h for h in config["isp:hosts"] if "gateway" in h["roles"])["sshPort"] = 2222

    result, document = run_preflight(project_copy(tmp_path, "dev", lock_out), "dev", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Pulumi.dev.yaml" in result.stderr
    assert "would drop the deploy's own SSH connection to gw (port 2222)" in result.stderr
    assert [r["type"] for r in document.get("resources", [])] in ([], ["pulumi:pulumi:Stack"])


# ---------------------------------------------------------------- on the gateway: apply, revert, confirm


@pytest.fixture
def namespaces():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    require_tool("nft")
    for tool in ("ip", "flock", "setsid", "unshare"):
        require_tool(tool)
    made = Namespaces()
    try:
        yield made
    finally:
        # Our revert timers run inside the namespaces: end them (their process group) before the namespaces go.
        for name in made.names:
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
        made.delete_all()


# The live ruleset before an apply: one a revert must bring back.
OLD = "flush ruleset\ntable inet before {\n\tchain input { type filter hook input priority 0; policy accept; }\n}\n"


def _ruleset(management: list[str], ssh_port: int = 2222) -> str:
    return render_gateway_ruleset(
        wan_interface="wan0", lan_interfaces=["srv0"], customer_pools=[], server_networks=["10.20.0.0/24"],
        mail_hosts=[], public_address="198.51.100.1", own_mail_submission_ports=(587,),
        ssh_management_networks=management, ssh_port=ssh_port,
    )


class Gateway:
    """A gateway namespace with a live ruleset, its ruleset file and the apply's state directory."""

    def __init__(self, netns: Namespaces, tmp_path: Path) -> None:
        self.netns, self.ns = netns, netns.add()
        self.conf, self.state = tmp_path / "nftables.conf", tmp_path / "state"
        self.conf.write_text(OLD)
        self.netns.run(self.ns, "nft", "-f", str(self.conf))

    def tables(self) -> list[str]:
        listing = json.loads(self.netns.run(self.ns, "nft", "-j", "list", "tables").stdout)["nftables"]
        return sorted(item["table"]["name"] for item in listing if "table" in item)

    def apply(self, text: str, *, seconds: int = 3, transport: str = "local", port: int = 2222,
              ssh_connection: str | None = None) -> subprocess.CompletedProcess:
        self.conf.write_text(text)
        env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
        if ssh_connection:
            env["SSH_CONNECTION"] = ssh_connection  # what sshd sets for the install's session
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, "sh", "-c", APPLY, "isp-nft-apply", str(self.conf), str(self.state),
             str(seconds), transport, str(port), REVERT],
            capture_output=True, text=True, timeout=60, env=env,
        )

    def confirm(self, text: str) -> subprocess.CompletedProcess:
        argv = confirm_argv(text, "gw-nftables-install")
        argv[4] = str(self.state)
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True, text=True, timeout=60)

    def outcome(self) -> str:
        path = self.state / "outcome"
        return path.read_text().split()[0] if path.exists() else ""


def _timer_alive(gateway: Gateway) -> bool:
    """Is a revert timer (its sh or its sleep) still running in the gateway's namespace?"""
    alive = False
    for pid in subprocess.run(["ip", "netns", "pids", gateway.ns], capture_output=True, text=True).stdout.split():
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        alive |= f"{gateway.state}/revert.sh".encode() in command_line or command_line.startswith(b"sleep")
    return alive


def test_a_confirmed_ruleset_stays(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    new = _ruleset(["192.0.2.0/24"])
    applied = gateway.apply(new)
    assert applied.returncode == 0, applied.stderr
    assert gateway.tables() == ["filter", "nat"] and _timer_alive(gateway)
    assert (gateway.state / "pending").exists() and oct(gateway.state.stat().st_mode)[-3:] == "700"
    # The timer holds no lock while it waits: the confirm (and the next apply) get in at once.
    assert subprocess.run(["flock", "-n", str(gateway.state / "lock"), "true"], timeout=10).returncode == 0
    confirmed = gateway.confirm(new)
    assert confirmed.returncode == 0, confirmed.stderr
    assert not _timer_alive(gateway)  # stopped, not left to wake up
    time.sleep(4)
    assert gateway.tables() == ["filter", "nat"] and gateway.conf.read_text() == new
    assert gateway.outcome() == "confirmed" and gateway.confirm(new).returncode == 0  # a re-run agrees


def test_an_unconfirmed_ruleset_is_put_back_and_the_confirm_then_fails(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    new = _ruleset(["192.0.2.0/24"])
    assert gateway.apply(new).returncode == 0
    assert gateway.tables() == ["filter", "nat"]
    time.sleep(5)
    assert gateway.tables() == ["before"]  # the live ruleset before the apply
    restored = gateway.conf.read_text()
    assert "table inet before" in restored and "management_v4" not in restored  # a reboot loads the old one too
    namespaces.run(gateway.ns, "nft", "-c", "-f", str(gateway.conf))
    assert (gateway.state / "refused.nft").read_text() == new
    late = gateway.confirm(new)
    assert late.returncode == 1 and "put the previous ruleset back" in late.stderr
    assert "isp:gateway.managementNetworks" in late.stderr and "gw-nftables-install" in late.stderr


def test_a_second_apply_while_one_waits_keeps_the_last_confirmed_ruleset(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    first, second = _ruleset(["192.0.2.0/24"]), _ruleset(["192.0.2.0/25"])
    assert gateway.apply(first, seconds=30).returncode == 0
    assert gateway.apply(second).returncode == 0  # the first apply's timer is stopped, its target kept
    time.sleep(5)
    assert gateway.tables() == ["before"]  # not `first`, which nobody confirmed
    assert gateway.confirm(first).returncode == 1


def test_a_ruleset_nft_refuses_changes_nothing(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    failed = gateway.apply("flush ruleset\ntable inet broken { chain c { tcp dport 99999 accept; } }\n")
    assert failed.returncode == 1 and "live ruleset is unchanged" in failed.stderr
    assert gateway.tables() == ["before"] and not (gateway.state / "pending").exists()
    assert not _timer_alive(gateway)


@pytest.mark.parametrize(
    ("ssh_connection", "refusal"),
    [
        (f"{DEPLOY} 50000 {GATEWAY_WAN} 22", "on port 22, but the new ruleset admits SSH on port 2222"),
        (f"203.0.113.9 50000 {GATEWAY_WAN} 2222", "the deploy connects from 203.0.113.9, which none of"),
        ("2001:db8:ff::7 50000 2001:db8::1 2222", "the deploy connects from 2001:db8:ff::7"),
    ],
)
def test_the_deploys_own_connection_is_checked_before_anything_changes(namespaces, tmp_path, ssh_connection,
                                                                      refusal):
    gateway = Gateway(namespaces, tmp_path)
    refused = gateway.apply(_ruleset(["192.0.2.0/24"]), transport="ssh", ssh_connection=ssh_connection)
    assert refused.returncode == 1 and refusal in refused.stderr and "nothing was changed" in refused.stderr
    assert gateway.tables() == ["before"] and not (gateway.state / "pending").exists()


def test_the_deploys_own_connection_admitted_applies(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    for connection in (f"{DEPLOY} 50000 {GATEWAY_WAN} 2222", f"::ffff:{DEPLOY} 50000 {GATEWAY_WAN} 2222"):
        new = _ruleset(["192.0.2.0/24"])
        applied = gateway.apply(new, transport="ssh", ssh_connection=connection)
        assert applied.returncode == 0, applied.stderr
        assert gateway.confirm(new).returncode == 0
        assert gateway.tables() == ["filter", "nat"]


def test_a_state_directory_of_another_owner_is_refused(namespaces, tmp_path):
    gateway = Gateway(namespaces, tmp_path)
    gateway.state.mkdir()
    os.chown(gateway.state, 65534, 65534)
    refused = gateway.apply(_ruleset(["192.0.2.0/24"]))
    assert refused.returncode == 1 and "not a directory of this user's own" in refused.stderr
    assert gateway.tables() == ["before"]


# ---------------------------------------------------------------- a real lockout, end to end

# The deploy's side: the install's connection stays open while the ruleset changes; the confirm then
# dials anew, again and again, as pulumi-command does, and runs CONFIRM on the gateway when it gets in.
DEPLOY_CLIENT = r"""
import json, socket, sys, time
gateway, port, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held = socket.create_connection((gateway, port), timeout=2)
held.sendall(b"hold\n"); reader = held.makefile()
assert reader.readline().strip() == "held"
print("ready", flush=True)
sys.stdin.readline()  # the ruleset is applied now
start, report = time.monotonic(), {"attempts": 0}
held.settimeout(1)
held.sendall(b"ping\n")
try:
    report["established"] = reader.readline().strip()
except OSError:
    report["established"] = "stalled"
deadline = start + budget
while time.monotonic() < deadline:
    report["attempts"] += 1
    try:
        with socket.create_connection((gateway, port), timeout=1) as fresh:
            fresh.sendall(b"confirm\n")
            report["confirm"] = json.loads(fresh.makefile().readline())
            report["after"] = round(time.monotonic() - start, 1)
            break
    except OSError:
        time.sleep(0.2)
print(json.dumps(report), flush=True)
"""

# The gateway's side: stands for sshd; each new connection either holds (the install's) or confirms.
GATEWAY_SERVER = r"""
import json, socket, subprocess, sys, threading
argv = json.loads(sys.argv[2])
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1]))); server.listen(8)
print("ready", flush=True)
def serve(connection):
    reader = connection.makefile()
    for line in reader:
        if line.strip() == "hold":
            connection.sendall(b"held\n")
        elif line.strip() == "ping":
            connection.sendall(b"pong\n")
        elif line.strip() == "confirm":
            done = subprocess.run(argv, capture_output=True, text=True)
            connection.sendall((json.dumps([done.returncode, done.stderr]) + "\n").encode()); break
    connection.close()
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""


@pytest.mark.parametrize("before", ["our ruleset", "no ruleset tracking connections"])
def test_a_ruleset_that_drops_the_deploy_is_put_back_and_the_deploy_fails(namespaces, tmp_path, before):
    gateway = Gateway(namespaces, tmp_path)
    good = _ruleset(["192.0.2.0/24"])
    if before == "our ruleset":  # a redeploy: the live ruleset admits the deploy and tracks its connections
        assert gateway.apply(good).returncode == 0 and gateway.confirm(good).returncode == 0
    deploy = namespaces.add()
    subprocess.run(["ip", "link", "add", "wan0", "netns", gateway.ns, "type", "veth", "peer", "name", "eth0",
                    "netns", deploy], check=True, capture_output=True, timeout=10)
    for ns, device, address in ((gateway.ns, "wan0", GATEWAY_WAN), (deploy, "eth0", DEPLOY)):
        namespaces.run(ns, "ip", "addr", "add", f"{address}/24", "dev", device)
        namespaces.run(ns, "ip", "link", "set", device, "up")
    locking = _ruleset(["198.18.0.0/15"])  # a management network the deploy is not in
    confirm = confirm_argv(locking, "gw-nftables-install")
    confirm[4] = str(gateway.state)
    server = namespaces.popen(gateway.ns, sys.executable, "-c", GATEWAY_SERVER, "2222", json.dumps(confirm),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = None
    try:
        assert server.stdout.readline().strip() == "ready"
        client = namespaces.popen(deploy, sys.executable, "-c", DEPLOY_CLIENT, GATEWAY_WAN, "2222", "20",
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "ready", client.stderr.read()
        # As the install does: over the deploy's connection (local transport: no pre-check to stop it).
        assert gateway.apply(locking, seconds=4).returncode == 0
        client.stdin.write("go\n")
        client.stdin.flush()
        line = client.stdout.readline()
        assert line, client.stderr.read()
        report = json.loads(line)
    finally:
        for process in (client, server):
            if process is not None:
                process.kill()
                process.wait(timeout=10)
    # The install's own connection survives where the old ruleset tracked it; on a gateway whose ruleset
    # tracked nothing (a first deploy over Debian's default) its next packet counts as new and stalls
    # until the revert.
    assert report["established"] == ("pong" if before == "our ruleset" else "stalled")
    assert report["attempts"] > 2 and report["after"] >= 3  # new connections were dropped until the revert
    returncode, stderr = report["confirm"]
    assert returncode == 1 and "put the previous ruleset back" in stderr
    if before == "our ruleset":
        live = namespaces.run(gateway.ns, "nft", "list", "set", "inet", "filter", "management_v4").stdout
        assert "192.0.2.0/24" in live  # our previous ruleset, live again
        assert gateway.conf.read_text().count("192.0.2.0/24") == 1
    else:
        assert gateway.tables() == ["before"]


def test_scripts_are_posix_sh():
    for script in (APPLY, REVERT, CONFIRM):
        checked = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10)
        assert checked.returncode == 0, checked.stderr


def test_the_confirmed_ruleset_applied_again_needs_no_confirm(namespaces, tmp_path):
    """An install run again (or a failed delivery's rollback) re-applies the confirmed ruleset: no timer."""
    gateway = Gateway(namespaces, tmp_path)
    good = _ruleset(["192.0.2.0/24"])
    assert gateway.apply(good).returncode == 0 and gateway.confirm(good).returncode == 0
    again = gateway.apply(good)
    assert again.returncode == 0 and "nothing to confirm" in again.stdout
    assert not (gateway.state / "pending").exists() and not _timer_alive(gateway)
    # Not when the live ruleset changed since the confirm (a hand edit): that apply is confirmed again.
    namespaces.run(gateway.ns, "nft", "add", "table", "inet", "by_hand")
    changed = gateway.apply(good)
    assert changed.returncode == 0 and "unless a new connection confirms it" in changed.stdout
    assert (gateway.state / "pending").exists() and gateway.confirm(good).returncode == 0
