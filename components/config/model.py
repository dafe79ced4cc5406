"""The stack's `isp:` configuration as frozen pydantic models (camelCase in YAML, snake_case here).

The model checks that the input is well formed and consistent (addresses, names, roles,
references). Whether a well-formed stack breaks one of the ISP's lessons (open recursion,
DNS beside web, ...) is judged by the policy pack on what would really be deployed.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.config.database import (
    DatabaseSettings,
    refuse_an_engine_twice,
    refuse_database_and_databases,
    refuse_shared_backup_dirs,
)
from components.config.fields import (
    CF_ACCOUNT_RE,
    CONFIG_KEY_RE,
    OWNER_RE,
    SSH_USER_RE,
    ConfigModel,
    DomainName,
    HostName,
    InterfaceName,
    IPAddress,
    IPNetwork,
    IPv4Address,
    IPv6Address,
    PrintableText,
    StrictNetwork,
    any_overlap,
    domain_name,
    duplicates,
    mailbox,
    record_address,
)
from components.config.mail_auth import (
    DkimSettings,
    DmarcPolicy,
    MtaStsSettings,
    TlsRptSettings,
    enforce_mail_auth,
)
from components.config.null_mx import enforce_null_mx, is_null_mx
from components.config.webmail import WebmailSettings

Role = Literal["dns", "mail", "web", "webmail", "db", "gateway"]

class Organization(ConfigModel):
    """Who we are: the name on the SOA, the primary domain and the Cloudflare account."""

    name: PrintableText = Field(min_length=1, max_length=128)
    domain: DomainName
    cloudflare_account_id: str
    contact_email: str = Field(description="Hostmaster mailbox: SOA RNAME and DMARC reports.")

    @field_validator("cloudflare_account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if not CF_ACCOUNT_RE.fullmatch(value):
            raise ValueError("must be the 32 lowercase hex digits of a Cloudflare account id")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return mailbox(value)


class CustomerPool(ConfigModel):
    """An address pool handed to customers, with generated reverse and forward names."""

    name: HostName
    prefix: StrictNetwork
    kind: Literal["broadband", "dialup", "business"] = "broadband"
    # {a}.{b}.{c}.{d} are the address octets; the result must sit under organization.domain
    # or another zone we serve, so that generated PTRs resolve back (FCrDNS).
    ptr_pattern: str = "{kind}-{a}-{b}-{c}-{d}.{name}.pool.{domain}"

    @field_validator("ptr_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        allowed = {"a", "b", "c", "d", "kind", "name", "domain"}
        used = set(re.findall(r"{([^{}]*)}", value))
        if unknown := used - allowed:
            raise ValueError(f"uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "d" not in used:
            raise ValueError("must contain {d} so every address gets its own name")
        probe = value.format(a=1, b=2, c=3, d=4, kind="x", name="x", domain="example.net")
        domain_name(probe)
        return value


class Networks(ConfigModel):
    """Our own address space: recursion, transfers and reverse DNS are derived from it."""

    servers: list[StrictNetwork] = Field(min_length=1, description="Private server segments behind the gateway.")
    public_blocks: list[StrictNetwork] = Field(min_length=1, description="Public blocks assigned to us.")
    customer_pools: list[CustomerPool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_overlap(self) -> Networks:
        named = [(f"servers[{i}]", n) for i, n in enumerate(self.servers)]
        named += [(f"publicBlocks[{i}]", n) for i, n in enumerate(self.public_blocks)]
        named += [(f"customerPools[{i}].prefix", p.prefix) for i, p in enumerate(self.customer_pools)]
        if any_overlap([net for _, net in named]):  # then name the first pair (pairwise: the rare error path)
            for i, (key_a, net_a) in enumerate(named):
                for key_b, net_b in named[i + 1 :]:
                    if net_a.version == net_b.version and net_a.overlaps(net_b):
                        raise ValueError(f"{key_a} {net_a} overlaps {key_b} {net_b}; our blocks must be disjoint")
        names = [p.name for p in self.customer_pools]
        if len(names) != len(set(names)):
            raise ValueError(f"customer pool names must be unique, got {names}")
        return self

    def own_networks(self) -> list[IPNetwork]:
        """Every block that is ours: the clients our resolvers may serve."""
        return [*self.servers, *self.public_blocks, *(p.prefix for p in self.customer_pools)]




class Host(ConfigModel):
    name: HostName
    private_address: IPAddress
    public_address: IPv4Address | None = None
    public_address6: IPv6Address | None = None
    roles: list[Role] = Field(min_length=1)
    ssh_user: str = "deploy"
    ssh_port: int = Field(default=22, ge=1, le=65535)
    # Name of the secret config key holding this host's private SSH key (isp:<key>).
    ssh_key_config: str = "sshPrivateKey"
    # Publish a PTR for the public address (turning this off is how a stack loses FCrDNS).
    publish_ptr: bool = True
    # Only for `db` hosts: the database servers it runs, a backup job each (components/config/database.py).
    # `database` is the one-engine shorthand of `databases`; a db host with neither gets PostgreSQL's defaults.
    database: DatabaseSettings | None = None
    databases: list[DatabaseSettings] | None = Field(default=None, min_length=1)

    @field_validator("ssh_user")
    @classmethod
    def _ssh_user(cls, value: str) -> str:
        if not SSH_USER_RE.fullmatch(value):
            raise ValueError("must be a POSIX user name: lowercase letters, digits, _ and -")
        return value

    @field_validator("ssh_key_config")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not CONFIG_KEY_RE.fullmatch(value):
            raise ValueError("must be a config key name such as sshPrivateKey")
        # The named key is read as this host's SSH key and kept out of the model: naming another
        # setting (`zones`) would drop that whole block, naming another secret would misuse it.
        from components.config.keys import ACME_CLOUDFLARE_TOKEN, MTA_STS_TLS_KEY, WEBMAIL_TLS_KEY

        taken = {WEBMAIL_TLS_KEY, ACME_CLOUDFLARE_TOKEN, MTA_STS_TLS_KEY}
        taken |= {n for name, field in StackConfig.model_fields.items() for n in (name, field.alias) if n}
        if value in taken:
            raise ValueError(f"names the setting {value}; it must name a secret key of its own such as "
                             "sshPrivateKey (set with `pulumi config set --secret`)")
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[str]) -> list[str]:
        if len(value) != len(set(value)):
            raise ValueError(f"lists a role twice: {value}")
        return value

    @model_validator(mode="after")
    def _database_or_databases(self) -> Host:
        refuse_database_and_databases(self.database, self.databases)
        return self

    @model_validator(mode="after")
    def _one_job_per_engine(self) -> Host:
        refuse_an_engine_twice(self.databases)
        return self

    @model_validator(mode="after")
    def _backup_dirs_apart(self) -> Host:
        refuse_shared_backup_dirs(self.databases)
        return self


RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "CAA", "NS", "SRV"]


class Record(ConfigModel):
    name: str = Field(description="Owner relative to the zone ('@' for the apex) or fully qualified.")
    type: RecordType
    content: PrintableText = Field(min_length=1, max_length=2048)
    ttl: int = Field(default=1, description="Seconds; 1 means Cloudflare's automatic TTL.")
    priority: int | None = Field(default=None, ge=0, le=65535)
    proxied: bool = False

    @field_validator("name")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not OWNER_RE.fullmatch(value.rstrip(".")) or len(value) > 253:
            raise ValueError("must be '@', '*' or dot-separated DNS labels (letters, digits, - and leading _)")
        return value

    @field_validator("content")
    @classmethod
    def _address_content(cls, value: str, info: ValidationInfo) -> str:
        # A/AAAA content is kept as canonical text; `_content_fits_type` says why it is refused.
        try:
            return record_address(info.data.get("type"), value)
        except ValueError:
            return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if value != 1 and not 30 <= value <= 86400:
            raise ValueError("must be 1 (automatic) or between 30 and 86400 seconds")
        return value

    @model_validator(mode="after")
    def _content_fits_type(self) -> Record:
        if self.type in ("A", "AAAA"):
            try:  # no scope id, no mapped address: components.render.quoting.parse_address
                record_address(self.type, self.content)
            except ValueError as problem:
                shown = json.dumps(self.content[:64]) + ("..." if len(self.content) > 64 else "")
                raise ValueError(f"content {shown} {problem}") from None
        elif is_null_mx(self.type, self.content):
            pass  # RFC 7505 §3: the root as the exchange; its preference is checked by components/config/null_mx.py
        elif self.type in ("CNAME", "NS", "MX"):
            domain_name(self.content.rstrip(".") or "invalid")
        if self.type == "MX" and self.priority is None:
            raise ValueError("an MX record needs a priority")
        if self.type != "MX" and self.type != "SRV" and self.priority is not None:
            raise ValueError(f"priority only belongs on MX and SRV records, not {self.type}")
        if self.type == "CAA" and not re.fullmatch(r'^\d{1,3} (issue|issuewild|iodef) "[^"]*"$', self.content):
            raise ValueError('CAA content must look like: 0 issue "letsencrypt.org"')
        return self


class Zone(ConfigModel):
    name: DomainName
    records: list[Record] = Field(default_factory=list)
    # The primary domain gets SPF, DMARC, MX and host records from the stack itself. DMARC p= (RFC 7489
    # §6.3): default derived (components/config/mail_auth.py dmarc_policy): reject where no mail is sent
    # or where our hosts sign with DKIM, none otherwise.
    dmarc_policy: DmarcPolicy | None = None
    # adkim/aspf (RFC 7489 §3.1): relaxed lets mail from a subdomain align with its organizational domain.
    dmarc_alignment: Literal["relaxed", "strict"] = "relaxed"



class GatewaySettings(ConfigModel):
    """The border router's interfaces and who may manage it."""

    wan_interface: InterfaceName = "eth0"
    server_interface: InterfaceName = "eth1"
    customer_interface: InterfaceName = "eth2"
    # Who may SSH to the gateway, and through it to every host: where the deploy runs from.
    # Default (key absent): our server networks.
    management_networks: list[StrictNetwork] | None = None

    @field_validator("management_networks")
    @classmethod
    def _deploy_can_come_from(cls, value: list[IPNetwork] | None) -> list[IPNetwork] | None:
        # Either would make the gateway's ruleset drop the deploy's own SSH connection (lockout).
        if value is not None and not value:
            raise ValueError(
                "admits nobody: the gateway's ruleset would drop the deploy's own SSH connection "
                "(leave the key out to admit the server networks)"
            )
        for i, network in enumerate(value or ()):
            zeros = network.network_address.is_unspecified and network.prefixlen >= (8 if network.version == 4 else 128)
            kinds = {"unspecified": zeros, "loopback": network.is_loopback, "multicast": network.is_multicast,
                     "link-local": network.is_link_local, "reserved": network.version == 4 and network.is_reserved}
            kind = next((name for name, hit in kinds.items() if hit), None)
            if kind:
                raise ValueError(
                    f"[{i}] {network} is {kind} space, never the source of the deploy's SSH connection "
                    "to the gateway: list the networks the deploy really comes from"
                )
        return value

    @model_validator(mode="after")
    def _distinct(self) -> GatewaySettings:
        names = [self.wan_interface, self.server_interface, self.customer_interface]
        if len(set(names)) != 3:
            raise ValueError(f"wanInterface, serverInterface and customerInterface must differ, got {names}")
        return self


