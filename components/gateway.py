"""Gateway: the border router's nftables ruleset (lessons 1 and 7), applied so it cannot lock the deploy out.

Customer pools may send TCP/25 only to our own mail hosts; submission ports pass. Each
mail host gets a 1:1 NAT (dnat and snat on the same public address) that comes before any
general source NAT, so its mail leaves from the address its MX, PTR and SPF name.

The deploy path this module assumes is the one `__main__.py` takes: the machine running
`pulumi up` sits in one of `gateway.managementNetworks` (default: the server networks) and opens
SSH to `<host>.<domain>` on each host's own `sshPort`. A connection to the gateway ends in its
input chain. Any other host is reached either on the deploy's own segment (never crossing the
gateway) or through it: at its public IPv4 address (mapped 1:1 to the private one before
filtering), at its private address routed via the gateway, or at its public IPv6 address. So
the ruleset admits, from the management networks, the gateway's sshPort in input and every
other host's sshPort at its private and public IPv6 addresses in forward: wherever in those
networks the deploy sits, every one of its connections is admitted.

A ruleset that would drop the deploy's own connection is refused twice:
- in the program: `managementNetworks: []` and networks that are never a source (loopback, ...)
  by the config model; here, management networks of no address family the gateway can be
  reached at (`LockoutError`, a ConfigError naming the key).
- on the gateway, as iptables-apply does. The delivery's reload is `APPLY`: it first checks that
  the deploy's own connection (sshd's SSH_CONNECTION) arrives on the port the new ruleset admits,
  from an address it admits (the new ruleset loaded in a private network namespace, where it
  filters nothing); it keeps the live ruleset (the last confirmed one), arms a timer that puts
  it back after `REVERT_AFTER` seconds, and only then applies the new one. A separate Command
  that depends on the install opens a NEW SSH connection (pulumi-command dials one per command)
  and runs `CONFIRM`, which stops the timer. If the new ruleset drops new connections from the
  deploy, the confirm cannot connect; the timer puts the old ruleset back (live and in
  /etc/nftables.conf); the confirm, still dialling, then gets through and fails the deployment
  saying so. Locally (the lab) the confirm runs through nsenter like every other command.
  The install's own connection survives a ruleset that drops new ones only where the old
  ruleset tracked it (ours does); over one that tracked nothing (a first deploy over Debian's
  default) its next packet counts as new, so it stalls until the revert, then ends normally.
  Applying again the very ruleset last confirmed, over a live ruleset unchanged since (an
  install run again, a failed delivery's rollback), changes nothing and arms no timer.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import shlex
from typing import Literal

import pulumi
import pulumi_command as command
from pydantic import BaseModel, ConfigDict

from components.config import ConfigError, GatewaySettings, StackConfig
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render.nftables import render_gateway_ruleset

NFTABLES_CONF = "/etc/nftables.conf"
STATE_DIR = "/var/lib/isp-nftables"  # root-only: the kept ruleset, the pending apply, the outcome
REVERT_AFTER = 60  # seconds the new ruleset stays without a confirmation
# The confirm keeps dialling for about 4 minutes, well past REVERT_AFTER: after a revert it gets
# through and says why, instead of ending on a bare dial timeout.
CONFIRM_DIAL_TIMEOUT = 10
CONFIRM_DIAL_ATTEMPTS = 24


class LockoutError(ConfigError):
    """A gateway ruleset that would drop the deploy's own SSH connection."""


class NatMapping(BaseModel):
    model_config = ConfigDict(frozen=True)

    private_address: str
    public_address: str


