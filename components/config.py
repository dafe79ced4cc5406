"""The one typed view of a stack's `isp:` configuration.

Every `isp:` key in `Pulumi.<stack>.yaml` is parsed here, once, into frozen pydantic models
(camelCase in YAML, snake_case in Python, unknown keys rejected). Nothing is registered
before `load_stack_config` has returned, so bad input can never half-apply a stack.

The model checks that the input is well formed and consistent (addresses, names, roles,
references). Whether a well-formed stack breaks one of the ISP's lessons (open recursion,
DNS beside web, ...) is judged by the policy pack on what would really be deployed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

CONFIG_NAMESPACE = "isp"
# Secret `isp:` keys, read with `pulumi.Config("isp").require_secret` and kept out of the model.
WEBMAIL_TLS_KEY = "webmailTlsKey"  # the provided webmail certificate's private key (PEM)
ACME_CLOUDFLARE_TOKEN = "acmeCloudflareToken"  # a token allowed DNS:Edit only, for ACME DNS-01
SECRET_KEYS = ("sshPrivateKey", WEBMAIL_TLS_KEY, ACME_CLOUDFLARE_TOKEN)

# A DNS label as RFC 1123 allows it for host names: letters, digits, inner hyphens.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}$")
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z][a-z0-9-]{{0,62}}(?<!-)$")
# Relative record owner names may also hold underscore labels (_dmarc, _domainkey) and "*".
_OWNER_RE = re.compile(
    r"^(?:@|\*|(?:\*\.)?(?:_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)(?:\.(?:_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?))*)$"
)
_SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_CF_ACCOUNT_RE = re.compile(r"^[0-9a-f]{32}$")
_CONFIG_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Printable text for TXT/CAA content: no control characters (newlines, NUL, ...).
_PRINTABLE_RE = re.compile(r"^[\x20-\x7e]*$")


class ConfigError(ValueError):
    """A stack config problem, phrased for a person: file, key, value, rule."""


def _hostname(value: str) -> str:
    if not _HOSTNAME_RE.fullmatch(value):
        raise ValueError("must be one lowercase DNS label: letters, digits and inner hyphens, 1-63 characters")
    return value


def _domain(value: str) -> str:
    value = value.rstrip(".") if value.endswith(".") and value.count(".") > 1 else value
    if len(value) > 253 or not _DOMAIN_RE.fullmatch(value):
        raise ValueError("must be a lowercase fully qualified domain name such as example.net")
    return value


def _printable(value: str) -> str:
    if not _PRINTABLE_RE.fullmatch(value):
        raise ValueError("must be printable ASCII without newlines or control characters")
    return value


def _mailbox(value: str) -> str:
    local, sep, domain = value.partition("@")
    if not sep or not re.fullmatch(r"[a-z0-9][a-z0-9._+-]{0,63}", local):
        raise ValueError("must be a plain mailbox such as hostmaster@example.net")
    try:
        _domain(domain)
    except ValueError:
        raise ValueError("must be a plain mailbox such as hostmaster@example.net (its domain is not valid)") from None
    return value


HostName = Annotated[str, AfterValidator(_hostname)]
DomainName = Annotated[str, AfterValidator(_domain)]
PrintableText = Annotated[str, AfterValidator(_printable)]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _text(value: Any) -> Any:
    """Addresses are written as text: YAML's 1, true or 1e3 must not become 0.0.0.1."""
    if not isinstance(
        value, str | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network
    ):
        raise ValueError('must be an address written as text, e.g. "192.0.2.1"')
    return value


IPAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, BeforeValidator(_text)]
IPv4Address = Annotated[ipaddress.IPv4Address, BeforeValidator(_text)]
IPv6Address = Annotated[ipaddress.IPv6Address, BeforeValidator(_text)]

# A prefix without host bits (10.0.0.1/24 is rejected: such a typo silently shifts a block).
StrictNetwork = Annotated[IPNetwork, BeforeValidator(lambda v: _strict_network(_text(v)))]

Role = Literal["dns", "mail", "web", "webmail", "db", "gateway"]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


