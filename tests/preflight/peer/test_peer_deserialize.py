"""pulumi-policy@805bcbc tests/integration/integration_test.go:882-889, TestDeserialize
(deserialize/: program/index.ts and resource.ts in Python, the Python pack verbatim; the Node dynamic
provider's tokens become the Python one's, peer_helpers.for_python_program). The pack asserts the
deserialized properties it sees; a failed assert fails the run (exit 2), which upstream's RunCommand would catch."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("deserialize", [
    ("887-887", dict()),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_deserialize_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
