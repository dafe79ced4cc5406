"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/provider/program/index.ts
(and resource.ts: the dynamic provider). A Python dynamic resource registers as
pulumi-python:dynamic:Resource (default provider pulumi:providers:pulumi-python) where the Node one is
pulumi-nodejs:dynamic:Resource (pulumi:providers:pulumi-nodejs).

Upstream's program/package.json pins "@pulumi/random": "4.0.0", which the pack asserts (default
provider default_4_0_0, provider version 4.0.0). A Python SDK stamps its own version on each resource
(`version` in its default options); `version="4.0.0"` here is that pin."""

import itertools

import pulumi
import pulumi_random as random
from pulumi.dynamic import CreateResult, ResourceProvider

RANDOM_4_0_0 = pulumi.ResourceOptions(version="4.0.0")

# resource.ts
_ids = itertools.count()


class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=str(next(_ids)), outs={})


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, opts=None):
        super().__init__(PROVIDER, name, {}, opts)


# index.ts
# Create a dynamic resource.
empty = Resource("empty")

# Create a resource.
uuid = random.RandomUuid("uuid", opts=RANDOM_4_0_0)

# Create a provider and resource that uses it.
provider = random.Provider("my-provider", opts=RANDOM_4_0_0)
string = random.RandomString("str", length=10,
                             opts=pulumi.ResourceOptions.merge(RANDOM_4_0_0, pulumi.ResourceOptions(provider=provider)))
