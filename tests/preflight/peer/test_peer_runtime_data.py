"""pulumi-policy@805bcbc tests/integration/integration_test.go:508-516, TestRuntimeData
(runtime_data/: program/index.ts and resource.ts in Python, the Python pack verbatim; the Node
dynamic provider's tokens become the Python one's, peer_helpers.for_python_program). The pack asserts
is_dry_run, get_project, get_stack (against PULUMI_TEST_PROJECT/PULUMI_TEST_STACK) and config
(pulumi_aws's aws:region among it); a failed assert fails the run (exit 2)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("runtime_data", [
    ("515-515", dict()),
], initial_config={"aConfigValue": "this value is a value", "aws:region": "us-west-2"})  # :512-514


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_runtime_data_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
