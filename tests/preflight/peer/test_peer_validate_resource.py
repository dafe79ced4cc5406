"""pulumi-policy@805bcbc tests/integration/integration_test.go:310-386, TestValidateResource
(validate_resource/: program/index.ts and resource.ts in Python, the Python pack verbatim; the
Node dynamic provider's tokens become the Python one's, peer_helpers.for_python_program)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("validate_resource", [
    # Test scenario 1: no resources.
    ("315-318", dict()),
    # Test scenario 2: no violations.
    ("319-322", dict()),
    # Test scenario 3: violates the first policy.
    ("323-330", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-1  (pulumi-nodejs:dynamic:Resource: a)",
        "Prohibits setting state to 1 on dynamic resources.",
        "'state' must not have the value 1.",
    ))),
    # Test scenario 4: violates the second policy.
    ("331-338", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-2  (pulumi-nodejs:dynamic:Resource: b)",
        "Prohibits setting state to 2 on dynamic resources.",
        "'state' must not have the value 2.",
    ))),
    # Test scenario 5: violates the first validation function of the third policy.
    ("339-346", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-3-or-4  (pulumi-nodejs:dynamic:Resource: c)",
        "Prohibits setting state to 3 or 4 on dynamic resources.",
        "'state' must not have the value 3.",
    ))),
    # Test scenario 6: violates the second validation function of the third policy.
    ("347-354", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-3-or-4  (pulumi-nodejs:dynamic:Resource: d)",
        "Prohibits setting state to 3 or 4 on dynamic resources.",
        "'state' must not have the value 4.",
    ))),
    # Test scenario 7: violates the fourth policy.
    ("355-362", dict(want_errors=(
        "[mandatory]  randomuuid-no-keepers  (random:index:RandomUuid: r1)",
        "Prohibits creating a RandomUuid without any 'keepers'.",
        "RandomUuid must not have an empty 'keepers'.",
    ))),
    # Test scenario 8: no violations.
    ("363-366", dict()),
    # Test scenario 9: violates the fifth policy.
    ("367-374", dict(want_errors=(
        "[mandatory]  dynamic-no-state-with-value-5  (pulumi-nodejs:dynamic:Resource: e)",
        "Prohibits setting state to 5 on dynamic resources.",
        "'state' must not have the value 5.",
    ))),
    # Test scenario 10: no violations.
    ("375-378", dict()),
    # Test scenario 11: no violations. Test the ability to send large gRPC messages (>4mb).
    ("379-384", dict()),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_validate_resource_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
