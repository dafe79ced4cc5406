"""Wait for every registration once, before the SDK's own end-of-program wait.

After the program, Pulumi's Python SDK (`wait_for_rpcs`) waits for every outstanding output with
`asyncio.wait(FIRST_COMPLETED)` and starts again each time any one of them completes. A large
stack has ~21 outputs per DNS record outstanding (350,000 at 16k records), and the wait rescans all
of them 7 to 14 times: 5 of the 29 seconds a bare 16k-record program takes here (bench/README.md).
Waiting for every resource's URN first, in one gather, lets the outputs settle as the
registrations complete, so the SDK's wait finds next to nothing left.

It changes no registration and no order: the program ends when its registrations are done either
way (at `up`, when the provider has created them), and a failed registration is still reported by
the SDK, as before.

Under Pulumi's unit-test pattern (`pulumi.runtime.set_mocks`, then the program inside
`@pulumi.runtime.test`) there is no entrypoint to give: set_mocks creates the Stack and registers its
outputs at once, so `pulumi.run` raises RunError ("may only be called once"). `end_with_one_wait`
then leaves the outputs to the test's own wait, which resolves them all as it would without this one.
"""

import asyncio

import pulumi


def _resources_under(roots: list[pulumi.Resource]) -> list[pulumi.Resource]:
    # `_childResources` is how the SDK itself expands a component in `depends_on`; without it (a
    # future SDK) only the roots are awaited here and the SDK's own wait does the rest, slower.
    found = list(roots)
    pending = list(roots)
    while pending:
        children = getattr(pending.pop(), "_childResources", None) or ()
        found.extend(children)
        pending.extend(children)
    return found


async def all_registered(components: list[pulumi.Resource]) -> None:
    """Return once `components` and everything under them are registered (for `pulumi.run`)."""
    resources = _resources_under(components)
    # Exceptions are the SDK's to report, with the resource that raised them.
    await asyncio.gather(*(resource.urn.future() for resource in resources), return_exceptions=True)


def end_with_one_wait(components: list[pulumi.Resource]) -> None:
    """The program's last line: all_registered as its `pulumi.run` entrypoint, where the Stack takes one."""
    try:
        pulumi.run(lambda: all_registered(components))
    except pulumi.RunError:
        # Only set_mocks' Stack, closed before the program ran, refuses (pulumi/runtime/stack.py,
        # Stack._register_async_program); without any Stack nothing could have been registered.
        if pulumi.runtime.get_root_resource() is None:
            raise
