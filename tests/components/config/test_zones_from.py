"""`isp:zonesFrom`: customer zones kept in YAML files beside the stack, not in its config."""

from __future__ import annotations

import json

import pytest
import yaml

from components.config import ConfigError, parse_stack_config

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