class Organization(_Model):
    """Who we are: the name on the SOA, the primary domain and the Cloudflare account."""

    name: PrintableText = Field(min_length=1, max_length=128)
    domain: DomainName
    cloudflare_account_id: str
    contact_email: str = Field(description="Hostmaster mailbox: SOA RNAME and DMARC reports.")

    @field_validator("cloudflare_account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if not _CF_ACCOUNT_RE.fullmatch(value):
            raise ValueError("must be the 32 lowercase hex digits of a Cloudflare account id")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _mailbox(value)


class CustomerPool(_Model):
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
        _domain(probe)
        return value


class Networks(_Model):
    """Our own address space: recursion, transfers and reverse DNS are derived from it."""

    servers: list[StrictNetwork] = Field(min_length=1, description="Private server segments behind the gateway.")
    public_blocks: list[StrictNetwork] = Field(min_length=1, description="Public blocks assigned to us.")
    customer_pools: list[CustomerPool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_overlap(self) -> Networks:
        named = [(f"servers[{i}]", n) for i, n in enumerate(self.servers)]
        named += [(f"publicBlocks[{i}]", n) for i, n in enumerate(self.public_blocks)]
        named += [(f"customerPools[{i}].prefix", p.prefix) for i, p in enumerate(self.customer_pools)]
        if _any_overlap([net for _, net in named]):  # then name the first pair (pairwise: the rare error path)
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


_BACKUP_DIR_RE = re.compile(r"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$")
# systemd.time(7) calendar events: weekdays, dates, times, ranges, lists, repetitions, names.
_CALENDAR_RE = re.compile(r"^[A-Za-z0-9*:,./~+-](?:[A-Za-z0-9*:,./~+ -]{0,62}[A-Za-z0-9*:,./~+-])?$")


class DatabaseSettings(_Model):
    """A `db` host's database server and its per-database backup job (lesson 9)."""

    engine: Literal["postgresql", "mariadb"] = "postgresql"
    retention_days: int = Field(default=14, ge=1, le=3650)
    backup_dir: str = "/var/backups/db"
    # systemd OnCalendar= syntax; the host's `systemd-analyze verify` is the final judge.
    schedule: str = "*-*-* 02:30:00"

    @field_validator("backup_dir")
    @classmethod
    def _backup_dir(cls, value: str) -> str:
        if not _BACKUP_DIR_RE.fullmatch(value) or ".." in value.split("/") or "//" in value or len(value) > 200:
            raise ValueError("must be an absolute directory such as /var/backups/db (letters, digits, . _ - /)")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _CALENDAR_RE.fullmatch(value):
            raise ValueError("must be a systemd calendar event such as '*-*-* 02:30:00' or 'daily'")
        return value


class Host(_Model):
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
    # Only for `db` hosts; a db host without it gets the defaults (PostgreSQL).
    database: DatabaseSettings | None = None

    @field_validator("ssh_user")
    @classmethod
    def _ssh_user(cls, value: str) -> str:
        if not _SSH_USER_RE.fullmatch(value):
            raise ValueError("must be a POSIX user name: lowercase letters, digits, _ and -")
        return value

    @field_validator("ssh_key_config")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not _CONFIG_KEY_RE.fullmatch(value):
            raise ValueError("must be a config key name such as sshPrivateKey")
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[str]) -> list[str]:
        if len(value) != len(set(value)):
            raise ValueError(f"lists a role twice: {value}")
        return value


RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "CAA", "NS", "SRV"]


class Record(_Model):
    name: str = Field(description="Owner relative to the zone ('@' for the apex) or fully qualified.")
    type: RecordType
    content: PrintableText = Field(min_length=1, max_length=2048)
    ttl: int = Field(default=1, description="Seconds; 1 means Cloudflare's automatic TTL.")
    priority: int | None = Field(default=None, ge=0, le=65535)
    proxied: bool = False

    @field_validator("name")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not _OWNER_RE.fullmatch(value.rstrip(".")) or len(value) > 253:
            raise ValueError("must be '@', '*' or dot-separated DNS labels (letters, digits, - and leading _)")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if value != 1 and not 30 <= value <= 86400:
            raise ValueError("must be 1 (automatic) or between 30 and 86400 seconds")
        return value

    @model_validator(mode="after")
    def _content_fits_type(self) -> Record:
        if self.type == "A":
            ipaddress.IPv4Address(self.content)
        elif self.type == "AAAA":
            ipaddress.IPv6Address(self.content)
        elif self.type in ("CNAME", "NS", "MX"):
            _domain(self.content.rstrip(".") or "invalid")
        if self.type == "MX" and self.priority is None:
            raise ValueError("an MX record needs a priority")
        if self.type != "MX" and self.type != "SRV" and self.priority is not None:
            raise ValueError(f"priority only belongs on MX and SRV records, not {self.type}")
        if self.type == "CAA" and not re.fullmatch(r'^\d{1,3} (issue|issuewild|iodef) "[^"]*"$', self.content):
            raise ValueError('CAA content must look like: 0 issue "letsencrypt.org"')
        return self


