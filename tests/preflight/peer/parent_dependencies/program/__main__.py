"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/parent_dependencies/program/index.ts
(and resource.ts: the dynamic provider). A Python dynamic resource registers as
pulumi-python:dynamic:Resource where the Node one is pulumi-nodejs:dynamic:Resource."""

import itertools

import pulumi
import pulumi_random as random
from pulumi.dynamic import CreateResult, ResourceProvider

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
# Create resources with a parent/child relationship.
parent = Resource("parent")
child = Resource("child", pulumi.ResourceOptions(parent=parent))

# Create resources with an explicit dependency relationship.
a = Resource("a")
b = Resource("b", pulumi.ResourceOptions(depends_on=[a]))

# Create a resource with an implicit dependency relationship.
string = random.RandomString("str", length=10)
pet = random.RandomPet("pet", prefix=string.result)
