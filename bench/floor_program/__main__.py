"""The floor: what Pulumi's Python SDK alone costs for N registrations under preflight's mocks.

One zone and `floor:records` A records with only the inputs a record needs (zone, name, type,
content, ttl): no components, no config model, no rendering. Whatever our program costs above
this is ours.
"""

import pulumi
import pulumi_cloudflare as cloudflare

count = int(pulumi.Config("floor").require("records"))
zone = cloudflare.Zone("zone", account={"id": "0" * 32}, name="floor.example", type="full")
for i in range(count):
    cloudflare.DnsRecord(
        f"record-{i}",
        zone_id=zone.id,
        name=f"h{i}.floor.example",
        type="A",
        content="192.0.2.1",
        ttl=1,
    )
