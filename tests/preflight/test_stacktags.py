"""preflight.stacktags: the stack tags ConfigureStack carries, from Pulumi.yaml and `pulumi:tags` config
(pulumi/pulumi pkg/backend/stack.go, GetEnvironmentTagsForCurrentStack)."""

from __future__ import annotations

import json

import pytest

from preflight.stacktags import stack_tags
from preflight.verdicts import PackError


def test_tags_come_from_pulumi_yaml(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text(
        "name: isp\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\ndescription: The ISP\n")
    assert stack_tags(tmp_path, {}) == {
        "pulumi:project": "isp", "pulumi:runtime": "python", "pulumi:description": "The ISP"}


def test_a_project_without_description_has_no_description_tag(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: isp\nruntime: python\n")
    assert stack_tags(tmp_path, {}) == {"pulumi:project": "isp", "pulumi:runtime": "python"}


def test_pulumi_tags_config_adds_and_overrides_tags(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: isp\nruntime: python\n")
    config = {"pulumi:tags": json.dumps({"foo": "bar", "pulumi:project": "renamed"}), "isp:zone": "example.net"}
    assert stack_tags(tmp_path, config) == {"pulumi:project": "renamed", "pulumi:runtime": "python", "foo": "bar"}
    assert stack_tags(None, config) == {"pulumi:project": "renamed", "foo": "bar"}


@pytest.mark.parametrize(("value", "message"), [
    ('["a"]', r"pulumi:tags must be an object of strings"),
    ("plain", r"pulumi:tags must be an object of strings"),
    ('{"n": 1}', r"pulumi:tags\[n\] must be a string"),
])
def test_pulumi_tags_must_be_an_object_of_strings(value, message):
    with pytest.raises(PackError, match=message):
        stack_tags(None, {"pulumi:tags": value})
