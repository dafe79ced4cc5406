"""pulumi-policy@805bcbc tests/integration/integration_test.go:546-699, TestEnforcementLevel
(enforcementlevel/: program/index.ts in Python, the Python pack verbatim). Every scenario's WantErrors
are the same six strings at one level; `reported` spells them once."""

import pytest
from peer_helpers import assert_as_upstream, scenarios


def reported(level: str) -> dict:
    return dict(want_errors=(
        f"[{level}]  validate-resource  (random:index:RandomString: str)",
        "Always reports a resource violation.",
        "validate-resource-violation-message",
        f"[{level}]  validate-stack",
        "Always reports a stack violation.",
        "validate-stack-violation-message",
    ), advisory=level == "advisory")


NOTHING = dict()

SCENARIOS = scenarios("enforcementlevel", [
    ("551-562", reported("advisory")),  # 1: Policy Pack: advisory; Policy: advisory.
    ("563-566", NOTHING),  # 2: Policy Pack: advisory; Policy: disabled.
    ("567-577", reported("mandatory")),  # 3: Policy Pack: advisory; Policy: mandatory.
    ("578-589", reported("advisory")),  # 4: Policy Pack: advisory; Policy: not set.
    ("590-601", reported("advisory")),  # 5: Policy Pack: disabled; Policy: advisory.
    ("602-605", NOTHING),  # 6: Policy Pack: disabled; Policy: disabled.
    ("606-616", reported("mandatory")),  # 7: Policy Pack: disabled; Policy: mandatory.
    ("617-620", NOTHING),  # 8: Policy Pack: disabled; Policy: not set.
    ("621-632", reported("advisory")),  # 9: Policy Pack: mandatory; Policy: advisory.
    ("633-636", NOTHING),  # 10: Policy Pack: mandatory; Policy: disabled.
    ("637-647", reported("mandatory")),  # 11: Policy Pack: mandatory; Policy: mandatory.
    ("648-658", reported("mandatory")),  # 12: Policy Pack: mandatory; Policy: not set.
    ("659-670", reported("advisory")),  # 13: Policy Pack: not set; Policy: advisory.
    ("671-674", NOTHING),  # 14: Policy Pack: not set; Policy: disabled.
    ("675-685", reported("mandatory")),  # 15: Policy Pack: not set; Policy: mandatory.
    ("686-697", reported("advisory")),  # 16: Policy Pack: not set; Policy: not set.
])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_enforcement_level_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