class Zone(_Model):
    name: DomainName
    records: list[Record] = Field(default_factory=list)
    # The primary domain gets SPF, DMARC, MX and host records from the stack itself.
    dmarc_policy: Literal["none", "quarantine", "reject"] = "reject"


_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _ifname(value: str) -> str:
    if not _IFNAME_RE.fullmatch(value) or value in (".", ".."):
        raise ValueError("must be a Linux interface name: 1-15 letters, digits, '_', '.', '-'")
    return value


InterfaceName = Annotated[str, AfterValidator(_ifname)]


class GatewaySettings(_Model):
    """The border router's interfaces and who may manage it."""

    wan_interface: InterfaceName = "eth0"
    server_interface: InterfaceName = "eth1"
    customer_interface: InterfaceName = "eth2"
    # Who may SSH to the gateway; default: our server networks.
    management_networks: list[StrictNetwork] | None = None

    @model_validator(mode="after")
    def _distinct(self) -> GatewaySettings:
        names = [self.wan_interface, self.server_interface, self.customer_interface]
        if len(set(names)) != 3:
            raise ValueError(f"wanInterface, serverInterface and customerInterface must differ, got {names}")
        return self


class DnsSettings(_Model):
    # Who may use our resolvers. Default: every block of ours. The lesson forbids "any";
    # the policy pack, not this model, is where that is judged.
    recursion_clients: list[Literal["any"] | StrictNetwork] | None = None
    rate_limit_per_second: int = Field(default=10, ge=1, le=10000)
    # Reverse zones holding only host PTRs may live on Cloudflare; pool zones always use BIND.
    reverse_zones_on: Literal["bind", "cloudflare"] = "bind"


class MailSettings(_Model):
    daily_limit_per_account: int = Field(default=100, ge=1, le=100000)
    message_size_limit_mb: int = Field(default=25, ge=1, le=1024)
    dialup_message_size_limit_mb: int = Field(default=5, ge=1, le=1024)
    submission_ports: list[Literal[587, 465, 2525]] = Field(default_factory=lambda: [587, 465])
    mailbox_format: Literal["maildir"] = "maildir"

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


_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----")


def _certificate_chain_problem(text: str) -> str | None:
    """Why `text` is not a PEM certificate chain (None when it is). Never quotes the text:
    a private key pasted here by mistake must not reach an error message."""
    blocks = _PEM_BLOCK_RE.findall(text)
    if any("PRIVATE KEY" in label for label, _ in blocks) or "PRIVATE KEY-----" in text:
        return ("holds a private key; this plain setting is for the public certificate only; set the key with "
                "`pulumi config set --secret isp:webmailTlsKey < key.pem`")
    if not blocks or any(label != "CERTIFICATE" for label, _ in blocks):
        return "must be one or more PEM blocks '-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----'"
    if _PEM_BLOCK_RE.sub("", text).strip():
        return "has text outside its PEM CERTIFICATE blocks"
    for _, body in blocks:
        try:
            base64.b64decode("".join(body.split()), validate=True)
        except (ValueError, binascii.Error):
            return "has a CERTIFICATE block whose body is not base64"
    return None


class WebmailCertificate(_Model):
    """Where the webmail certificate comes from (lesson 10: it names exactly the webmail host).

    `acme`: certbot asks for exactly webmail.<domain>, by HTTP-01 (webroot behind nginx) or
    DNS-01 (Cloudflare; token in the secret `isp:acmeCloudflareToken`). `provided`: the
    certificate chain here (public), its key in the secret `isp:webmailTlsKey`.
    """

    source: Literal["acme", "provided"] = "acme"
    challenge: Literal["http-01", "dns-01"] = "http-01"
    # The ACME account's contact; default: organization.contactEmail.
    email: str | None = None
    certificate_pem: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else _mailbox(value)

    @model_validator(mode="before")
    @classmethod
    def _pem(cls, data: Any) -> Any:
        # Checked on the raw object, so that an error shows the object, never the text.
        pem = data.get("certificatePem", data.get("certificate_pem")) if isinstance(data, dict) else None
        if pem is not None:
            problem = _certificate_chain_problem(pem) if isinstance(pem, str) else "must be text"
            if problem:
                raise ValueError(f"certificatePem {problem}")
        return data

    @model_validator(mode="after")
    def _fits_source(self) -> WebmailCertificate:
        if self.source == "provided":
            if self.certificate_pem is None:
                raise ValueError("source 'provided' needs certificatePem (the public certificate chain)")
            for key in ("challenge", "email"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key} is an ACME setting; it has no meaning with source 'provided'")
        elif self.certificate_pem is not None:
            raise ValueError("certificatePem is only for source 'provided'; with ACME the certificate is issued")
        return self

    @property
    def challenge_via_cloudflare(self) -> bool:
        return self.source == "acme" and self.challenge == "dns-01"


