"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/runtime_data/program/index.ts
(and resource.ts: the dynamic provider). A Python dynamic resource registers as
pulumi-python:dynamic:Resource where the Node one is pulumi-nodejs:dynamic:Resource."""

import itertools

import pulumi
from pulumi.dynamic import CreateResult, ResourceProvider
from pulumi.runtime import config as runtime_config

# resource.ts
_ids = itertools.count()


class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=str(next(_ids)), outs=props)  # propagate inputs to outputs.


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, args, opts=None):
        super().__init__(PROVIDER, name, args, opts)


def all_config():
    """What Node's pulumi.runtime.allConfig() returns; the Python SDK has no public equivalent."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


# index.ts
# Create a dynamic resource that passes along runtime data in its inputs and outputs.
# The policy pack will confirm it sees the same data.
hello = Resource("Hello", {
    "allConfig": all_config(),
    "getProject": pulumi.get_project(),
    "getStack": pulumi.get_stack(),
    "isDryRun": pulumi.runtime.is_dry_run(),
})
