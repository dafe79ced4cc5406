"""DnsZone: a Cloudflare zone with its records, DNSSEC, SPF and DMARC (lessons 5, 6, 7)."""

from __future__ import annotations

import hashlib
import re

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import BaseModel, ConfigDict

from components.dns_data import RecordSpec


class DnsZoneArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    zone: str
    account_id: str
    records: list[RecordSpec]
    # Prod protects the zone: a bad change cannot delete it (and every record with it).
    protect: bool = False


class DnsZone(pulumi.ComponentResource):
    """One forward zone on Cloudflare; records carry fully qualified names."""

    def __init__(self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("isp:dns:DnsZone", name, None, opts)
        self.zone = cloudflare.Zone(
            f"{name}-zone",
            account={"id": args.account_id},
            name=args.zone,
            type="full",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        cloudflare.ZoneDnssec(
            f"{name}-dnssec",
            zone_id=self.zone.id,
            status="active",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        for suffix, record in _named(args.records, args.zone):
            kwargs = {}
            if record.type == "CAA":
                flags, tag, value = record.content.split(" ", 2)
                kwargs["data"] = cloudflare.DnsRecordDataArgs(flags=int(flags), tag=tag, value=value.strip('"'))
            else:
                kwargs["content"] = record.content
            cloudflare.DnsRecord(
                f"{name}-{suffix}",
                zone_id=self.zone.id,
                name=record.name,
                type=record.type,
                ttl=record.ttl,
                priority=record.priority,
                proxied=record.proxied if record.type in ("A", "AAAA", "CNAME") else None,
                comment="managed by the isp Pulumi program",
                opts=pulumi.ResourceOptions(parent=self),
                **kwargs,
            )
        self.zone_id = self.zone.id
        self.register_outputs({"zoneId": self.zone.id, "nameServers": self.zone.name_servers})


def _named(records: list[RecordSpec], zone: str) -> list[tuple[str, RecordSpec]]:
    """Stable resource-name suffixes: type and owner label, numbered where they repeat."""
    counts: dict[str, int] = {}
    out = []
    for record in records:
        owner = "@" if record.name == zone else record.name.removesuffix("." + zone)
        base = f"{record.type.lower()}-{re.sub(r'[^a-z0-9_.*@-]', '-', owner)}"
        counts[base] = counts.get(base, 0) + 1
        # A repeat is named by its content, so reordering the config renames nothing.
        digest = hashlib.sha256(f"{record.content}|{record.priority}".encode()).hexdigest()[:8]
        out.append((base if counts[base] == 1 else f"{base}-{digest}", record))
    return out
