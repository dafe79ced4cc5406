"""pulumi-policy@805bcbc tests/integration/integration_test.go:891-906, TestRemoteComponent
(remote_component/: program/index.ts and component.ts in Python, the Python pack verbatim; the
component's provider is tests/preflight/remote_fixtures/testcomponent, put on PATH as upstream puts its
testcomponent/ there, integration_test.go:99-109). The unknown inside `keepers` must stay at its leaf."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("remote_component", [
    ("897-904", dict(want_errors=(
        "remote-component-policy@v0.0.1",
        "[advisory]  resource-validation  (random:index:RandomString: innerRandom)",
        "can't run policy 'resource-validation' from policy pack 'remote-component-policy@v0.0.1' during "
        "preview: string value at .keepers.hi can't be known during preview",
    ), advisory=True)),
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_remote_component_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
