"""pulumi-policy@805bcbc tests/integration/integration_test.go:936-945, TestStackTags
(stack_tags/: program/index.ts and resource.ts in Python, the Python pack verbatim). Upstream sets the
tags with `pulumi stack tag set` (integration_test.go:144-147, Pulumi Cloud only); here they are the
stack's `pulumi:tags` config, which the CLI merges into the stack's tags
(pkg/backend/stack.go, GetEnvironmentTagsForCurrentStack). The pack asserts both tags in every call."""

import pytest
from peer_helpers import assert_as_upstream, scenarios

SCENARIOS = scenarios("stack_tags", [
    ("940-940", dict()),
], initial_config={"pulumi:tags": {"foo": "bar", "hello": "world"}})  # :941-944


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_stack_tags_as_upstream(scenario, peer_runs):
    assert_as_upstream(peer_runs.result(scenario), scenario)
