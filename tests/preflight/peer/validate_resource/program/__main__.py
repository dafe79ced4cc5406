"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/validate_resource/program/index.ts
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
        return CreateResult(id_=str(next(_ids)), outs=None)


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(PROVIDER, name, props, opts)


# index.ts
config = pulumi.Config()
test_scenario = config.require_int("scenario")

if test_scenario == 1:
    pass  # Don't create any resources.
elif test_scenario == 2:
    # Create a resource that doesn't violate any policies.
    hello = Resource("hello", {"hello": "world"})
elif test_scenario == 3:
    # Violates the first policy.
    a = Resource("a", {"state": 1})
elif test_scenario == 4:
    # Violates the second policy.
    b = Resource("b", {"state": 2})
elif test_scenario == 5:
    # Violates the first validation function of the third policy.
    c = Resource("c", {"state": 3})
elif test_scenario == 6:
    # Violates the second validation function of the third policy.
    d = Resource("d", {"state": 4})
elif test_scenario == 7:
    # Violates the fourth policy.
    r1 = random.RandomUuid("r1")
elif test_scenario == 8:
    # Doesn't violate the fourth policy.
    r2 = random.RandomUuid("r2", keepers={"foo": "bar"})
elif test_scenario == 9:
    # Violates the fifth policy.
    e = Resource("e", {"state": 5})
elif test_scenario == 10:
    # Create a resource to test the strongly-typed helpers.
    password = random.RandomPassword("pass", length=42)
elif test_scenario == 11:
    # Create a resource with a large string property.
    long_string = "a" * (5 * 1024 * 1024)
    large_string_resource = Resource("large-resource", {"state": 6, "longString": long_string})
