"""The floor: what Pulumi's Python SDK alone costs for N registrations under preflight's mocks.

One zone and `floor:records` A records with only the inputs a record needs (zone, name, type,
content, ttl): no components, no config model, no rendering. Whatever our program costs above
this is ours.

With `floor:settled` it also waits for its registrations in one gather before the SDK's own
end-of-program wait, as our program does (components/registrations.py): the best a bare program
can do, so the benchmark can show what that wait alone is worth.
"""

import asyncio

import pulumi
import pulumi_cloudflare as cloudflare

config = pulumi.Config("floor")
count = int(config.require("records"))
zone = cloudflare.Zone("zone", account={"id": "0" * 32}, name="floor.example", type="full")
records = [
    cloudflare.DnsRecord(
        f"record-{i}",
        zone_id=zone.id,
        name=f"h{i}.floor.example",
        type="A",
        content="192.0.2.1",
        ttl=1,
    )
    for i in range(count)
]


async def all_registered() -> None:
    await asyncio.gather(zone.urn.future(), *(record.urn.future() for record in records), return_exceptions=True)


if config.get_bool("settled"):
    pulumi.run(all_registered)
