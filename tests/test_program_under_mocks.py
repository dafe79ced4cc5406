"""The program under Pulumi's own unit-test pattern, for dev, prod and lab.

tests/guide_style_unit_test_of_program.py is a test file written as Pulumi's testing guide teaches
(https://www.pulumi.com/docs/iac/guides/testing/unit/): `set_mocks(..., preview=False)` at import, the
stack's config set, `__main__.py` run inside `@pulumi.runtime.test`, assertions through outputs. It runs
here with pytest, once per stack in a process of its own (the runtime keeps global state), and what its
mocks registered is compared with what `python -m preflight preview --json` registers for the stack and
with what the stack's config names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_preflight

STACKS = ["dev", "prod", "lab"]
GUIDE_STYLE_TEST = REPO / "tests" / "guide_style_unit_test_of_program.py"
# The component a host's first role makes of it (components/stack.py).
COMPONENT_OF_ROLE = {
    "gateway": "isp:network:Gateway",
    "dns": "isp:dns:NameServer",
    "mail": "isp:mail:MailHost",
    "web": "isp:web:WebHost",
    "webmail": "isp:web:WebHost",
    "db": "isp:db:DatabaseBackup",
}


def run_guide_style_test(stack: str, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ISP_STACK": stack, "ISP_REGISTRATIONS": str(out)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-W", "ignore::DeprecationWarning",
         str(GUIDE_STYLE_TEST)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Per stack: the guide-style pytest run, the registrations its mocks saw, and preflight's JSON document."""
    found = {}
    for stack in STACKS:
        tmp = tmp_path_factory.mktemp(stack)
        out = tmp / "registrations.json"
        guided = run_guide_style_test(stack, out)
        _, document = run_preflight(REPO, stack, tmp)
        found[stack] = {
            "run": guided,
            "registered": json.loads(out.read_text()) if out.exists() else [],
            "preflight": document,
        }
    return found


def stack_values(stack: str) -> dict:
    return yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_guide_style_test_passes(runs, stack):
    run = runs[stack]["run"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
    assert "RunError" not in run.stdout + run.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_the_mocks_see_every_resource_preflight_registers(runs, stack):
    document = runs[stack]["preflight"]
    assert document.get("resources"), f"preflight registered nothing for {stack}"
    # The SDK registers neither the Stack nor default providers through Mocks.new_resource (the engine makes
    # default providers; set_mocks' monitor answers the Stack itself).
    expected = Counter(
        (resource["type"], resource["name"])
        for resource in document["resources"]
        if resource["type"] != "pulumi:pulumi:Stack"
        and not (resource["type"].startswith("pulumi:providers:") and resource["name"].startswith("default"))
    )
    seen = Counter((resource["type"], resource["name"]) for resource in runs[stack]["registered"])
    assert seen == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_zone_and_host_the_config_names_is_registered(runs, stack):
    registered = {(resource["type"], resource["name"]) for resource in runs[stack]["registered"]}
    config = stack_values(stack)
    zones = [zone["name"] for zone in config["isp:zones"]]
    hosts = config["isp:hosts"]
    assert zones and hosts
    name_servers = [host["name"] for host in hosts if "dns" in host["roles"]]
    for zone in zones:
        if config.get("isp:delivery") == "local":  # the lab: our BIND serves the forward zones, no Cloudflare
            for server in name_servers:
                assert ("command:local:Command", f"{server}-bind-db.{zone}") in registered
        else:
            assert ("isp:dns:DnsZone", zone) in registered
            assert ("cloudflare:index/zone:Zone", f"{zone}-zone") in registered
    for host in hosts:
        assert (COMPONENT_OF_ROLE[host["roles"][0]], host["name"]) in registered
