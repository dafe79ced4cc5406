"""pulumi-policy@805bcbc tests/integration/integration_test.go:539-544, TestProvider
(provider/: program/index.ts and resource.ts in Python, the Python pack verbatim; the Node dynamic
provider's tokens become the Python one's, peer_helpers.for_python_program). The pack asserts the
providers it sees; a failed assert fails the run (exit 2), which upstream's RunCommand would catch.
Upstream's program pins @pulumi/random 4.0.0 (default_4_0_0); the program here pins it with
`version="4.0.0"` (see its docstring)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("provider", [
    ("542-542", dict()),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_provider_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
