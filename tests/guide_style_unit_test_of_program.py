"""__main__.py unit-tested the way Pulumi's testing guide teaches (https://www.pulumi.com/docs/iac/guides/testing/unit/):
mocks set at import with `pulumi.runtime.set_mocks(..., preview=False)`, the stack's config set with
`pulumi.runtime.set_all_config`, the program run inside a `@pulumi.runtime.test` function, assertions through
its outputs.

The suite does not collect this file (setting the mocks at import would reach every other test):
tests/test_program_under_mocks.py runs it with pytest once per stack, each in a process of its own (the
runtime keeps global state), with ISP_STACK naming the stack and ISP_REGISTRATIONS a file that receives
every registration the mocks saw, for comparison with preflight's.
"""

from __future__ import annotations

import json
import os
import re
import runpy
from pathlib import Path

import pulumi
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
STACK = os.environ["ISP_STACK"]


def placeholder(key: str) -> str:
    """A stand-in for a `secure:` value, which cannot be decrypted here: letters, digits and `-`, as a token."""
    return "placeholder-" + re.sub(r"[^A-Za-z0-9]+", "-", key) + "-0123456789abcdef"


def stack_config(stack: str) -> tuple[dict[str, str], list[str]]:
    """(config, secret keys) as the CLI hands them to a program: Pulumi.yaml's project config (`default` for
    the project's own keys, `value` for other namespaces) overridden by Pulumi.<stack>.yaml; objects,
    lists, booleans and numbers as JSON; `secure:` values as placeholders, marked secret."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    values: dict[str, object] = {}
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{project['name']}:{key}"
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            values[full] = spec.get("default", spec.get("value"))
        elif not isinstance(spec, dict):
            values[full] = spec
    secrets = []
    for key, value in (yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"] or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = placeholder(key)
            secrets.append(key)
        values[key] = value
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}, secrets


class IspMocks(pulumi.runtime.Mocks):
    """Every resource gets `<name>_id` and its inputs as outputs, as the guide's mocks do; invokes return nothing."""

    def __init__(self) -> None:
        self.registered: list[dict[str, str]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append({"type": args.typ, "name": args.name})
        return [f"{args.name}_id", args.inputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


mocks = IspMocks()
pulumi.runtime.set_mocks(mocks, project="isp", stack=STACK, preview=False)
pulumi.runtime.set_all_config(*stack_config(STACK))


@pytest.fixture(scope="module", autouse=True)
def registrations_written():
    """Hand every registration to the parent test once the program's test has awaited them all."""
    yield
    Path(os.environ["ISP_REGISTRATIONS"]).write_text(json.dumps(mocks.registered))


@pulumi.runtime.test
def test_program_registers_its_components_in_this_stack():
    program = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
    parts = program["parts"]
    assert parts, "the program registered no component"

    def check(urns: list[str]) -> None:
        prefix = f"urn:pulumi:{STACK}::isp::"
        assert all(urn.startswith(prefix) for urn in urns), urns
        assert len(set(urns)) == len(urns)

    return pulumi.Output.all(*(part.urn for part in parts)).apply(check)
