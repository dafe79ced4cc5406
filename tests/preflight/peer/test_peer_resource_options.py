"""pulumi-policy@805bcbc tests/integration/integration_test.go:518-528, TestResourceOptions
(resource_options/: program/index.ts and resource.ts in Python; the Python pack with the asserts the
Node pack makes added, see its header; the Node dynamic provider's tokens become the Python one's,
peer_helpers.for_python_program). The pack asserts each resource's options at scenario 1; a failed
assert fails the run (exit 2), which upstream's RunCommand would catch. Scenario 2 only unprotects."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("resource_options", [
    # Test scenario 1: test resource options.
    ("523-524", dict()),
    # Test scenario 2: prepare for destroying the stack (unprotect protected resources).
    ("525-526", dict()),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_resource_options_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
