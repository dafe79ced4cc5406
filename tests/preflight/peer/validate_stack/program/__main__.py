"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/validate_stack/program/index.ts
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
        return CreateResult(id_=str(next(_ids)), outs=dict(props))


PROVIDER = Provider()


class Resource(pulumi.dynamic.Resource):
    def __init__(self, name, props, opts=None):
        super().__init__(PROVIDER, name, props, opts)


# index.ts
config = pulumi.Config()
test_scenario = config.get_int("scenario")

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
    # Violates the third policy.
    c = Resource("c", {"state": 3})
elif test_scenario == 6:
    # Violates the fourth policy.
    r1 = random.RandomUuid("r1")
elif test_scenario == 7:
    # Violates the fifth policy.
    r2 = random.RandomString("r2", length=10)
elif test_scenario == 8:
    # Create a resource to test the strongly-typed helpers.
    r3 = random.RandomPassword("r3", length=42)
elif test_scenario == 9:
    # Create several resources of the same type to validate resource filtering by type.
    x = random.RandomInteger("x", min=0, max=10)
    y = random.RandomInteger("y", min=0, max=10)
    z = random.RandomInteger("z", min=0, max=10)
elif test_scenario == 10:
    # Create a resource that will cause a stack policy with an enforcement level of "remediate" to
    # report a violation successfully. It should be treated as "mandatory" rather than "remediate".
    d = Resource("d", {"foo": "bar"})
