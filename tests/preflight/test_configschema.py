"""preflight.configschema: policy config validated by `jsonschema`, errors worded as the Pulumi CLI prints
them (gojsonschema's locales.go and validation.go; `(root): ` trimmed by pkg/resource/analyzer/config.go)."""

from __future__ import annotations

import pytest

from preflight.configschema import SchemaError, config_errors
from preflight.packconfig import (
    ENFORCEMENT_LEVEL_SCHEMA,
    PolicyConfig,
    reconcile_policy_pack_config,
    validate_policy_pack_config,
)
from preflight.verdicts import PolicyInfo

POLICY = "resource-validation"


def upstream_policy(properties: dict, required: list[str] | None = None) -> PolicyInfo:
    """A policy as GetAnalyzerInfo hands it over: numbers as protobuf doubles, enforcementLevel injected."""
    def as_doubles(value):
        if isinstance(value, dict):
            return {key: as_doubles(item) for key, item in value.items()}
        if isinstance(value, list):
            return [as_doubles(item) for item in value]
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    schema = {"properties": {**as_doubles(properties), "enforcementLevel": ENFORCEMENT_LEVEL_SCHEMA},
              "required": required or []}
    return PolicyInfo(POLICY, "", "advisory", config_schema=schema)


# pulumi-policy tests/integration/integration_test.go:756-811 (TestConfig, the 10 scenarios that want errors),
# schemas from tests/integration/config/policy-pack/index.ts (scenarios 6-15).
UPSTREAM_INVALID_SCENARIOS = [
    (6, {"foo": {"type": "string"}}, ["foo"], None, ["foo is required"]),
    (7, {"foo": {"type": "string", "default": 1}}, None, None,
     ["foo: Invalid type. Expected: string, given: integer"]),
    (8, {"foo": {"type": "string", "maxLength": 3, "default": "this value is too long"}}, None, None,
     ["foo: String length must be less than or equal to 3"]),
    (9, {"foo": {"type": "string", "minLength": 50, "default": "this value is too short"}}, None, None,
     ["foo: String length must be greater than or equal to 50"]),
    (10, {"foo": {"type": "string", "enum": ["bar", "baz"], "default": "blah"}}, None, None,
     ['foo: foo must be one of the following: "bar", "baz"']),
    (11, {"foo": {"const": "bar", "default": "blah"}}, None, None, ['foo: foo does not match: "bar"']),
    (12, {"foo": {"type": "string"}}, None, {"foo": 1}, ["foo: Invalid type. Expected: string, given: integer"]),
    (13, {"foo": {"type": "string", "enum": ["bar", "baz"]}}, None, {"foo": "blah"},
     ['foo: foo must be one of the following: "bar", "baz"']),
    (14, {"foo": {"const": "bar"}}, None, {"foo": "blah"}, ['foo: foo does not match: "bar"']),
    (15, {"foo": {"type": "string", "maxLength": 3}, "bar": {"type": "integer"}}, None,
     {"foo": "this is too long", "bar": 3.14},
     ["bar: Invalid type. Expected: integer, given: number", "foo: String length must be less than or equal to 3"]),
]


@pytest.mark.parametrize(("scenario", "properties", "required", "given", "want"), UPSTREAM_INVALID_SCENARIOS,
                         ids=[f"scenario-{s[0]}" for s in UPSTREAM_INVALID_SCENARIOS])
def test_upstream_invalid_config_scenarios_give_the_clis_errors(scenario, properties, required, given, want):
    policies = [upstream_policy(properties, required)]
    file_config = {POLICY: PolicyConfig("", given)} if given else None
    config = reconcile_policy_pack_config(policies, None, file_config)
    assert sorted(validate_policy_pack_config(policies, config)) == [f"{POLICY}: {error}" for error in want]


# Upstream's valid scenarios 16-23: numbers, booleans, objects, arrays and null where the schema allows them.
@pytest.mark.parametrize(("schema", "value"), [
    ({"type": "number"}, 42), ({"type": "number"}, 3.14), ({"type": "integer"}, 42.0), ({"type": "boolean"}, False),
    ({"type": "object"}, {"bar": "baz"}), ({"type": "array"}, ["a", "b", "c"]), ({"type": "null"}, None),
])
def test_upstream_valid_config_values_pass(schema, value):
    assert config_errors({"type": "object", "properties": {"foo": schema}}, {"foo": value}) == []


@pytest.mark.parametrize(("schema", "value", "want"), [
    # anyOf: gojsonschema's own error, then the errors of the closest branch (validation.go, validateSchema).
    ({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}, "abc",
     ["Must validate at least one schema (anyOf)", "String length must be less than or equal to 2"]),
    ({"oneOf": [{"type": "string"}, {"maxLength": 5}]}, "abc", ["Must validate one and only one schema (oneOf)"]),
    ({"allOf": [{"minimum": 10}, {"multipleOf": 4}]}, 6,
     ["Must be greater than or equal to 10", "Must be a multiple of 4", "Must validate all the schemas (allOf)"]),
    ({"not": {"type": "string"}}, "x", ["Must not validate the schema (not)"]),
    ({"type": "string", "format": "ipv4"}, "300.1.1.1", ["Does not match format 'ipv4'"]),
    ({"type": "string", "pattern": "^[a-z]+$"}, "A1", ["Does not match pattern '^[a-z]+$'"]),
    ({"type": ["string", "null"]}, 5, ["Invalid type. Expected: [string,null], given: integer"]),
    ({"enum": [1.0, "a", {"b": [True]}]}, 2, ['(root) must be one of the following: 1, "a", {"b":[true]}']),
    ({"exclusiveMaximum": 1e10}, 2e10, ["Must be less than 1e+10"]),  # big.Float String(): %g, 10 digits
    ({"minimum": 1000000.0}, 5, ["Must be greater than or equal to 1000000"]),
    ({"type": "array", "uniqueItems": True, "maxItems": 2.0}, [1, 2, 1],
     ["Array must have at most 2 items", "array items[0,2] must be unique"]),
    ({"type": "object", "additionalProperties": False, "patternProperties": {"^x-": {"type": "integer"}},
      "properties": {"ports": {"type": "array", "items": {"type": "integer", "maximum": 65535}}}},
     {"ports": [25, 70000], "x-a": "s", "extra": 1},
     ["Additional property extra is not allowed", "ports.1: Must be less than or equal to 65535",
      "x-a: Invalid type. Expected: integer, given: string"]),
    ({"definitions": {"port": {"type": "integer"}}, "properties": {"p": {"$ref": "#/definitions/port"}}}, {"p": "25"},
     ["p: Invalid type. Expected: integer, given: string"]),
    # A value of the wrong type is checked for nothing else (validation.go, validateRecursive).
    ({"type": "string", "enum": ["a"], "minLength": 3}, 7, ["Invalid type. Expected: string, given: integer"]),
    ({"type": "object", "required": ["a", "b"], "dependencies": {"c": ["d"]}}, {"c": 1},
     ["Has a dependency on d", "a is required", "b is required"]),
])
def test_other_keywords_are_worded_as_gojsonschema_words_them(schema, value, want):
    assert sorted(config_errors(schema, value)) == sorted(want)


def test_an_invalid_schema_is_refused():
    with pytest.raises(SchemaError):
        config_errors({"type": "object", "properties": {"foo": {"type": "text"}}}, {})