class WebmailSettings(_Model):
    """Roundcube on the `webmail` host, behind nginx, HTTPS only (lesson 10)."""

    certificate: WebmailCertificate = WebmailCertificate()
    # Shown on Roundcube's login page; default: "<organization.name> Webmail".
    product_name: PrintableText | None = Field(default=None, min_length=1, max_length=128)


class StackConfig(_Model):
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
        if dup := sorted(_duplicates(names)):
            raise ValueError(f"hosts: duplicate host name(s) {dup}; each host needs its own name")
        for key, values in (
            ("privateAddress", [h.private_address for h in self.hosts]),
            ("publicAddress", [h.public_address for h in self.hosts if h.public_address]),
            ("publicAddress6", [h.public_address6 for h in self.hosts if h.public_address6]),
        ):
            if dup := sorted(str(v) for v in _duplicates(values)):
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
            if host.database is not None and "db" not in host.roles:
                raise ValueError(f"{where}.database is set but the host has no 'db' role; add 'db' to its roles")
        if "webmail" in self.model_fields_set and not self.hosts_with("webmail"):
            raise ValueError("webmail is set but no host has the role 'webmail'")
        for role in ("dns", "mail", "gateway"):
            if not self.hosts_with(role):
                raise ValueError(f"hosts: no host has the role '{role}'; a stack needs at least one")
        if len(self.hosts_with("gateway")) > 1:
            raise ValueError("hosts: more than one gateway; this program manages a single border router")
        zone_names = [z.name for z in self.zones]
        if dup := sorted(_duplicates(zone_names)):
            raise ValueError(f"zones: zone(s) {dup} listed twice")
        if self.organization.domain not in zone_names:
            raise ValueError(
                f"zones: the primary domain {self.organization.domain} (organization.domain) must be one of the zones"
            )
        return self

    def hosts_with(self, role: str) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    def fqdn(self, host: Host) -> str:
        return f"{host.name}.{self.organization.domain}"

    def database_of(self, host: Host) -> DatabaseSettings:
        """A db host's database settings: its own, or the defaults (PostgreSQL)."""
        return host.database or DatabaseSettings()

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


def _duplicates(values: list[Any]) -> set[Any]:
    """The values listed more than once (one pass: hundreds of zones stay cheap)."""
    return {value for value, count in Counter(values).items() if count > 1}


def _any_overlap(networks: list[IPNetwork]) -> bool:
    """Whether two of `networks` (same IP version) overlap: a sweep in address order, not every pair."""
    reach: dict[int, int] = {}  # version -> highest broadcast address so far
    for version, start, end in sorted((n.version, int(n.network_address), int(n.broadcast_address)) for n in networks):
        if reach.get(version, -1) >= start:
            return True
        reach[version] = max(reach.get(version, -1), end)
    return False


def _strict_network(value: Any) -> Any:
    """Reject host bits (10.0.0.1/24): a typo there silently widens or shifts a block."""
    if isinstance(value, str):
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"is not a network prefix ({exc})") from None
    return value


# ---------------------------------------------------------------------------------------
# Reading the stack's config


