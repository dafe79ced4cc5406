"""all_registered under Pulumi's mocks: it returns only when every resource below the components is registered."""

from __future__ import annotations

import asyncio
import time

import pulumi
import pytest

from components.registrations import all_registered, end_with_one_wait
from tests.components.conftest import RecordingMocks, RecordingMonitor

SLOW_SECONDS = 0.3


class SlowMonitor(RecordingMonitor):
    """Registers `slow` resources only after a pause, as an engine creating them would."""

    def RegisterResource(self, request):
        if request.name.startswith("slow"):
            time.sleep(SLOW_SECONDS)
        return super().RegisterResource(request)


class Outer(pulumi.ComponentResource):
    def __init__(self, name: str, *, failing: bool = False) -> None:
        super().__init__("test:index:Outer", name)
        inner = pulumi.ComponentResource("test:index:Inner", f"{name}-inner", opts=pulumi.ResourceOptions(parent=self))
        pulumi.CustomResource("test:index:Leaf", "slow-grandchild", {"value": "x"},
                              opts=pulumi.ResourceOptions(parent=inner))
        value = pulumi.Output.from_input("x").apply(_refuse) if failing else "x"
        pulumi.CustomResource("test:index:Leaf", f"{name}-child", {"value": value},
                              opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def _refuse(value: str) -> str:
    raise ValueError(f"refused {value!r}")


@pytest.fixture
def slow_mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="isp", stack="test", preview=True, monitor=SlowMonitor(recording))
    return recording


def test_returns_after_grandchildren_are_registered(slow_mocks):
    seen_when_returned: list[str] = []

    @pulumi.runtime.test
    def run():
        outer = Outer("outer")

        async def wait():
            await all_registered([outer])
            seen_when_returned.extend(r.name for r in slow_mocks.resources)

        return asyncio.ensure_future(wait())

    run()
    # The grandchild's registration is the slowest, and two levels below the component passed in.
    assert "slow-grandchild" in seen_when_returned
    assert {"outer", "outer-inner", "outer-child"} <= set(seen_when_returned)


def test_a_failed_registration_is_left_for_the_sdk_to_report(slow_mocks):
    returned = []

    @pulumi.runtime.test
    def run():
        outer = Outer("outer", failing=True)

        async def wait():
            await all_registered([outer])
            returned.append(True)

        return asyncio.ensure_future(wait())

    with pytest.raises(Exception, match="refused 'x'"):
        run()
    assert returned == [True]
    assert "outer-child" not in {r.name for r in slow_mocks.resources}


def test_end_with_one_wait_under_set_mocks_leaves_the_wait_to_the_test(slow_mocks):
    @pulumi.runtime.test
    def run():
        outer = Outer("outer")
        end_with_one_wait([outer])  # set_mocks' Stack takes no entrypoint: no RunError
        return outer.urn

    run()
    assert "slow-grandchild" in [r.name for r in slow_mocks.resources]