class DnsSettings(ConfigModel):
    # Who may use our resolvers. Default: every block of ours. The lesson forbids "any";
    # the policy pack, not this model, is where that is judged.
    recursion_clients: list[Literal["any"] | StrictNetwork] | None = None
    rate_limit_per_second: int = Field(default=10, ge=1, le=1000)  # BIND's rate-limit ceiling
    # Reverse zones holding only host PTRs may live on Cloudflare; pool zones always use BIND.
    reverse_zones_on: Literal["bind", "cloudflare"] = "bind"


class MailSettings(ConfigModel):
    daily_limit_per_account: int = Field(default=100, ge=1, le=100000)
    message_size_limit_mb: int = Field(default=25, ge=1, le=1024)
    dialup_message_size_limit_mb: int = Field(default=5, ge=1, le=1024)
    submission_ports: list[Literal[587, 465, 2525]] = Field(default_factory=lambda: [587, 465])
    mailbox_format: Literal["maildir"] = "maildir"
    # Mail authentication (lesson 6), components/config/mail_auth.py: absent dkim = nothing signed,
    # absent mtaSts = no MTA-STS; TLS-RPT is published by default (reports to organization.contactEmail).
    dkim: DkimSettings | None = None
    mta_sts: MtaStsSettings | None = None
    tls_rpt: TlsRptSettings = TlsRptSettings()

    @model_validator(mode="after")
    def _ports(self) -> MailSettings:
        if not {587, 465} <= set(self.submission_ports):
            raise ValueError(
                f"submissionPorts must include 587 and 465 (2525 is optional), got {self.submission_ports}"
            )
        if self.dialup_message_size_limit_mb > self.message_size_limit_mb:
            raise ValueError(
                f"dialupMessageSizeLimitMb {self.dialup_message_size_limit_mb} exceeds "
                f"messageSizeLimitMb {self.message_size_limit_mb}; the dial-up limit must be the smaller one"
            )
        return self


