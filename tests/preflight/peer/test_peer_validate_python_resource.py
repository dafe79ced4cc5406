"""pulumi-policy@805bcbc tests/integration/integration_test.go:388-414, TestValidatePythonResource
(validate_python_resource/: upstream's own Python program and Python pack, both verbatim)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("validate_python_resource", [
    # Test scenario 1: violates the policy.
    ("393-400", dict(want_errors=(
        "[mandatory]  randomuuid-no-keepers  (random:index:RandomUuid: r1)",
        "Prohibits creating a RandomUuid without any 'keepers'.",
        "RandomUuid must not have an empty 'keepers'.",
    ))),
    # Test scenario 2: violates the policy.
    ("401-408", dict(want_errors=(
        "[mandatory]  randomuuid-no-keepers  (random:index:RandomUuid: r2)",
        "Prohibits creating a RandomUuid without any 'keepers'.",
        "RandomUuid must not have an empty 'keepers'.",
    ))),
    # Test scenario 3: no violations.
    ("409-412", dict()),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_validate_python_resource_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