class PublishedService(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str  # the public address the world uses
    protocol: str  # tcp or udp
    port: int


class SshTarget(BaseModel):
    """One host the deploy reaches over SSH, as the stack config names it."""

    model_config = ConfigDict(frozen=True)

    key: str  # isp:hosts[i], for messages
    name: str
    port: int  # hosts[i].sshPort
    addresses: list[str]  # where its SSH meets the gateway's filter: private address, public IPv6
    gateway: bool = False


class DeployPath(BaseModel):
    """How the deploy reaches the hosts: the transport and every host's SSH port."""

    model_config = ConfigDict(frozen=True)

    transport: Literal["ssh", "local"]
    targets: list[SshTarget]

    @property
    def gateway(self) -> SshTarget:
        return next(t for t in self.targets if t.gateway)


def deploy_path(cfg: StackConfig) -> DeployPath:
    """Every host's SSH port and addresses as `__main__.connection()` reaches them."""
    return DeployPath(
        transport=cfg.delivery,
        targets=[
            SshTarget(
                key=f"isp:hosts[{i}]",
                name=host.name,
                port=host.ssh_port,
                addresses=[str(a) for a in (host.private_address, host.public_address6) if a is not None],
                gateway="gateway" in host.roles,
            )
            for i, host in enumerate(cfg.hosts)
        ],
    )


class GatewayArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    gateway: GatewaySettings
    deploy: DeployPath  # required: the ports the ruleset must admit come from here, never a default
    public_address: str
    server_networks: list[str]
    customer_pools: list[str]
    dialup_pools: list[str] = []
    mail_nat: list[NatMapping]  # lesson 7: one pair per mail host
    mail_addresses6: list[str] = []
    host_nat: list[NatMapping] = []  # our other public hosts, mapped 1:1 without mail's privileges
    published: list[PublishedService] = []
    submission_ports: list[int]
    revert_after: int = REVERT_AFTER

    @functools.cached_property
    def rendered(self) -> str:
        """The ruleset, rendered once: by the program's plan, before anything is registered (components/stack.py)."""
        return ruleset_for(self)


def management_networks(args: GatewayArgs) -> list[str]:
    """Who may SSH to the gateway and through it: the configured networks, else the server networks."""
    configured = args.gateway.management_networks
    return [str(n) for n in configured] if configured is not None else list(args.server_networks)


def refuse_lockout(args: GatewayArgs) -> None:
    """Refuse management networks the deploy's SSH connection to the gateway cannot come from."""
    management = management_networks(args)
    gw = args.deploy.gateway
    if args.gateway.management_networks is None:
        return  # the server networks: the gateway's private address is in one of them
    reachable = {4} | {ipaddress.ip_address(a).version for a in gw.addresses}  # its publicAddress is IPv4
    if not {ipaddress.ip_network(n).version for n in management} & reachable:
        families = " and ".join(f"IPv{v}" for v in sorted(reachable))
        raise LockoutError(
            f"isp:gateway.managementNetworks = {json.dumps(management)}: lists no {families} network, and "
            f"{gw.name} ({gw.key}) is reached over {families} only: would drop the deploy's own SSH "
            f"connection to {gw.name} (port {gw.port})"
        )


def ruleset_for(args: GatewayArgs) -> str:
    refuse_lockout(args)
    return render_gateway_ruleset(
        wan_interface=args.gateway.wan_interface,
        lan_interfaces=[args.gateway.server_interface, args.gateway.customer_interface],
        customer_pools=args.customer_pools,
        server_networks=args.server_networks,
        mail_hosts=[(m.private_address, m.public_address) for m in args.mail_nat],
        mail_hosts_ipv6=args.mail_addresses6,
        static_nat=[(m.private_address, m.public_address) for m in args.host_nat],
        published_services=[(s.address, s.protocol, s.port) for s in args.published],
        dialup_pools=args.dialup_pools,
        public_address=args.public_address,
        own_mail_submission_ports=tuple(args.submission_ports),
        ssh_management_networks=management_networks(args),
        ssh_port=args.deploy.gateway.port,
        ssh_hosts=[(a, t.port) for t in args.deploy.targets if not t.gateway for a in t.addresses],
    )


# ---------------------------------------------------------------------------------------
# Apply with an automatic revert, confirmed over a new connection (POSIX sh, run as root).

# Stops the revert timer recorded in $state/timer: a transient systemd unit, or a process group
# whose command line carries the apply's nonce (a pid alone could have been reused).
_STOP_TIMER = """\
stop_timer() {
  [ -s "$state/timer" ] || return 0
  read -r kind what tag <"$state/timer" || true
  case $kind in
    unit) systemctl stop "$what.timer" >/dev/null 2>&1 || true ;;
    pid) case $what in ''|*[!0-9]*) ;; *)
      if tr '\\000' ' ' <"/proc/$what/cmdline" 2>/dev/null | grep -qF -- "${tag:-?}"; then
        kill -- "-$what" 2>/dev/null || kill "$what" 2>/dev/null || true
      fi ;; esac ;;
  esac
  rm -f "$state/timer"
}
"""

# $1 the ruleset, $2 the state directory, $3 seconds, $4 ssh|local, $5 the SSH port it admits, $6 REVERT.
APPLY = """\
set -eu
conf=$1 state=$2 seconds=$3 transport=$4 port=$5 revert=$6
umask 077
mkdir -p "$state"
if [ -L "$state" ] || [ "$(stat -c %u "$state")" != "$(id -u)" ]; then
  echo "refused: $state is not a directory of this user's own; nothing was changed" >&2; exit 1
fi
chmod 0700 "$state"
exec 9>>"$state/lock"
flock -w 60 9 || { echo "refused: another apply holds $state/lock; nothing was changed" >&2; exit 1; }
""" + _STOP_TIMER + """\
digest=$(sha256sum <"$conf") digest=${digest%% *}
if [ "$transport" = ssh ] && [ -n "${SSH_CONNECTION:-}" ]; then
  # sshd's own view of this connection: client address, client port, server address, server port.
  set -f; set -- $SSH_CONNECTION; set +f
  client=${1#::ffff:} arrived=${4:-}
  if [ "$arrived" != "$port" ]; then
    echo "refused: the deploy's SSH connection reaches this gateway on port $arrived, but the new ruleset" \\
      "admits SSH on port $port only (the gateway's sshPort): it would lock the deploy out; nothing was changed" >&2
    exit 1
  fi
  case $client in ''|*[!0-9A-Fa-f:.]*) client= ;; esac
  case $client in *:*) family=6 ;; *) family=4 ;; esac
  if [ -n "$client" ] && unshare --net true 2>/dev/null; then
    # The new ruleset in a private network namespace, where it filters nothing: does it admit the client?
    rc=0
    unshare --net sh -c 'nft -f "$1" || exit 2; nft list set inet filter "management_v$2" || exit 2
      nft get element inet filter "management_v$2" "{ $3 }" || exit 3' \\
      isp-nft-check "$conf" "$family" "$client" >/dev/null 2>&1 || rc=$?
    if [ "$rc" = 3 ]; then
      echo "refused: the deploy connects from $client, which none of the new ruleset's management networks" \\
        "(isp:gateway.managementNetworks) contains: it would lock the deploy out; nothing was changed" >&2
      exit 1
    fi
  fi
fi
# The very ruleset last confirmed, over a live ruleset unchanged since (stateless listing: no counters):
# the apply changes nothing, so nothing needs confirming (an install run again, a failed delivery's rollback).
if [ ! -s "$state/pending" ] && [ "$(cat "$state/outcome" 2>/dev/null)" = "confirmed $digest" ] &&
    nft -s list ruleset | cmp -s - "$state/confirmed.list"; then
  nft -f "$conf" || { echo "nft -f $conf failed; the live ruleset is unchanged" >&2; exit 1; }
  echo "re-applied ruleset $digest, the one last confirmed: nothing to confirm"
  exit 0
fi
# What a revert restores: the last confirmed ruleset. An earlier apply still waiting keeps its own.
if [ -s "$state/pending" ]; then
  stop_timer
else
  { echo 'flush ruleset'; nft list ruleset; } >"$state/previous.new"
  if ! nft -c -f "$state/previous.new" >/dev/null; then
    echo "refused: the live ruleset cannot be kept for a revert (nft cannot read its own listing back);" \\
      "apply $conf by hand; nothing was changed" >&2
    exit 1
  fi
  mv -f "$state/previous.new" "$state/previous.nft"
fi
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \\n')
printf '%s\\n' "$revert" >"$state/revert.sh"
printf '%s %s\\n' "$digest" "$nonce" >"$state/pending"
# The timer first: the new ruleset is never live without one.
if [ "$transport" = ssh ] && command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  # A transient unit outlives this SSH session whatever logind does with its processes.
  if ! systemd-run --quiet --collect --unit="isp-nft-revert-$nonce" --on-active="$seconds" \\
      /bin/sh "$state/revert.sh" "$state" "$conf" "$nonce" 0; then
    rm -f "$state/pending"; echo "refused: no revert timer could be armed; nothing was changed" >&2; exit 1
  fi
  echo "unit isp-nft-revert-$nonce $nonce" >"$state/timer"
else
  # Detached, holding no descriptor of this session (nor a lock of the delivery's).
  setsid /bin/sh "$state/revert.sh" "$state" "$conf" "$nonce" "$seconds" </dev/null >/dev/null 2>&1 \\
    3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo "pid $! $nonce" >"$state/timer"
fi
if ! nft -f "$conf"; then
  stop_timer; rm -f "$state/pending"
  echo "nft -f $conf failed; the live ruleset is unchanged" >&2; exit 1
fi
echo "applied ruleset $digest (apply $nonce): put back in $seconds s unless a new connection confirms it"
"""

# $1 the state directory, $2 the ruleset file, $3 the apply's nonce, $4 seconds to wait first.
REVERT = """\
set -u
state=$1 conf=$2 nonce=$3
[ "$4" = 0 ] || sleep "$4"
exec 9>>"$state/lock"
flock 9
[ -s "$state/pending" ] || exit 0
read -r digest pending <"$state/pending" || exit 0
[ "$pending" = "$nonce" ] || exit 0
nft -f "$state/previous.nft" || exit 1
cp -f "$conf" "$state/refused.nft" 2>/dev/null || true
# The file too, or the next boot would load the refused ruleset again.
{ echo '#!/usr/sbin/nft -f'
  echo "# Put back: the ruleset delivered here was not confirmed in time (kept as $state/refused.nft)."
  cat "$state/previous.nft"; } >"$conf.isp-revert" && chmod 0755 "$conf.isp-revert" && mv -f "$conf.isp-revert" "$conf"
echo "reverted $digest" >"$state/outcome"
rm -f "$state/pending" "$state/timer"
logger -t isp-nftables "ruleset $digest not confirmed in time: previous ruleset put back" 2>/dev/null || true
"""

# $1 the state directory, $2 the ruleset's sha256, $3 the install's resource name (for the message).
CONFIRM = """\
set -eu
state=$1 digest=$2 install=$3
[ -d "$state" ] || { echo "no nftables apply is recorded on this host ($state is missing)" >&2; exit 1; }
exec 9>>"$state/lock"
flock -w 60 9 || { echo "another apply or revert holds $state/lock" >&2; exit 1; }
""" + _STOP_TIMER + """\
if [ -s "$state/pending" ] && read -r pending nonce <"$state/pending" && [ "$pending" = "$digest" ]; then
  stop_timer
  rm -f "$state/pending"
  echo "confirmed $digest" >"$state/outcome"
  nft -s list ruleset >"$state/confirmed.list" || rm -f "$state/confirmed.list"
  echo "ruleset $digest confirmed over a new connection; the revert timer is stopped"
  exit 0
fi
outcome=$(cat "$state/outcome" 2>/dev/null || true)
if [ "$outcome" = "confirmed $digest" ]; then echo "ruleset $digest was already confirmed"; exit 0; fi
if [ "$outcome" = "reverted $digest" ]; then
  echo "refused: the new gateway ruleset was applied, but no new SSH connection could confirm it in time, so" \\
    "the gateway put the previous ruleset back (live and in the ruleset file; the refused one is" \\
    "$state/refused.nft). It drops the deploy's own connections: check isp:gateway.managementNetworks and the" \\
    "gateway's sshPort against where the deploy connects from. If the ruleset was right and the deploy moved," \\
    "apply it again with: pulumi up --replace <the urn of $install>" >&2
  exit 1
fi
echo "no apply of ruleset $digest is waiting for confirmation on this host" >&2
exit 1
"""


def apply_argv(conf: str, transport: str, ssh_port: int, revert_after: int = REVERT_AFTER) -> list[str]:
    """The reload: apply `conf` with a revert timer (words quoted by the delivery)."""
    return ["sh", "-c", APPLY, "isp-nft-apply", conf, STATE_DIR, str(revert_after), transport, str(ssh_port), REVERT]


def confirm_argv(content: str, install_name: str) -> list[str]:
    digest = hashlib.sha256(content.encode()).hexdigest()
    return ["sh", "-c", CONFIRM, "isp-nft-confirm", STATE_DIR, digest, install_name]


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        ruleset = args.rendered  # refused before anything of the gateway is registered
        # The pools are evidence for the policy pack: it then knows whose port 25 to check.
        super().__init__("isp:network:Gateway", name, {"customerPools": args.customer_pools}, opts)
        connection = args.connection
        self.config = ServiceConfig(
            f"{name}-nftables",
            ServiceConfigArgs(
                connection=connection,
                files=[ManagedFile(NFTABLES_CONF, ruleset, mode="0755", role="nftables.conf")],
                checks=[["nft", "-c", "-f", staging_path(NFTABLES_CONF)]],
                reload=[apply_argv(NFTABLES_CONF, connection.transport, args.deploy.gateway.port, args.revert_after)],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        confirm = " ".join(shlex.quote(w) for w in confirm_argv(ruleset, f"{name}-nftables-install"))
        # Its text names the ruleset (its digest): a new ruleset, a new confirm. An install run again with the
        # same one needs none (APPLY re-applies the confirmed ruleset without a timer).
        triggers = [confirm]
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.config])
        if connection.transport == "local":
            self.confirm = command.local.Command(
                f"{name}-nftables-confirm", create=confirm, interpreter=connection.interpreter(),
                environment={"ISP_HOST": connection.host}, triggers=triggers, opts=after,
            )
        else:
            # A connection of its own: a new TCP connection that the new ruleset must admit.
            self.confirm = command.remote.Command(
                f"{name}-nftables-confirm",
                connection=command.remote.ConnectionArgs(
                    host=connection.host, user=connection.user, port=connection.port,
                    private_key=connection.private_key, per_dial_timeout=CONFIRM_DIAL_TIMEOUT,
                    dial_error_limit=CONFIRM_DIAL_ATTEMPTS,
                ),
                create=confirm, triggers=triggers, opts=after,
            )
        self.register_outputs({"mailNat": [m.model_dump() for m in args.mail_nat]})
