"""Upstream's test component, transcribed from Go to Python.

pulumi/pulumi-policy tests/integration/remote_component/testcomponent/main.go: a component
`testcomponent:index:Component` whose Construct registers a `random:index/randomString:RandomString` named
"innerRandom" with the component's `bar.keepers` input (lines 25-55), served by the provider
`testcomponent` 0.0.1 (lines 58-85). The random package's SDK is not needed: the resource is
registered by its type token, as the Go SDK's generated class does.

Fixture-only behaviour (not upstream's), driven by the component's inputs:
- `logMessage`: logged with pulumi.log.warn against the component, to prove logs reach the engine;
- `failWith`: Construct fails with that message.
"""

import sys

import pulumi
import pulumi.provider as provider

COMPONENT_TYPE = "testcomponent:index:Component"


class Component(pulumi.ComponentResource):
    def __init__(self, name, args, opts=None):
        bar = args.get("bar")
        # main.go, NewComponent: "expected args.Bar to be BarArgs": a whole-object Output here would
        # mean the unknown inside `keepers` did not stay at its leaf.
        if not isinstance(bar, dict):
            raise Exception("expected args.Bar to be BarArgs")
        super().__init__(COMPONENT_TYPE, name, {}, opts)
        pulumi.CustomResource(
            # What Go's random.NewRandomString (pulumi-random v4.15.0, upstream's go.mod) registers.
            "random:index/randomString:RandomString",
            "innerRandom",
            {"length": 10, "keepers": bar.get("keepers")},
            pulumi.ResourceOptions(parent=self, version="4.15.0"),
        )
        if args.get("logMessage"):
            pulumi.log.warn(args["logMessage"], resource=self)
        self.register_outputs({})


class TestComponentProvider(provider.Provider):
    def construct(self, name, resource_type, inputs, options=None):
        if resource_type != COMPONENT_TYPE:
            raise Exception(f"unknown resource type {resource_type}")
        if inputs.get("failWith"):
            raise Exception(inputs["failWith"])
        component = Component(name, inputs, options)
        return provider.ConstructResult(urn=component.urn, state={"greeting": "hello from the provider"})


if __name__ == "__main__":
    provider.main(TestComponentProvider(version="0.0.1"), sys.argv[1:])
