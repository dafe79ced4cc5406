"""Property-based: any mutation of a valid stack config parses, or fails with the clear error.

Never a traceback of another kind, and a value that passes is one no rendered file can
misread: no newline, quote, brace or semicolon survives into a name, an address or a path.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, StackConfig, parse_stack_config
from tests.conftest import REPO, stack_values

BASE = {stack: stack_values(stack) for stack in ("dev", "prod")}
HOSTILE = [
    "",
    " ",
    "\n",
    "a\nb",
    "ns1\n",
    "example.net\n",
    "10.0.0.0/8\n",
    ";",
    "}",
    "{",
    '"',
    "'",
    "$(reboot)",
    "`id`",
    "\\",
    "\x00",
    "é",
    "x" * 300,
    "10.0.0.0/8; any",
    "any",
    "0.0.0.0/0",
    "-1",
    "1e9",
    "@",
    "*",
    ".",
    "..",
    "/etc/passwd",
]

scalars = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


def _set(node: Any, path: tuple, value: Any, action: str) -> None:
    *parents, last = path
    for step in parents:
        node = node[step]
    if action == "delete":
        del node[last]
    elif action == "duplicate" and isinstance(node, list):
        node.append(copy.deepcopy(node[last]))
    else:
        node[last] = value


@st.composite
def mutated_configs(draw) -> dict:
    config = copy.deepcopy(BASE[draw(st.sampled_from(sorted(BASE)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(config)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
        try:
            _set(config, path, draw(values), action)
        except (KeyError, IndexError, TypeError):
            continue
    if draw(st.booleans()):
        config[draw(st.sampled_from(["bogus", "hosts2", "Zones"]))] = draw(values)
    return config


UNSAFE = re.compile(r"[\n\r\x00;{}\"'`$\\]")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list | tuple):
        return [s for value in node for s in _strings(value)]
    return []


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutated_config_parses_or_fails_clearly(config):
    try:
        parsed = parse_stack_config(config, "Pulumi.fuzz.yaml")
    except ConfigError as error:
        message = str(error)
        assert message.startswith("Pulumi.fuzz.yaml: invalid stack config:\n  - ")
        assert all(line.strip().startswith("- isp:") for line in message.splitlines()[1:] if line.startswith("  - "))
        return
    assert isinstance(parsed, StackConfig)
    dumped = parsed.model_dump(mode="json", by_alias=True)
    for pool in dumped["networks"]["customerPools"]:
        pattern = pool.pop("ptrPattern")  # a template: its {placeholders} are checked by formatting it
        assert not UNSAFE.search(pattern.replace("{", "").replace("}", "")), pattern
    for key in ("hosts", "networks", "organization"):
        for text in _strings(dumped[key]):
            # Names, addresses and mailboxes: nothing that could close or add a directive.
            assert not UNSAFE.search(text) or key == "organization", text
    for zone in dumped["zones"]:
        for record in zone["records"]:
            assert "\n" not in record["content"] and "\x00" not in record["content"]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(mutated_configs())
def test_mutated_config_end_to_end_through_preflight(tmp_path_factory, config):
    """Exit 0 with every host file accepted, or exit 2 with the message and nothing registered."""
    project = tmp_path_factory.mktemp("fuzz")
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(REPO / name, project)
    shutil.copytree(REPO / "components", project / "components", ignore=shutil.ignore_patterns("__pycache__"))
    stack = {"config": {f"isp:{key}": value for key, value in config.items()}}
    stack["config"]["isp:sshPrivateKey"] = {"secure": "v1:AAAA:BBBB"}
    (project / "Pulumi.fuzz.yaml").write_text(yaml.safe_dump(stack))
    out = project / "out.json"
    result = subprocess.run(
        [sys.executable, "-m", "preflight", "preview", "--stack", "fuzz", "--cwd", str(project), "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    document = json.loads(out.read_text())
    if result.returncode == 2:
        assert "Pulumi.fuzz.yaml" in result.stderr or "isp:" in result.stderr, result.stderr
        assert [r["type"] for r in document["resources"]] in ([], ["pulumi:pulumi:Stack"])
