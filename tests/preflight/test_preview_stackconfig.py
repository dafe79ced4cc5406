"""Stack config as the CLI hands it to a Python program: namespaces, JSON text, secrets, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from preflight.stackconfig import StackConfigError, load_stack_config, placeholder_for, qualify_key


def make_project(tmp_path: Path, project_yaml: str, stack_yaml: str | None, stack: str = "dev") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(project_yaml)
    if stack_yaml is not None:
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_yaml)
    (tmp_path / "__main__.py").write_text("import pulumi\n")
    return tmp_path


PROJECT = """\
name: shop
runtime: python
config:
  region:
    type: string
    default: eu
  replicas: 2
  shop:mode:
    default: quiet
  cloudflare:apiToken:
    value: project-token
"""


def test_stack_values_override_project_defaults_and_keys_get_the_project_namespace(tmp_path):
    stack = "config:\n  replicas: 5\n  shop:extra: x\n"
    loaded = load_stack_config(make_project(tmp_path, PROJECT, stack), "dev")
    assert loaded.project == "shop"
    assert loaded.config == {
        "shop:region": "eu",  # project default, not overridden
        "shop:replicas": "5",  # stack overrides the project's short-form default
        "shop:mode": "quiet",
        "cloudflare:apiToken": "project-token",  # other namespaces use `value`
        "shop:extra": "x",
    }
    assert loaded.secret_keys == []


def test_values_become_the_text_the_engine_passes(tmp_path):
    stack = """\
config:
  shop:count: 42
  shop:ratio: 1.5
  shop:enabled: true
  shop:answer: yes
  shop:day: 2024-01-31
  shop:quoted: "007"
  shop:tags: [a, b]
  shop:limits: {b: 2, a: {c: [1, 2]}}
"""
    config = load_stack_config(make_project(tmp_path, "name: shop\nruntime: python\n", stack), "dev").config
    assert config["shop:count"] == "42"
    assert config["shop:ratio"] == "1.5"
    assert config["shop:enabled"] == "true"
    assert config["shop:answer"] == "yes"  # YAML 1.2 as Pulumi reads it: not a bool
    assert config["shop:day"] == "2024-01-31"
    assert config["shop:quoted"] == "007"
    assert json.loads(config["shop:tags"]) == ["a", "b"]
    assert config["shop:limits"] == '{"a":{"c":[1,2]},"b":2}'


def test_secure_values_become_secret_placeholders(tmp_path):
    stack = """\
config:
  shop:sshKey:
    secure: v1:AAAAencrypted==
  shop:db:
    user: admin
    password:
      secure: v1:BBBBencrypted==
  shop:plain: visible
"""
    loaded = load_stack_config(make_project(tmp_path, "name: shop\nruntime: python\n", stack), "dev")
    assert loaded.config["shop:sshKey"] == placeholder_for("shop:sshKey")
    db = json.loads(loaded.config["shop:db"])
    assert db == {"user": "admin", "password": placeholder_for("shop:db.password")}
    assert loaded.secret_keys == ["shop:db", "shop:sshKey"]  # a nested secure makes the whole key secret
    assert "v1:" not in json.dumps(loaded.config)
    assert set(loaded.secret_placeholders) == {placeholder_for("shop:sshKey"), placeholder_for("shop:db.password")}
    # Shaped like a token (as the real secret is at a `pulumi preview`), one per path.
    assert all(re.fullmatch(r"[A-Za-z0-9-]{30,80}", p) for p in loaded.secret_placeholders)


def test_missing_stack_file_names_the_file(tmp_path):
    with pytest.raises(StackConfigError, match=r"Pulumi\.prod\.yaml is missing"):
        load_stack_config(make_project(tmp_path, PROJECT, None), "prod")


def test_missing_project_file(tmp_path):
    with pytest.raises(StackConfigError, match="Pulumi.yaml is missing"):
        load_stack_config(tmp_path, "dev")


def test_yaml_error_is_one_paragraph(tmp_path):
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(make_project(tmp_path, PROJECT, "config:\n  a: [unclosed\n"), "dev")
    assert "not valid YAML" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_declared_key_without_default_is_required(tmp_path):
    project = "name: shop\nruntime: python\nconfig:\n  apiUrl:\n    type: string\n"
    with pytest.raises(StackConfigError, match="missing configuration value 'shop:apiUrl'"):
        load_stack_config(make_project(tmp_path, project, "config: {}\n"), "dev")


def test_declared_secret_must_be_encrypted(tmp_path):
    project = "name: shop\nruntime: python\nconfig:\n  token:\n    type: string\n    secret: true\n"
    with pytest.raises(StackConfigError, match="must be a secret"):
        load_stack_config(make_project(tmp_path, project, "config:\n  shop:token: plain\n"), "dev")


def test_other_runtimes_are_refused(tmp_path):
    with pytest.raises(StackConfigError, match="runtime `nodejs`"):
        load_stack_config(make_project(tmp_path, "name: web\nruntime: nodejs\n", "config: {}\n"), "dev")


def test_main_entry_selects_the_program_directory(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "__main__.py").write_text("import pulumi\n")
    loaded = load_stack_config(make_project(tmp_path, "name: shop\nruntime: python\nmain: infra/\n", ""), "dev")
    assert loaded.program_dir == (tmp_path / "infra").resolve()
    assert loaded.config == {}


def test_stack_config_dir_is_honoured(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  shop:x: 1\n")
    loaded = load_stack_config(make_project(tmp_path, "name: shop\nruntime: python\nstackConfigDir: stacks\n", None),
                               "dev")
    assert loaded.config == {"shop:x": "1"}


def test_qualify_key():
    assert qualify_key("foo", "isp") == "isp:foo"
    assert qualify_key("aws:region", "isp") == "aws:region"


def test_a_config_too_large_for_the_language_hosts_environment_is_warned_about(tmp_path):
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small = load_stack_config(make_project(tmp_path / "small", PROJECT, "config:\n  shop:notes: short\n"), "dev")
    assert small.warnings == []
    notes = "x" * (128 * 1024)  # as PULUMI_CONFIG, more than one environment variable may hold on Linux
    large = load_stack_config(make_project(tmp_path / "large", PROJECT, f"config:\n  shop:notes: {notes}\n"), "dev")
    assert len(large.warnings) == 1 and "PULUMI_CONFIG" in large.warnings[0]
