"""ReverseZone: PTR data for one reverse zone of our blocks (lessons 5 and 7: FCrDNS).

Pools become `$GENERATE` lines in a BIND zone file, so a /16 costs one file, not 65,536
resources. A zone holding only a few host PTRs may instead live on Cloudflare as an
ordinary zone named `z.y.x.in-addr.arpa` with one PTR record per host.
"""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import BaseModel, ConfigDict

from components.dns_data import ZoneFile


class HostPtr(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str  # fully qualified, e.g. 25.100.51.198.in-addr.arpa
    target: str  # the host's FQDN


class ReverseZoneArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    zone: str
    served_by: str  # "bind" or "cloudflare"
    zone_file: ZoneFile | None = None  # bind: the rendered file our primary name server loads
    ptrs: list[HostPtr] = []  # cloudflare: one record each
    account_id: str = ""
    protect: bool = False


class ReverseZone(pulumi.ComponentResource):
    def __init__(self, name: str, args: ReverseZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("isp:dns:ReverseZone", name, None, opts)
        self.zone_file = args.zone_file if args.served_by == "bind" else None
        if args.served_by == "cloudflare":
            zone = cloudflare.Zone(
                f"{name}-zone",
                account={"id": args.account_id},
                name=args.zone,
                type="full",
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            for ptr in args.ptrs:
                cloudflare.DnsRecord(
                    f"{name}-ptr-{ptr.owner.removesuffix('.' + args.zone)}",
                    zone_id=zone.id,
                    name=ptr.owner,
                    type="PTR",
                    content=ptr.target,
                    ttl=1,
                    comment="managed by the isp Pulumi program",
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"zone": args.zone, "servedBy": args.served_by})
