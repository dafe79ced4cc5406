"""pulumi/pulumi-policy tests/integration/remote_component/program (index.ts, component.ts), in Python."""

import pulumi


class Component(pulumi.ComponentResource):
    def __init__(self, name, args=None, opts=None):
        super().__init__("testcomponent:index:Component", name, args, opts, remote=True)


rand = pulumi.CustomResource("random:index:RandomString", "random", {"length": 10})

comp = Component("component", {
    "bar": {
        "keepers": {
            "hello": "world",
            "hi": rand.id,
        },
    },
})
