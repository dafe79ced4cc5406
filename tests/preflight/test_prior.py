"""PriorAnswers: which old resource each registration is compared with (preflight/prior.py)."""

from __future__ import annotations

from steps_helpers import RECORD, checkpoint, prior, registration, urn

from preflight.prior import PriorAnswers


def test_a_renamed_resource_is_found_under_its_alias_and_its_old_urn_is_not_deleted():
    # step_generator.go getOldResource: the old state is looked up under each alias in order.
    old = registration(RECORD, "www-a", {"name": "www", "type": "A", "content": "192.0.2.1", "ttl": 1})
    renamed = registration(RECORD, "www-ipv4", dict(old.inputs))
    renamed.aliases = [urn(RECORD, "never-existed"), old.urn]
    answers = PriorAnswers(checkpoint(prior(old)))

    answers.observe(renamed)
    steps = answers.finish([renamed])

    assert [(step.op, step.urn) for step in steps] == [("same", renamed.urn)]
    assert renamed.aliased_from == old.urn


def test_an_old_resource_is_taken_over_by_one_alias_only():
    old = registration(RECORD, "mx", {"name": "@", "type": "MX", "content": "mail", "ttl": 1})
    first = registration(RECORD, "mx-1", dict(old.inputs))
    second = registration(RECORD, "mx-2", dict(old.inputs))
    first.aliases = second.aliases = [old.urn]
    answers = PriorAnswers(checkpoint(prior(old)))

    answers.observe(first)
    answers.observe(second)

    assert [step.op for step in answers.finish([first, second])] == ["same", "create"]
    assert second.aliased_from == ""


def test_without_a_matching_alias_the_old_resource_is_deleted_and_the_new_one_created():
    old = registration(RECORD, "old", {"name": "a", "type": "A", "content": "192.0.2.2", "ttl": 1})
    new = registration(RECORD, "new", dict(old.inputs))
    answers = PriorAnswers(checkpoint(prior(old)))

    answers.observe(new)

    assert [(step.op, step.urn) for step in answers.finish([new])] == [("create", new.urn), ("delete", old.urn)]