def _location(loc: tuple[Any, ...]) -> str:
    """('hosts', 2, 'public_address') -> 'hosts[2].publicAddress' (the YAML spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "literal[", "list[")) and "[" not in part:
            out += ("." if out else "") + to_camel(part)
    return out


def _explain(error: ValidationError, stack_file: str, zone_sources: list[tuple[str, int] | None]) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        path = _location(loc)
        key = f"{CONFIG_NAMESPACE}:{path}" if path else f"{CONFIG_NAMESPACE}"
        if len(loc) > 1 and loc[0] == "zones" and isinstance(loc[1], int) and loc[1] < len(zone_sources):
            source = zone_sources[loc[1]]
            if source is not None:  # a zone read from a zonesFrom file: the file and its index there
                inner = _location(loc[2:])
                key = f"{source[0]}: [{source[1]}]" + (f".{inner}" if inner else "")
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
        if len(shown) > 120:
            shown = shown[:117] + "..."
        if err["type"] == "missing":
            lines.append(f"{key} is required but missing")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{key} is not a known setting (value {shown}); check its spelling in the config reference")
        elif not path:
            # A cross-field rule: its message names the keys and values itself.
            lines.append(f"{CONFIG_NAMESPACE}:{msg}")
        elif isinstance(value, dict):
            lines.append(f"{key}: {msg}")
        else:
            head = f"{key} = {shown}: "
            # A union (IPv4 | IPv6) fails once per branch: say it once, branches joined.
            if lines and lines[-1].startswith(head):
                lines[-1] += f", nor {msg[0].lower()}{msg[1:]}"
            else:
                lines.append(head + msg)
    # pydantic reports every branch of a union; keep each distinct line once.
    return _invalid(stack_file, list(dict.fromkeys(lines)))


def _invalid(stack_file: str, lines: list[str]) -> str:
    return f"{stack_file}: invalid stack config:\n  - " + "\n  - ".join(lines)


def parse_stack_config(
    values: Mapping[str, Any], stack_file: str = "stack config", project_dir: str | None = None
) -> StackConfig:
    """Build the model from `isp:` keys (namespace already stripped, values already decoded).

    The zones of `zonesFrom` files (relative to `project_dir`, default: the working directory)
    follow those of `zones`; an error in one names the file and the zone's index in it.
    """
    values = dict(values)
    zone_sources: list[tuple[str, int] | None] = []
    inline = values.get("zones") or []
    if values.get("zonesFrom") and isinstance(inline, list):
        listed, sources = _listed_zones(values["zonesFrom"], project_dir or os.getcwd(), stack_file)
        values["zones"] = [*inline, *listed]
        # Inline zones keep their isp:zones[i] locations; listed ones are named by file.
        zone_sources = [None] * len(inline) + sources
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, stack_file, zone_sources)) from None


def _listed_zones(files: Any, project_dir: str, stack_file: str) -> tuple[list[Any], list[tuple[str, int] | None]]:
    """The zones of every `zonesFrom` file in order, with (file, index in file) for each."""
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        shown = json.dumps(files, default=str)[:120]
        raise ConfigError(_invalid(stack_file, [f"{CONFIG_NAMESPACE}:zonesFrom = {shown}: must be a list of file "
                                                "paths (relative to the project directory)"]))
    zones: list[Any] = []
    sources: list[tuple[str, int] | None] = []
    for i, name in enumerate(files):
        problem, listed = _read_zone_list(os.path.join(project_dir, name))
        if problem:
            key = f"{CONFIG_NAMESPACE}:zonesFrom[{i}]"
            raise ConfigError(_invalid(stack_file, [f"{key} = {json.dumps(name)}: {problem}"]))
        zones.extend(listed)
        sources.extend((name, j) for j in range(len(listed)))
    return zones, sources


def _read_zone_list(path: str) -> tuple[str | None, list[Any]]:
    """(problem, zones) of one zonesFrom file: a list of zones as `zones` would hold them, in YAML, or
    in JSON when the name ends in .json (a list generated from a customer database: 100x faster to read)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            if path.endswith(".json"):
                document = json.load(stream)
            else:
                document = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        return f"cannot be read ({exc.strerror}: {os.path.abspath(path)})", []
    except UnicodeDecodeError:
        return "is not UTF-8 text", []
    except json.JSONDecodeError as exc:
        return f"is not valid JSON at line {exc.lineno} ({exc.msg})", []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"is not valid YAML{where} ({getattr(exc, 'problem', None) or 'unreadable'})", []
    if not isinstance(document, list):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        return f"must hold a list of zones (name, records, ...) as isp:zones does, found {found}", []
    return None, document


def load_stack_config() -> StackConfig:
    """Read every `isp:` key of the running stack into the model (inside a Pulumi program)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    stack = pulumi.get_stack()
    prefix = f"{CONFIG_NAMESPACE}:"
    raw: dict[str, Any] = {}
    # The CLI's language host sets config in-process; PULUMI_CONFIG is the older route.
    for full_key, text in {**get_config_env(), **CONFIG.get()}.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key.startswith("config:"):  # the legacy "isp:config:key" spelling
            key = key[len("config:") :]
        raw[key] = _decode(text)
    secret_keys = {h.get("sshKeyConfig", "sshPrivateKey") for h in raw.get("hosts", []) if isinstance(h, dict)}
    secret_keys |= set(SECRET_KEYS)
    values = {k: v for k, v in raw.items() if k not in secret_keys}
    try:
        # zonesFrom paths are relative to the project directory (where Pulumi.yaml is).
        project_dir = pulumi.runtime.get_root_directory() or os.getcwd()
        return parse_stack_config(values, f"Pulumi.{stack}.yaml", project_dir)
    except ConfigError as exc:
        # RunError is how a program tells the engine "my input is wrong": no traceback.
        raise pulumi.RunError(str(exc)) from None


def _decode(text: str) -> Any:
    """The engine passes objects and lists as JSON text and scalars as plain strings."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
