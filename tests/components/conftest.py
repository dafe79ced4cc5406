"""Components under Pulumi's own mocks: every registration recorded for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pytest
from pulumi.runtime import rpc


@dataclass
class Recorded:
    type: str
    name: str
    parent: str
    protect: bool
    inputs: dict
    depends: list[str] = field(default_factory=list)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        self.mocks.resources.append(
            Recorded(request.type, request.name, request.parent, request.protect, inputs, list(request.dependencies))
        )
        return response


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="isp", stack="test", preview=False, monitor=RecordingMonitor(recording))
    return recording


def delivered_files(mocks) -> dict[str, str]:
    """remote path -> text of every file a CopyToRemote registered under the mocks delivers."""
    return {r.inputs["remotePath"]: r.inputs["source"].text for r in mocks.resources
            if r.type == "command:remote:CopyToRemote" and hasattr(r.inputs["source"], "text")}


def resource_named(mocks, name: str):
    return next(r for r in mocks.resources if r.name == name)


def depends_on(resource, name: str) -> bool:
    """Whether `resource` depends on the resource named `name` (by URN suffix)."""
    return any(d.endswith(f"::{name}") for d in resource.depends)
