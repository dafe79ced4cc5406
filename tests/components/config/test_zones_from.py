"""`isp:zonesFrom`: customer zones kept in YAML files beside the stack, not in its config."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError, parse_stack_config

REPO = Path(__file__).resolve().parents[3]

CUSTOMERS = [
    {"name": "customer1.example", "records": [{"name": "@", "type": "A", "content": "192.0.2.10"}]},
    {"name": "customer2.example", "records": [{"name": "www", "type": "CNAME", "content": "customer1.example"}]},
]


def write(path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_listed_zones_follow_the_inline_ones(dev_values, tmp_path):
    write(tmp_path / "zones" / "customers.yaml", CUSTOMERS)
    write(tmp_path / "more.yaml", [{"name": "customer3.example"}])
    dev_values["zonesFrom"] = ["zones/customers.yaml", "more.yaml"]
    cfg = parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))
    inline = [z["name"] for z in dev_values["zones"]]
    assert [z.name for z in cfg.zones] == [*inline, "customer1.example", "customer2.example", "customer3.example"]
    assert cfg.zones[len(inline)].records[0].content == "192.0.2.10"
    assert cfg.zones_from == ["zones/customers.yaml", "more.yaml"]


def test_a_json_file_is_read_as_json(dev_values, tmp_path):
    (tmp_path / "customers.json").write_text(json.dumps([*CUSTOMERS, {"name": "customer3.example"}]))
    (tmp_path / "broken.json").write_text('[{"name": "customer1.example",}]')
    dev_values["zonesFrom"] = ["customers.json"]
    cfg = parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))
    assert [z.name for z in cfg.zones][-3:] == ["customer1.example", "customer2.example", "customer3.example"]
    dev_values["zonesFrom"] = ["broken.json"]
    with pytest.raises(ConfigError, match=r'isp:zonesFrom\[0\] = "broken.json": is not valid JSON at line 1'):
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))


def test_relative_paths_resolve_against_the_project_dir(dev_values, tmp_path, monkeypatch):
    write(tmp_path / "customers.yaml", CUSTOMERS)
    dev_values["zonesFrom"] = ["customers.yaml"]
    monkeypatch.chdir(tmp_path)
    assert len(parse_stack_config(dev_values).zones) == len(dev_values["zones"]) + 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(elsewhere))


def test_an_error_in_a_listed_zone_names_the_file_and_its_index(dev_values, tmp_path):
    bad_record = {"name": "h", "type": "A", "content": "10.0.0.999"}
    bad = [CUSTOMERS[0], {"name": "customer2.example", "records": [bad_record]}]
    write(tmp_path / "customers.yaml", bad)
    dev_values["zonesFrom"] = ["customers.yaml"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))
    message = str(caught.value)
    assert message.startswith("Pulumi.dev.yaml: invalid stack config:")
    assert "customers.yaml: [1].records[0]: " in message and "10.0.0.999" in message
    assert "isp:zones[" not in message


def test_an_error_in_an_inline_zone_keeps_its_stack_key(dev_values, tmp_path):
    write(tmp_path / "customers.yaml", CUSTOMERS)
    dev_values["zonesFrom"] = ["customers.yaml"]
    dev_values["zones"][0]["records"] = [{"name": "www", "type": "A", "content": "not-an-ip"}]
    with pytest.raises(ConfigError, match=r"isp:zones\[0\]\.records\[0\]: .*not-an-ip"):
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))


def test_a_zone_in_two_places_is_refused(dev_values, tmp_path):
    write(tmp_path / "customers.yaml", [{"name": dev_values["zones"][0]["name"]}])
    dev_values["zonesFrom"] = ["customers.yaml"]
    with pytest.raises(ConfigError, match="listed twice"):
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot be read (No such file or directory"),
        ("", "must hold a list of zones (name, records, ...) as isp:zones does, found an empty file"),
        ("zones:\n  - name: customer1.example\n", "found a dict"),
        ("- name: [unclosed\n", "is not valid YAML at line"),
        (b"\xff\xfe- name: x\n", "is not UTF-8 text"),
    ],
)
def test_an_unusable_file_is_named_with_the_problem(dev_values, tmp_path, content, expected):
    if isinstance(content, bytes):
        (tmp_path / "customers.yaml").write_bytes(content)
    elif content is not None:
        (tmp_path / "customers.yaml").write_text(content)
    dev_values["zonesFrom"] = ["customers.yaml"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))
    message = str(caught.value)
    assert 'isp:zonesFrom[0] = "customers.yaml": ' in message
    assert expected in message


@pytest.mark.parametrize("value", ["customers.yaml", [""], [3]])
def test_zones_from_must_be_a_list_of_paths(dev_values, tmp_path, value):
    dev_values["zonesFrom"] = value
    with pytest.raises(ConfigError, match=r"isp:zonesFrom = .*must be a list of file paths"):
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path))


# ---------------------------------------------------------------------------------------
# Paths stay in the project; files are regular and bounded


def _refused(dev_values, tmp_path, files, *fragments) -> str:
    dev_values["zonesFrom"] = files
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(dev_values, "Pulumi.dev.yaml", str(tmp_path / "project"))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message and "components/" not in message
    return message


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "zones").mkdir(parents=True)
    write(root / "zones" / "customers.yaml", CUSTOMERS)
    (tmp_path / "outside.yaml").write_text(yaml.safe_dump([{"name": "stolen.example"}]))
    return root


@pytest.mark.parametrize(("files", "rule"), [
    (["/etc/passwd"], "relative-path"),
    (["../outside.yaml"], "normalized"),
    (["zones/../../outside.yaml"], "normalized"),
    (["link.yaml"], "inside-the-project"),
    (["zones"], "regular-file"),
    (["fifo.yaml"], "regular-file"),
    (["zones/customers.yaml", "zones/./customers.yaml"], "normalized"),
    (["zones/customers.yaml", "same.yaml"], "listed-once"),
])
def test_a_zones_from_path_out_of_place_is_refused(dev_values, tmp_path, project, files, rule):
    (project / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (project / "same.yaml").symlink_to("zones/customers.yaml")
    os.mkfifo(project / "fifo.yaml")
    index = len(files) - 1
    message = _refused(dev_values, tmp_path, files, f"isp:zonesFrom[{index}] = ", f"(rule: {rule})")
    assert "stolen.example" not in message


def test_files_and_zones_are_bounded(dev_values, tmp_path, project, monkeypatch):
    from components.config import zones_from

    monkeypatch.setattr(zones_from, "MAX_FILES", 2)
    _refused(dev_values, tmp_path, ["zones/customers.yaml"] * 3, "lists 3 files; at most 2 (rule: bounded-count)")
    monkeypatch.setattr(zones_from, "MAX_ZONES", 1)
    _refused(dev_values, tmp_path, ["zones/customers.yaml"], "more than 1 zones together (rule: bounded-count)")
    monkeypatch.setattr(zones_from, "MAX_FILE_BYTES", 64)
    _refused(dev_values, tmp_path, ["zones/customers.yaml"], "(rule: bounded-size)")
    monkeypatch.setattr(zones_from, "MAX_FILE_BYTES", 1 << 20)
    monkeypatch.setattr(zones_from, "MAX_ZONES", 100)
    first = (project / "zones" / "customers.yaml").stat().st_size
    monkeypatch.setattr(zones_from, "MAX_TOTAL_BYTES", first + 1)
    write(project / "more.yaml", [{"name": "customer3.example"}])
    _refused(dev_values, tmp_path, ["zones/customers.yaml", "more.yaml"], "isp:zonesFrom[1]",
             f"more than {first + 1} bytes together (rule: bounded-size)")


# ---------------------------------------------------------------------------------------
# YAML that is not plain data: refused at once, with its line and rule

# "Billion laughs": ten levels of ten aliases, 10^10 strings once expanded (by validation, or by printing).
LAUGHS = "- name: customer1.example\n  lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)) + (
    "- name: customer2.example\n  records: *l9\n")


@pytest.mark.parametrize(("text", "fragment"), [
    ("- &a [*a]\n", "(rule: no-anchors-or-aliases)"),
    ("- &z {name: customer1.example, records: *r}\n- &r []\n", "found undefined alias"),
    ("- &z {name: customer1.example}\n- *z\n", "(rule: no-anchors-or-aliases)"),
    ("- &base {name: customer1.example}\n- {<<: *base, name: customer2.example}\n", "a merge key (<<) at line 2"),
    ("- name: !!binary Y3VzdG9tZXIxLmV4YW1wbGU=\n", "the tag !!binary at line 1"),
    ("- !!python/object/apply:os.system [touch /tmp/isp-pwned]\n", "the tag !!python/object/apply:os.system"),
    ("- !!python/name:os.system\n", "the tag !!python/name:os.system"),
    ("- !!set {customer1.example}\n", "the tag !!set at line 1:"),
    ("- !!omap [{name: customer1.example}]\n", "the tag !!omap"),
    ("- !Ref customer1.example\n", "the tag !Ref"),
    ("- name: customer1.example\n  name: customer2.example\n", "the key 'name' is given twice; again at line 2"),
    ("- [" * 2000 + "]" * 2000 + "\n", "is not valid YAML at line 1"),
])
def test_yaml_that_is_not_plain_data_is_refused_quickly(dev_values, tmp_path, project, text, fragment):
    (project / "zones.yaml").write_text(text)
    began = time.monotonic()
    _refused(dev_values, tmp_path, ["zones.yaml"], 'isp:zonesFrom[0] = "zones.yaml": ', fragment)
    assert time.monotonic() - began < 2


CHILD = """
import json, sys
from components.config import ConfigError, parse_stack_config
try:
    parse_stack_config(json.loads(sys.argv[1]), "Pulumi.dev.yaml", sys.argv[2])
