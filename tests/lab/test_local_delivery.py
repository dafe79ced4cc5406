"""The local transport of ServiceConfig: the same three steps as over SSH, run inside a local host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import rpc

from components.delivery import (
    ENTER_LOCAL_HOST,
    HostConnection,
    ManagedFile,
    ServiceConfig,
    ServiceConfigArgs,
    install_script,
    staging_path,
)

REPO = Path(__file__).resolve().parents[2]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _Monitor(pulumi.runtime.mocks.MockMonitor):
    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        self.mocks.resources.append((request.type, request.name, inputs))
        return response


def _register(files, checks, reload, connection) -> list[tuple[str, str, dict]]:
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="isp", stack="lab", preview=False, monitor=_Monitor(mocks))

    @pulumi.runtime.test
    def program():
        ServiceConfig("ns1-bind", ServiceConfigArgs(connection=connection, files=files, checks=checks, reload=reload))
        return pulumi.Output.from_input(1)

    program()
    return mocks.resources


def test_a_local_host_follows_the_stacks_conventions():
    connection = HostConnection.local("ns1.isp.test", "ns1", "lab", "/srv/isp")
    assert (connection.transport, connection.namespace, connection.root) == (
        "local", "isp-lab-ns1", "/srv/isp/build/lab/root/ns1")
    assert connection.interpreter() == ["/bin/sh", "-c", ENTER_LOCAL_HOST, "isp-host", "isp-lab-ns1",
                                        "/srv/isp/build/lab/root/ns1"]
    with pytest.raises(ValueError, match="network namespace"):
        HostConnection(host="x", user="root", private_key=None, transport="local", namespace="bad name", root="/r")
    with pytest.raises(ValueError, match="absolute root"):
        HostConnection(host="x", user="root", private_key=None, transport="local", namespace="ns", root="rel/../x")
    with pytest.raises(ValueError, match="over ssh"):
        HostConnection(host="x", user="deploy", private_key="k").interpreter()


def test_local_delivery_registers_local_commands_with_the_same_install_script():
    connection = HostConnection.local("ns1.isp.test", "ns1", "lab", "/srv/isp")
    files = [ManagedFile("/etc/bind/named.conf", "options { };\n", role="named.conf"),
             ManagedFile("/etc/bind/zones/db.isp.test", "zone data\n", role="db.isp.test")]
    checks = [["named-checkconf", staging_path("/etc/bind/named.conf")]]
    reload = [["rndc", "reload"]]
    resources = _register(files, checks, reload, connection)
    commands = {name: inputs for kind, name, inputs in resources if kind == "command:local:Command"}
    assert set(commands) == {"ns1-bind-staging", "ns1-bind-named.conf", "ns1-bind-db.isp.test", "ns1-bind-install"}
    assert not [kind for kind, _, _ in resources if kind.startswith("command:remote:")]
    assert all(c["interpreter"] == connection.interpreter() for c in commands.values())
    copy = commands["ns1-bind-named.conf"]
    assert copy["stdin"] == "options { };\n"
    assert copy["environment"] == {"ISP_HOST": "ns1.isp.test", "ISP_STAGED_PATH": "/etc/bind/isp-staging/named.conf"}
    # The install step is byte for byte the script the SSH transport runs.
    assert commands["ns1-bind-install"]["create"] == install_script(files, checks, reload)
    assert "/etc/bind/isp-staging" in commands["ns1-bind-staging"]["create"]


def _enter(namespace: str, root: Path, command: str) -> subprocess.CompletedProcess:
    argv = HostConnection(host="h", user="root", private_key=None, transport="local", namespace=namespace,
                          root=str(root)).interpreter()
    return subprocess.run([*argv, command], capture_output=True, text=True, timeout=30)


def test_entering_a_host_that_is_not_up_fails_without_running_anything(tmp_path: Path):
    marker = tmp_path / "ran"
    result = _enter("isp-test-none", tmp_path, f"touch {marker}")
    assert result.returncode != 0 and "is not up" in result.stderr and not marker.exists()
    (tmp_path / "host.pid").write_text(f"{os.getpid()}\n")
    result = _enter(f"isp-test-{uuid.uuid4().hex[:6]}", tmp_path, f"touch {marker}")
    assert result.returncode != 0 and "no network namespace" in result.stderr and not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_a_stale_pid_never_runs_a_command_in_the_machines_own_mount_namespace(tmp_path: Path):
    namespace = f"isp-t-{uuid.uuid4().hex[:6]}"
    added = subprocess.run(["ip", "netns", "add", namespace], capture_output=True, text=True, timeout=10)
    if added.returncode != 0:
        pytest.skip(f"no network namespace support here: {added.stderr.strip()}")
    holder = None
    try:
        marker = tmp_path / "ran"
        # A process in the machine's namespaces: wrong network namespace.
        (tmp_path / "host.pid").write_text(f"{os.getpid()}\n")
        result = _enter(namespace, tmp_path, f"touch {marker}")
        assert result.returncode != 0 and "does not hold its namespaces" in result.stderr
        # A process in the right network namespace but sharing our mount namespace: still refused.
        holder = subprocess.Popen(["ip", "netns", "exec", namespace, "nsenter", f"--mount=/proc/{os.getpid()}/ns/mnt",
                                   "--", "sleep", "30"])
        for _ in range(50):
            netns = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
            if str(holder.pid) in netns:
                break
            time.sleep(0.1)
        (tmp_path / "host.pid").write_text(f"{holder.pid}\n")
        result = _enter(namespace, tmp_path, f"touch {marker}")
        assert result.returncode != 0 and "does not hold its namespaces" in result.stderr
        assert not marker.exists()
    finally:
        if holder is not None:
            holder.kill()
            holder.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


def test_the_lab_stack_has_no_cloud_resources_and_dev_keeps_ssh(tmp_path: Path):
    documents = {}
    for stack in ("lab", "dev"):
        out = tmp_path / f"{stack}.json"
        result = subprocess.run(
            [sys.executable, "-m", "preflight", "preview", "--stack", stack, "--json", str(out),
             "--build-dir", str(tmp_path / "build")],
            cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        documents[stack] = json.loads(out.read_text())
    lab_types = {r["type"] for r in documents["lab"]["resources"]}
    assert "command:local:Command" in lab_types
    assert not {t for t in lab_types if t.startswith(("cloudflare:", "command:remote:"))}
    dev_types = {r["type"] for r in documents["dev"]["resources"]}
    assert "command:local:Command" not in dev_types and "command:remote:CopyToRemote" in dev_types
    # Our forward zone is served by the lab's BIND: its zone file is delivered to ns1.
    staged = [r["inputs"]["environment"]["ISP_STAGED_PATH"] for r in documents["lab"]["resources"]
              if r["type"] == "command:local:Command" and "ISP_STAGED_PATH" in r["inputs"].get("environment", {})]
    assert "/etc/bind/zones/isp-staging/db.isp.test" in staged


def test_every_lab_command_names_its_host_for_the_policy_pack(tmp_path):
    from tests.conftest import REPO, run_preflight

    result, document = run_preflight(REPO, "lab", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    commands = [r for r in document["resources"] if r["type"] == "command:local:Command"]
    assert commands and all(r["inputs"].get("environment", {}).get("ISP_HOST") for r in commands)
