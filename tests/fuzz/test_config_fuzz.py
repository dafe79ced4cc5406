"""Property-based: any mutation of a valid stack config parses, or fails with the clear error.

Never a traceback of another kind, and a value that passes is one no rendered file can
misread: no newline, quote, brace or semicolon survives into a name, an address or a path.

Per field (`test_a_config_value_is_refused_naming_its_key_or_renders`): every leaf of StackConfig,
read from the model (config_leaves.py), gets hostile values built from each target format's
metacharacters and ipaddress's lenient corners. Each is refused with one paragraph naming its key,
or accepted canonical (the model round-trips through its own text; addresses are their canonical
spelling) and the whole stack renders through the program's own plan (components/stack.py), where
a renderer's refusal must name a key too. `FUZZ_EXAMPLES=n` tries n values per field;
`FUZZ_REPORT=1` prints how many were tried, refused and accepted per field.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from components.config import ConfigError, StackConfig, parse_stack_config
from components.config.zones_from import ZoneListError, listed_zones
from tests.conftest import REPO, stack_values
from tests.fuzz.config_leaves import PEM, STRATEGIES, config_leaves, holds_address, key_path
from tests.fuzz.conftest import fuzz_examples, render_stack_files

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


# Cheap (no file is rendered): many more than the per-field fuzz, and more again under FUZZ_EXAMPLES.
@settings(max_examples=max(1500, 5 * fuzz_examples(0)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


# A whole preview per example (about a second): a thirtieth of FUZZ_EXAMPLES, at least 10.
@settings(
    max_examples=max(10, fuzz_examples(0) // 30),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
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


# ---------------------------------------------------------------------------------------
# Per field: every leaf of StackConfig (read from the model, see config_leaves.py) gets hostile
# values. Each is refused with a message naming its key, or accepted canonical and the whole
# stack still renders (every renderer takes it).

LEAVES = config_leaves()
CONFIG_FILE = "Pulumi.fuzz.yaml"


def _bases() -> dict[str, dict]:
    """The repo's stacks, plus what lets every leaf be reached: an AAAA record, explicit
    recursion clients and management networks, a zonesFrom list."""
    prod = copy.deepcopy(BASE["prod"])
    prod["zones"][1].setdefault("records", []).append({"name": "v6", "type": "AAAA", "content": "2001:db8:100::80"})
    prod["dns"] = {"recursionClients": ["10.20.0.0/24", "198.51.100.0/24", "2001:db8:100::/48", "any"]}
    prod["gateway"] = {"managementNetworks": ["10.20.0.0/24", "2001:db8:100::/48"]}
    prod["zonesFrom"] = ["customers.yaml"]
    prod["mail"]["tlsRpt"] = {"rua": ["mailto:tlsrpt@example.net"]}
    prod["zones"][1]["dmarcAlignment"] = "strict"
    prod["webmail"] = {**prod.get("webmail", {}), "store": {"engine": "sqlite"}}
    dev = copy.deepcopy(BASE["dev"])
    dev["mail"]["mtaSts"] = {"mode": "enforce", "certificate": {"source": "provided", "certificatePem": PEM}}
    # A db host running both engines (`databases:`); prod keeps the one-engine `database:`.
    db = next(h for h in dev["hosts"] if "db" in h["roles"])
    db["databases"] = [db.pop("database"), {"engine": "postgresql", "backupDir": "/var/backups/postgresql"}]
    return {"prod": prod, "dev": dev}


BASES = _bases()
CUSTOMERS = [{"name": "customer1.example", "records": [{"name": "@", "type": "A", "content": "192.0.2.10"}]}]


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory) -> str:
    """A project directory holding the zonesFrom files the bases name."""
    project = tmp_path_factory.mktemp("fuzz-project")
    (project / "customers.yaml").write_text(yaml.safe_dump(CUSTOMERS))
    (project / "zones").mkdir()
    (project / "zones" / "customers.json").write_text(json.dumps(CUSTOMERS))
    return str(project)


def _candidates(template: tuple, node: Any, prefix: tuple = ()) -> list[tuple]:
    """Concrete paths for a leaf in one base: every list element whose parents exist there."""
    if not template:
        return [prefix]
    head, *rest = template
    if isinstance(head, int):
        if not isinstance(node, list):
            return []
        if not rest:  # a list element: replace any, or add one
            return [(*prefix, i) for i in range(len(node) + 1)]
        return [c for i, child in enumerate(node) for c in _candidates(tuple(rest), child, (*prefix, i))]
    if not isinstance(node, dict) or (rest and head not in node):
        return []
    return _candidates(tuple(rest), node.get(head), (*prefix, head)) if rest else [(*prefix, head)]


def _places(leaf) -> list[tuple[str, tuple]]:
    return [(name, path) for name, base in sorted(BASES.items()) for path in _candidates(leaf.path, base)]


def _put(config: dict, path: tuple, value: Any) -> None:
    *parents, last = path
    node = config
    for step in parents:
        node = node[step]
    if isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value


def test_every_config_leaf_has_a_strategy_and_a_place():
    """A new field of StackConfig fails here until it gets hostile values and a base that reaches it."""
    templates = [leaf.template for leaf in LEAVES]
    assert not set(templates) - set(STRATEGIES), f"no fuzz strategy for {sorted(set(templates) - set(STRATEGIES))}"
    gone = set(STRATEGIES) - set(templates)
    assert not gone, f"strategies for fields that are gone: {sorted(gone)}"
    assert not [leaf.template for leaf in LEAVES if not _places(leaf)], "leaves no base config reaches"
    assert len(templates) >= 50 and "hosts[].publicAddress6" in templates


def _owner(path: tuple, config: dict) -> tuple[type[BaseModel], Any, tuple]:
    """The innermost model holding the leaf, its input and the leaf's path inside it."""
    model: type[BaseModel] = StackConfig
    annotation: Any = StackConfig
    start = 0
    for i, step in enumerate(path[:-1]):
        annotation = _step(annotation, step)
        if (inner := _model_in(annotation)) is not None:
            model, annotation, start = inner, inner, i + 1
    return model, _node_at(config, path[:start]), path[start:]


