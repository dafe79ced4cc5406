"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/remote_component/program/index.ts
(and component.ts: a remote component of package `testcomponent`, whose provider is
tests/preflight/remote_fixtures/testcomponent, a Python transcription of upstream's Go testcomponent)."""

import pulumi
import pulumi_random as random


# component.ts
class Component(pulumi.ComponentResource):
    def __init__(self, name, args=None, opts=None):
        super().__init__("testcomponent:index:Component", name, args, opts, remote=True)


# index.ts
rand = random.RandomString("random", length=10)

comp = Component("component", {
    "bar": {
        "keepers": {
            "hello": "world",
            "hi": rand.id,
        },
    },
})
