"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/deserialize/program/index.ts
(and resource.ts: the dynamic provider). A Python dynamic resource registers as
pulumi-python:dynamic:Resource where the Node one is pulumi-nodejs:dynamic:Resource.

The assets keep upstream's path "index.ts" (the pack asserts it); ./index.ts stands in for upstream's
program file so that the engine finds the file it hashes."""

import itertools

import pulumi
from pulumi.dynamic import CreateResult, ResourceProvider

# resource.ts
_ids = itertools.count()


class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=str(next(_ids)), outs=dict(props))  # propagate inputs to outputs.


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, inputs, opts=None):
        super().__init__(PROVIDER, name, inputs, opts)


# index.ts
hello = Resource("hello", {
    "secret": pulumi.Output.secret("a secret value"),
    "fileAsset": pulumi.FileAsset("index.ts"),
    "stringAsset": pulumi.StringAsset("some text"),
    "fileArchive": pulumi.FileArchive("."),
    "assetArchive": pulumi.AssetArchive({
        "fileAsset": pulumi.FileAsset("index.ts"),
        "stringAsset": pulumi.StringAsset("some text"),
        "fileArchive": pulumi.FileArchive("."),
    }),
})
