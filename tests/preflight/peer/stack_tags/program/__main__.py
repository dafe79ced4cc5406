"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/stack_tags/program/index.ts
(and resource.ts: the dynamic provider). A Python dynamic resource registers as
pulumi-python:dynamic:Resource where the Node one is pulumi-nodejs:dynamic:Resource."""

import itertools

import pulumi
from pulumi.dynamic import CreateResult, ResourceProvider

# resource.ts
_ids = itertools.count()


class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=str(next(_ids)), outs=None)


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(PROVIDER, name, props, opts)


# index.ts
Resource("hello", {})
