"""NameServer: BIND on one DNS host (lessons 3 and 8).

The primary loads our reverse zones and the customer pools' forward zone from files; the
secondaries fetch them by zone transfer from the primary, which allows transfers to them
alone. Everything a name server gets is checked by named-checkconf / named-checkzone on the
host before it replaces the working configuration.

`render_name_server` is pure: the program renders every file of the stack before it registers
anything (`components/stack.py`), and the component delivers what was rendered there.
"""

from __future__ import annotations

import functools
import posixpath

import pulumi
from pydantic import BaseModel, ConfigDict

from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.dns_data import SECONDARY_ZONE_DIR, ZoneFile
from components.render.bind import ZoneEntry, render_named_conf

NAMED_CONF = "/etc/bind/named.conf"


class RenderedNameServer(BaseModel):
    model_config = ConfigDict(frozen=True)

    bind: ServiceConfigArgs  # named.conf and, on the primary, the zone files


class NameServerArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    own_networks: list[str]
    recursion_clients: list[str]
    zone_files: list[ZoneFile]  # what the primary serves
    primary_address: str | None = None  # set on a secondary: where it transfers from
    transfer_peers: list[str] = []  # set on the primary: the secondaries
    rate_limit_per_second: int = 10
    protect: bool = False

    @functools.cached_property
    def rendered(self) -> RenderedNameServer:
        """Every file, rendered once (a refused value raises here, before anything is registered)."""
        return render_name_server(self)


def named_conf_for(args: NameServerArgs) -> str:
    if args.primary_address is None:
        zones = [ZoneEntry(z.zone, z.path) for z in args.zone_files]
    else:
        zones = [
            ZoneEntry(z.zone, f"{SECONDARY_ZONE_DIR}/db.{z.zone}", primaries=(args.primary_address,))
            for z in args.zone_files
        ]
    return render_named_conf(
        own_networks=args.own_networks,
        recursion_clients=args.recursion_clients,
        transfer_peers=args.transfer_peers,
        zones=zones,
        rate_limit_per_second=args.rate_limit_per_second,
    )


def render_name_server(args: NameServerArgs) -> RenderedNameServer:
    files = [ManagedFile(NAMED_CONF, named_conf_for(args), role="named.conf")]
    checks = [["named-checkconf", staging_path(NAMED_CONF)]]
    if args.primary_address is None:
        for zone in args.zone_files:
            # zone=: the host sets the SOA serial from the live file at delivery (components/zone_serial.py).
            files.append(ManagedFile(zone.path, zone.text, role=posixpath.basename(zone.path), zone=zone.zone))
            checks.append(["named-checkzone", "-q", zone.zone, staging_path(zone.path)])
    return RenderedNameServer(bind=ServiceConfigArgs(
        connection=args.connection,
        files=files,
        checks=checks,
        # -z loads every zone of the installed config: a broken whole is rolled back.
        reload=[["named-checkconf", "-z", NAMED_CONF], ["rndc", "reload"]],
        protect=args.protect,
    ))


class NameServer(pulumi.ComponentResource):
    def __init__(self, name: str, args: NameServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        # Our blocks are evidence for the policy pack: recursion beyond them is "open".
        super().__init__("isp:dns:NameServer", name, {"ownNetworks": args.own_networks}, opts)
        self.config = ServiceConfig(f"{name}-bind", rendered.bind, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"host": args.connection.host})
