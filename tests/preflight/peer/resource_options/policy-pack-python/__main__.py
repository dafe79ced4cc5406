# Copied from pulumi/pulumi-policy@805bcbc tests/integration/resource_options/policy-pack-python/__main__.py,
# with the asserts the Node version of this pack makes (policy-pack/index.ts, validateDynamicResource:
# assert.deepStrictEqual(r.opts, ...)) added; each change is marked `# added (index.ts)`. The Python pack
# computes options_equal for dynamic resources but never asserts it, never compares `parent`, and its
# parent-res/child-res expectations (additional_secret_outputs=["foo"]) are not what index.ts asserts
# (defaultOptions) nor what the program sets: those follow index.ts here.
# ruff: noqa
# Copyright 2016-2020, Pulumi Corporation.  All rights reserved.

from pulumi import Config, get_project, get_stack

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyPack,
    PolicyResourceOptions,
    ResourceValidationPolicy,
    StackValidationPolicy,
)


def create_urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{get_stack()}::{get_project()}::{type_}::{name}"


def create_stack_urn() -> str:
    return create_urn("pulumi:pulumi:Stack", f"{get_project()}-{get_stack()}")


def validate_resource(args, report_violation):
    validate(args)


def remediate_resource(args):
    validate(args)


def validate_stack(args, report_violation):
    for r in args.resources:
        validate(r)


def validate(r):
    config = Config()
    test_scenario = config.require_int("scenario")

    # We only validate during the first test scenario. The subsequent test scenario is only
    # used to unprotect protected resources in preparation for destroying the stack.
    if test_scenario != 1:
        return

    t = r.resource_type
    if (t == "pulumi:pulumi:Stack" or
            t == "pulumi:providers:pulumi-nodejs" or
            t == "pulumi:providers:random"):
        assert options_equal(PolicyResourceOptions(
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        ), r.opts)
    elif t == "pulumi-nodejs:dynamic:Resource":
        validate_dynamic_resource(r)
    elif t == "random:index/randomUuid:RandomUuid":
        assert options_equal(PolicyResourceOptions(
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    else:
        raise AssertionError(f"Unexpected resource of type: '{t}'.")


def validate_dynamic_resource(r):
    if r.name == "empty" or r.name == "parent" or r.name == "a":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "protect":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=True,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "ignoreChanges":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=["foo", "bar"],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "deleteBeforeReplaceNotSet":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "deleteBeforeReplaceTrue":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=True,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "deleteBeforeReplaceFalse":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=False,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "aliased":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            # Note that the engine explicitly does not preserve aliases pointing to resources that no
            # longer exist. Because we don't actually introduce real aliases here, "old-name-for-aliases"
            # is not paired up with a resource, and so the aliases array will be empty. If the engine
            # preserved these aliases, we would have instead checked for:
            # aliases=[create_urn("pulumi-nodejs:dynamic:Resource", "old-name-for-aliased")],
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "timeouts":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(60, 120, 180),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "timeouts-create":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(240, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "timeouts-update":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 300, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "timeouts-delete":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 360),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "secrets":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=["foo"],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "parent-res":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],  # added (index.ts: defaultOptions)
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_stack_urn(),
        ), r.opts)
    elif r.name == "child-res":
        assert options_equal(PolicyResourceOptions(  # added (index.ts)
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            additional_secret_outputs=[],  # added (index.ts: defaultOptions)
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            parent=create_urn("pulumi-nodejs:dynamic:Resource", "parent-res"),
        ), r.opts)
    else:
        raise AssertionError(f"Unexpected resource with name: '{r.name}'.")


def options_equal(expected: PolicyResourceOptions, actual: PolicyResourceOptions) -> bool:
    return (expected.protect == actual.protect and
            expected.ignore_changes == actual.ignore_changes and
            expected.delete_before_replace == actual.delete_before_replace and
            expected.aliases == actual.aliases and
            expected.custom_timeouts.create_seconds == actual.custom_timeouts.create_seconds and
            expected.custom_timeouts.update_seconds == actual.custom_timeouts.update_seconds and
            expected.custom_timeouts.delete_seconds == actual.custom_timeouts.delete_seconds and
            expected.additional_secret_outputs == actual.additional_secret_outputs and
            expected.parent == actual.parent)  # added (index.ts: deepStrictEqual compares parent)


PolicyPack(
    name="resource-options-test-policy",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="validate-resource",
            description="Validates resource options during `validateResource`.",
            validate=validate_resource,
            remediate=remediate_resource,
        ),
        StackValidationPolicy(
            name="validate-stack",
            description="Validates resource options during `validateStack`.",
            validate=validate_stack,
        ),
    ],
)
