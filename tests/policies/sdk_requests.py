"""Helpers for the pack's SDK tests: the servicer a PolicyPack would serve, and the protobuf
resources the engine sends it (AnalyzeStack / Analyze requests)."""

from __future__ import annotations

from typing import Any

import lessons
from google.protobuf import struct_pb2
from pack_builders import ASSET, SECRET, SIG, UNKNOWN, urn
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_ASSET_VALUE

POLICIES = [declaration.policy() for declaration in lessons.declarations()]


def servicer() -> _PolicyAnalyzerServicer:
    return _PolicyAnalyzerServicer("isp-lessons", "0.1.0", POLICIES, EnforcementLevel.ADVISORY)


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


def stack_resource(rtype: str, name: str, props: dict, stack: str = "dev", protect: bool = False,
                   deps: dict[str, list[str]] | None = None) -> proto.AnalyzerResource:
    return proto.AnalyzerResource(
        type=rtype, name=name, urn=urn(stack, rtype, name), properties=struct(props),
        options=proto.AnalyzerResourceOptions(protect=protect),
        propertyDependencies={k: proto.AnalyzerPropertyDependencies(urns=v) for k, v in (deps or {}).items()})


def copy(name: str, host: str, path: str, text: Any) -> proto.AnalyzerResource:
    source = {SIG: ASSET, "text": text} if text is not UNKNOWN else UNKNOWN_ASSET_VALUE
    return stack_resource("command:remote:CopyToRemote", name, {
        "connection": {SIG: SECRET, "value": {"host": host, "user": "deploy", "privateKey": "k"}},
        "source": source, "remotePath": path, "triggers": [UNKNOWN]})


def diagnostics(response) -> list[tuple[str, str, int, int]]:
    return sorted((d.policyName, d.message, d.enforcementLevel, d.severity) for d in response.diagnostics)
