"""`--set` on a stack read offline: objects merge, the rest is replaced, null removes, secrets stay out."""

from __future__ import annotations

import json

import pytest

from preflight.overrides import (
    OverrideError,
    merge,
    namespace_values,
    parse_overrides,
    with_overrides,
)
from preflight.stackconfig import load_stack_config
from tests.conftest import REPO


def test_objects_merge_key_by_key_and_everything_else_is_replaced():
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": [1]}) == {"a": {"b": 1, "c": 3}, "d": [1]}
    assert merge([1, 2], [3]) == [3] and merge({"a": 1}, "text") == "text"


def test_a_pair_is_namespace_key_equals_json_and_the_same_key_twice_merges():
    parsed = parse_overrides(['isp:mail={"dkim":{"signWith":["a"]}}', 'isp:mail={"dailyLimitPerAccount":5}',
                              "isp:delivery=local"])
    assert parsed == {"isp:mail": {"dkim": {"signWith": ["a"]}, "dailyLimitPerAccount": 5}, "isp:delivery": "local"}
    for bad in ("recursion=any", "isp:dns"):
        with pytest.raises(OverrideError, match="NAMESPACE:KEY=JSON"):
            parse_overrides([bad])


def test_null_removes_a_key_as_config_rm_and_secrets_never_reach_the_values():
    program = load_stack_config(REPO, "dev")
    changed = with_overrides(program, {"isp:mail": {"dailyLimitPerAccount": 7}, "isp:dkimKey_s2026a": None},
                             secrets={"isp:extraSecret": "S3CRET"})
    mail = json.loads(changed.config["isp:mail"])
    assert mail["dailyLimitPerAccount"] == 7 and "dkim" in mail  # merged into the file's object
    assert "isp:dkimKey_s2026a" not in changed.config and "isp:dkimKey_s2026a" not in changed.secret_keys
    values = namespace_values(changed, "isp")
    assert "extraSecret" not in values and "webmailTlsKey" not in values  # secret keys stay out
    assert values["mail"]["dailyLimitPerAccount"] == 7
