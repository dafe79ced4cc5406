"""The pack started as the Pulumi CLI starts it (`python -m pulumi.policy <engine> <packDir>`, cwd =
the pack), spoken to over gRPC on loopback, then stopped. Proves __main__.py assembles the pack
and that its modules import from the pack directory alone."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pack_builders import ASSET, SECRET, SIG, urn
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def start_pack() -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PULUMI_PROJECT="isp", PULUMI_STACK="dev", PULUMI_DRY_RUN="true")
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
                               cwd=PACK_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            line = process.stdout.readline().decode().strip()
            if line.isdigit():
                return process, int(line)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the pack did not start: {process.stderr.read().decode()[-2000:]}")


def test_pack_serves_its_twenty_four_policies_and_judges_a_stack() -> None:
    process, port = start_pack()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            assert info.name == "isp-lessons" and len(info.policies) == 24
            props = struct_pb2.Struct()
            props.update({"connection": {SIG: SECRET, "value": {"host": "10.0.0.53"}},
                          "source": {SIG: ASSET, "text": "options { allow-query { any; }; };"},
                          "remotePath": "/etc/bind/named.conf"})
            rtype = "command:remote:CopyToRemote"
            resource = proto.AnalyzerResource(type=rtype, name="named", urn=urn("dev", rtype, "named"),
                                              properties=props)
            response = stub.AnalyzeStack(proto.AnalyzeStackRequest(resources=[resource]), timeout=60)
            names = {d.policyName for d in response.diagnostics}
            # No gateway ruleset in this stack: lesson 1 is unenforced. The host's BIND configuration is open.
            assert {"customer-smtp-egress-blocked", "no-open-recursion"} <= names
            analyzed = stub.Analyze(proto.AnalyzeRequest(type=rtype, name="named", urn=resource.urn,
                                                         properties=props), timeout=60)
            assert [d.policyName for d in analyzed.diagnostics] == []  # judged per host, in AnalyzeStack
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
