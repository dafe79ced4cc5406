"""pulumi-policy@805bcbc tests/integration/integration_test.go:701-880, TestConfig
(config/: program/index.ts in Python, the Python pack verbatim). `config` and `want` are the Go
test's helpers of the same names (integration_test.go:711-727)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

RESOURCE_POLICY = "resource-validation"
STACK_POLICY = "stack-validation"
ERROR_PREAMBLE = "error: validating policy config: config-policy 0.0.1  "


def config(policy_config: dict) -> dict:
    return {RESOURCE_POLICY: policy_config, STACK_POLICY: policy_config}


def want(*errors: str) -> dict:
    """A rejected config: the CLI fails with an error (preflight's exit 2)."""
    expected = []
    for error in errors:
        expected += [f"{ERROR_PREAMBLE}{RESOURCE_POLICY}: {error}", f"{ERROR_PREAMBLE}{STACK_POLICY}: {error}"]
    return dict(want_errors=tuple(expected), cli_error=True)


SCENARIOS = scenarios("config", [
    # Test scenario 1: String from config.
    ("730-736", dict(policy_pack_config=config({"foo": "bar"}))),
    # Test scenario 2: Default string value specified in schema used.
    ("737-740", dict()),
    # Test scenario 3: Default number value specified in schema used.
    ("741-744", dict()),
    # Test scenario 4: Specified config value overrides default value.
    ("745-751", dict(policy_pack_config=config({"foo": "overridden"}))),
    # Test scenario 5: Default value specified in schema for required field used.
    ("752-755", dict()),
    # Test scenario 6: Required config property not set.
    ("756-759", want("foo is required")),
    # Test scenario 7: Default value set to incorrect type.
    ("760-763", want("foo: Invalid type. Expected: string, given: integer")),
    # Test scenario 8: Default value too long.
    ("764-767", want("foo: String length must be less than or equal to 3")),
    # Test scenario 9: Default value too short.
    ("768-771", want("foo: String length must be greater than or equal to 50")),
    # Test scenario 10: Default value set to invalid enum value.
    ("772-775", want('foo: foo must be one of the following: "bar", "baz"')),
    # Test scenario 11: Default value set to invalid constant value.
    ("776-779", want('foo: foo does not match: "bar"')),
    # Test scenario 12: Incorrect type.
    ("780-786", dict(policy_pack_config=config({"foo": 1}),
                     **want("foo: Invalid type. Expected: string, given: integer"))),
    # Test scenario 13: Invalid enum value.
    ("787-793", dict(policy_pack_config=config({"foo": "blah"}),
                     **want('foo: foo must be one of the following: "bar", "baz"'))),
    # Test scenario 14: Invalid constant value.
    ("794-800", dict(policy_pack_config=config({"foo": "blah"}), **want('foo: foo does not match: "bar"'))),
    # Test scenario 15: Multiple validation errors.
    ("801-811", dict(policy_pack_config=config({"foo": "this is too long", "bar": 3.14}),
                     **want("bar: Invalid type. Expected: integer, given: number",
                            "foo: String length must be less than or equal to 3"))),
    # Test scenario 16: Number (int) from config.
    ("812-818", dict(policy_pack_config=config({"foo": 42}))),
    # Test scenario 17: Number (float) from config.
    ("819-825", dict(policy_pack_config=config({"foo": 3.14}))),
    # Test scenario 18: Integer from config.
    ("826-832", dict(policy_pack_config=config({"foo": 42}))),
    # Test scenario 19: Boolean (true) from config.
    ("833-839", dict(policy_pack_config=config({"foo": True}))),
    # Test scenario 20: Boolean (false) from config.
    ("840-846", dict(policy_pack_config=config({"foo": False}))),
    # Test scenario 21: Object from config.
    ("847-853", dict(policy_pack_config=config({"foo": {"bar": "baz"}}))),
    # Test scenario 22: Array from config.
    ("854-860", dict(policy_pack_config=config({"foo": ["a", "b", "c"]}))),
    # Test scenario 23: Null from config.
    ("861-867", dict(policy_pack_config=config({"foo": None}))),
    # Test scenario 24: Initial config.
    ("868-871", dict()),
    # Test scenario 25: Initial config overridden.
    ("872-878", dict(policy_pack_config=config({"foo": "overridden"}))),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_config_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
