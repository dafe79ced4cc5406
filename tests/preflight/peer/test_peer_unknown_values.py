"""pulumi-policy@805bcbc tests/integration/integration_test.go:488-506, TestUnknownValues
(unknown_values/: program/index.ts in Python, the Python pack verbatim)."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("unknown_values", [
    ("495-504", dict(want_errors=(
        "unknown-values-policy@v0.0.1",
        "[advisory]  unknown-values-resource-validation  (random:index:RandomPet: pet)",
        "can't run policy 'unknown-values-resource-validation' from policy pack 'unknown-values-policy@v0.0.1' "
        "during preview: string value at .prefix can't be known during preview",
        "[advisory]  unknown-values-stack-validation",
        "can't run policy 'unknown-values-stack-validation' from policy pack 'unknown-values-policy@v0.0.1' "
        "during preview: string value at .prefix can't be known during preview",
    ), advisory=True)),
], initial_config={"aws:region": "us-west-2"})  # integration_test.go:492-494


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_unknown_values_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
