"""pulumi-policy@805bcbc tests/integration/integration_test.go:416-486, TestValidateStack
(validate_stack/: program/index.ts and resource.ts in Python, the Python pack verbatim; the Node
dynamic provider's tokens become the Python one's, peer_helpers.for_python_program)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("validate_stack", [
    # Test scenario 1: no resources.
    ("421-424", dict()),
    # Test scenario 2: no violations.
    ("425-428", dict()),
    # Test scenario 3: violates the first policy.
    ("429-436", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-1",
        "Prohibits setting state to 1 on dynamic resources.",
        "'state' must not have the value 1.",
    ))),
    # Test scenario 4: violates the second policy.
    ("437-444", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-2",
        "Prohibits setting state to 2 on dynamic resources.",
        "'state' must not have the value 2.",
    ))),
    # Test scenario 5: violates the third policy.
    ("445-452", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-3  (pulumi-nodejs:dynamic:Resource: c)",
        "Prohibits setting state to 3 on dynamic resources.",
        "'state' must not have the value 3.",
    ))),
    # Test scenario 6: violates the fourth policy.
    ("453-460", dict(want_errors=(
        "[mandatory]  randomuuid-no-keepers",
        "Prohibits creating a RandomUuid without any 'keepers'.",
        "RandomUuid must not have an empty 'keepers'.",
    ))),
    # Test scenario 7: violates the fifth policy.
    ("461-468", dict(want_errors=(
        "[mandatory]  no-randomstrings",
        "Prohibits RandomString resources.",
        "RandomString resources are not allowed.",
    ))),
    # Test scenario 8: no violations.
    ("469-472", dict()),
    # Test scenario 9: no violations.
    ("473-476", dict()),
    # Test scenario 10: a stack validation with enforcement level of "remediate" is treated as "mandatory".
    ("477-484", dict(want_errors=(
        "[mandatory]  dynamic-no-foo-with-value-bar",
        "Prohibits setting foo to 'bar' on dynamic resources.",
        "'foo' must not have the value 'bar'.",
    ))),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_validate_stack_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