except ConfigError as error:
    print(error)
"""


@pytest.mark.parametrize("text", [LAUGHS, "- name: customer1.example\n  records: &r [*r]\n"], ids=["laughs", "loop"])
def test_an_alias_bomb_ends_at_once_in_bounded_memory(dev_values, project, text):
    """In a child with 1 GiB of address space and 20 s: expanded, either bomb would take both (and hang in C
    code that no signal interrupts)."""
    (project / "zones.yaml").write_text(text)
    dev_values["zonesFrom"] = ["zones.yaml"]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(dev_values), str(project)], cwd=REPO,
                            capture_output=True, text=True, timeout=20, preexec_fn=limit)
    assert "(rule: no-anchors-or-aliases)" in result.stdout, result.stdout + result.stderr[-2000:]
    assert not os.path.exists("/tmp/isp-pwned")


def test_yaml_scalars_read_as_pulumi_reads_its_own_stack_files(dev_values, tmp_path, project):
    """YAML 1.2, as Pulumi's Go parser: on/yes/no, dates and 1:20 are text, not True or 80."""
    records = "".join(f"    - {{name: t{i}, type: TXT, content: {value}}}\n"
                      for i, value in enumerate(["on", "no", "2024-01-01", "1:20", "=", "~x"]))
    (project / "zones.yaml").write_text(f"- name: customer1.example\n  records:\n{records}")
    dev_values["zonesFrom"] = ["zones.yaml"]
    cfg = parse_stack_config(dev_values, "Pulumi.dev.yaml", str(project))
    assert [r.content for r in cfg.zones[-1].records] == ["on", "no", "2024-01-01", "1:20", "=", "~x"]


@pytest.mark.parametrize(("text", "fragment"), [
    ('[{"name": "customer1.example", "name": "customer2.example"}]', 'holds the key "name" twice'),
    ('[{"name": "customer1.example", "records": [{"name": "x", "type": "A", "content": "192.0.2.1", "ttl": NaN}]}]',
     "holds NaN, which is not JSON (rule: plain-data)"),
    ("[" * 100000 + "]" * 100000, "nests lists or objects too deeply"),
    ("[" + "9" * 5000 + "]", "holds a value that cannot be read"),
])
def test_json_that_is_not_plain_data_is_refused(dev_values, tmp_path, project, text, fragment):
    (project / "zones.json").write_text(text)
    _refused(dev_values, tmp_path, ["zones.json"], 'isp:zonesFrom[0] = "zones.json": ', fragment)