def _node_at(config: Any, path: tuple) -> Any:
    for step in path:
        config = config[step]
    return config


def _step(annotation: Any, step: Any) -> Any:
    annotation = _model_in(annotation) or annotation
    if isinstance(step, int):
        return next((get_args(a)[0] for a in _members(annotation) if get_origin(a) is list), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = next(f for n, f in annotation.model_fields.items() if (f.alias or n) == step)
        return field.annotation
    return None


def _members(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for a in get_args(annotation) for m in _members(a)]
    return [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    return next((a for a in _members(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _own_refusal(path: tuple, config: dict) -> tuple[str | None, tuple]:
    """Whether the leaf's own model (Host, Record, ...) refuses the value: "field" (at the leaf),
    "model" (a rule across that model's fields) or None, and that model's path. A refusal of its
    own model must name the leaf (a whole-model rule may name the model instead); a rule across
    the stack may name another key."""
    model, data, inner = _owner(path, config)
    where = path[: len(path) - len(inner)]
    try:
        model.model_validate(data)
    except ValidationError as error:
        kinds = set()
        for err in error.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
            camel = tuple(to_camel(p) if isinstance(p, str) else p for p in loc)
            if camel and inner[: len(camel)] == camel:
                kinds.add("field")
            elif not camel and model is not StackConfig:
                kinds.add("model")
        return ("field" if "field" in kinds else next(iter(kinds), None)), where
    return None, where


def _zone_files_refused(config: dict, project_dir: str) -> bool:
    """Whether the zonesFrom files themselves are refused (unreadable, not a list...): not a zone in them."""
    try:
        listed_zones(config["zonesFrom"], project_dir)
    except ZoneListError:
        return True
    return False


def _names(message: str, path: tuple, *, model: tuple | None = None) -> bool:
    """Whether `message` names the key: `isp:hosts[1].publicAddress6`, `isp:hosts[1] (ns1).publicAddress6`,
    `isp:gateway: wanInterface, ...`; for a list element also the list (`isp:zonesFrom = [...]`); with
    `model`, that model's key as a whole (`isp:zones[0].records[0]: content ... must be ...`)."""
    text = re.sub(r"\] \([a-z0-9-]+\)", "]", message)
    keys = [path]
    if isinstance(path[-1], int):
        keys.append(path[:-1])
    for key in keys:
        for k in range(len(key)):
            head, rest = key_path(key[:k]), key_path(key[k:])
            if k == 0:
                pattern = rf"isp:{re.escape(rest)}(?![A-Za-z0-9_])"
            else:
                pattern = rf"isp:{re.escape(head)}: .*(?<![A-Za-z0-9_]){re.escape(rest.lstrip('.'))}(?![A-Za-z0-9_])"
            if re.search(pattern, text):
                return True
    return model is not None and f"isp:{key_path(model)}: " in text


def _names_a_key_of(message: str, config: dict) -> bool:
    """Whether each problem line names a key that exists in `config` (`isp:zones[0].records[0].type`)."""
    for line in message.splitlines()[1:]:
        match = re.match(r"  - isp:([A-Za-z0-9_.\[\]]+)", line)
        if not match:
            return False
        node: Any = config
        for name, index in re.findall(r"([A-Za-z0-9_]+)|\[(\d+)\]", match.group(1)):
            try:
                node = node[int(index)] if index else node[name]
            except (KeyError, IndexError, TypeError):
                return False
    return True


def _assert_one_paragraph(message: str, config: dict) -> None:
    """A config error as a person reads it: the file, then one line per problem, each starting
    with a key (`isp:...`, or a zonesFrom file and the zone's index), never a traceback."""
    lines = message.splitlines()  # U+2028, \x85, \v ... split here too: a value must not add a line
    assert lines[0] == f"{CONFIG_FILE}: invalid stack config:", message
    files = tuple(f for f in config.get("zonesFrom") or [] if isinstance(f, str))
    assert all(line.startswith("  - isp:") or line[4:].startswith(files) for line in lines[1:]), message
    assert "Traceback" not in message and 'File "' not in message and "components/" not in message, message


def _assert_canonical(cfg: StackConfig, leaf, path: tuple) -> None:
    """Accepted: the model round-trips through its own text, and addresses are canonical objects."""
    dumped = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
    again = StackConfig.model_validate(dumped)
    assert again == cfg and again.model_dump(mode="json", by_alias=True, exclude_unset=True) == dumped
    if holds_address(leaf.annotation):
        parent = _node_at(dumped, path[:-1])
        value = parent[path[-1]] if isinstance(parent, list) or path[-1] in parent else None
        if value is None or value == "any":  # an optional address left out, or recursion for "any"
            return
        parse = ipaddress.ip_network if "/" in value else ipaddress.ip_address
        assert "%" not in value and str(parse(value)) == value, value
    if leaf.template == "zones[].records[].content":
        record = _node_at(dumped, path[:-1])
        if record["type"] in ("A", "AAAA"):
            assert str(ipaddress.ip_address(record["content"])) == record["content"], record


@pytest.mark.parametrize("leaf", LEAVES, ids=lambda leaf: leaf.template)
def test_a_config_value_is_refused_naming_its_key_or_renders(leaf, project_dir, fuzz_tally):
    places = _places(leaf)

    @settings(
        max_examples=fuzz_examples(12),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(place=st.sampled_from(places), value=STRATEGIES[leaf.template])
    def one_value(place, value):
        base, path = place
        config = copy.deepcopy(BASES[base])
        _put(config, path, value)
        try:
            cfg = parse_stack_config(config, CONFIG_FILE, project_dir)
        except ConfigError as error:
            message = str(error)
            _assert_one_paragraph(message, config)
            own, model = _own_refusal(path, config)
            if own or (leaf.template == "zonesFrom[]" and _zone_files_refused(config, project_dir)):
                assert _names(message, path, model=model if own == "model" else None), (key_path(path), value, message)
            fuzz_tally("config", leaf.template, "refused")
            return
        _assert_canonical(cfg, leaf, path)
        try:  # every file of the stack, as the program renders it before registering anything
            render_stack_files(cfg, project_dir, CONFIG_FILE)
        except ConfigError as error:  # a renderer refused what the model accepted: named by its key
            message = str(error)
            _assert_one_paragraph(message, config)
            # The leaf, or another key the value made unrenderable (a CAA record once zones go to BIND).
            assert _names(message, path) or _names_a_key_of(message, config), (key_path(path), value, message)
            fuzz_tally("config", leaf.template, "refused by a renderer")
            return
        fuzz_tally("config", leaf.template, "accepted")

    one_value()