class StackConfig(ConfigModel):
    organization: Organization
    networks: Networks
    hosts: list[Host] = Field(min_length=1)
    zones: list[Zone] = Field(default_factory=list)
    # Files (YAML, or JSON if named *.json; relative to the project directory) each holding a list
    # of zones, read as if they followed `zones`: hundreds of customer zones would make the stack
    # config too large to reach the program (the CLI passes it in one environment variable, at
    # most 128 KiB on Linux).
    zones_from: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(default_factory=list)
    dns: DnsSettings = DnsSettings()
    mail: MailSettings = MailSettings()
    gateway: GatewaySettings = GatewaySettings()
    webmail: WebmailSettings = WebmailSettings()
    # Prod sets this: zones and zone data get `protect` so a bad change cannot delete them.
    protect: bool = False
    # How files reach hosts: ssh (pulumi-command remote) or local (the lab's namespaces).
    delivery: Literal["ssh", "local"] = "ssh"

    @model_validator(mode="after")
    def _consistent(self) -> StackConfig:
        names = [h.name for h in self.hosts]
        if dup := sorted(duplicates(names)):
            raise ValueError(f"hosts: duplicate host name(s) {dup}; each host needs its own name")
        for key, values in (
            ("privateAddress", [h.private_address for h in self.hosts]),
            ("publicAddress", [h.public_address for h in self.hosts if h.public_address]),
            ("publicAddress6", [h.public_address6 for h in self.hosts if h.public_address6]),
        ):
            if dup := sorted(str(v) for v in duplicates(values)):
                raise ValueError(f"hosts[].{key}: address(es) {dup} given to more than one host")
        for i, host in enumerate(self.hosts):
            where = f"hosts[{i}] ({host.name})"
            if not any(host.private_address in net for net in self.networks.servers):
                raise ValueError(f"{where}.privateAddress {host.private_address} is in none of networks.servers")
            for key, addr in (("publicAddress", host.public_address), ("publicAddress6", host.public_address6)):
                if addr is not None and not any(addr in net for net in self.networks.public_blocks):
                    raise ValueError(f"{where}.{key} {addr} is in none of networks.publicBlocks")
            if {"mail", "dns", "web", "webmail", "gateway"} & set(host.roles) and host.public_address is None:
                roles = sorted({"mail", "dns", "web", "webmail", "gateway"} & set(host.roles))
                raise ValueError(f"{where} has public role(s) {roles} but no publicAddress")
            for key in ("database", "databases"):
                if getattr(host, key) is not None and "db" not in host.roles:
                    raise ValueError(f"{where}.{key} is set but the host has no 'db' role; add 'db' to its roles")
        if "webmail" in self.model_fields_set and not self.hosts_with("webmail"):
            raise ValueError("webmail is set but no host has the role 'webmail'")
        for role in ("dns", "mail", "gateway"):
            if not self.hosts_with(role):
                raise ValueError(f"hosts: no host has the role '{role}'; a stack needs at least one")
        if len(self.hosts_with("gateway")) > 1:
            raise ValueError("hosts: more than one gateway; this program manages a single border router")
        zone_names = [z.name for z in self.zones]
        if dup := sorted(duplicates(zone_names)):
            raise ValueError(f"zones: zone(s) {dup} listed twice")
        if self.organization.domain not in zone_names:
            raise ValueError(
                f"zones: the primary domain {self.organization.domain} (organization.domain) must be one of the zones"
            )
        # Tenants stay in their zone (components/config/tenancy.py): each refusal located at its zone or record.
        from components.config.tenancy import enforce_tenancy

        enforce_tenancy(self)
        enforce_null_mx(self)
        enforce_mail_auth(self)
        return self

    def hosts_with(self, role: str) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    def fqdn(self, host: Host) -> str:
        return f"{host.name}.{self.organization.domain}"

    def databases_of(self, host: Host) -> list[DatabaseSettings]:
        """A db host's database servers in the order listed: `databases`, `database`, or PostgreSQL's defaults."""
        if host.databases is not None:
            return list(host.databases)
        return [host.database or DatabaseSettings()]

    @property
    def webmail_fqdn(self) -> str:
        return f"webmail.{self.organization.domain}"

    @property
    def acme_email(self) -> str:
        return self.webmail.certificate.email or self.organization.contact_email

    @property
    def recursion_clients(self) -> list[str]:
        if self.dns.recursion_clients is None:
            return [str(n) for n in self.networks.own_networks()]
        return [str(n) for n in self.dns.recursion_clients]


