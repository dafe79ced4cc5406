"""The leaf fields of StackConfig, read from the pydantic model itself, and hostile values for each.

`config_leaves()` walks the model (nested models, lists, optionals) to every field that holds a
single value; `STRATEGIES` gives each leaf (by its key template, `hosts[].publicAddress6`) the
values to try. A leaf without an entry there fails `test_every_config_leaf_has_a_strategy_and_a_place`, so
a new field is fuzzed as soon as it exists.

Values are what an operator or attacker can write in YAML (text, numbers, booleans, lists,
maps, dates, !!binary bytes) plus ipaddress objects (the Python API): a benign seed with the
metacharacters of every format a config value reaches spliced in (BIND, zone files, Postfix,
Dovecot, nginx, nftables, systemd, shell, PHP, YAML/JSON), line ends that str.splitlines and
other programs honour, lone surrogates, NUL, 10k-character values, and ipaddress's lenient
spellings (scope ids, netmasks, zero padding, IPv4-mapped IPv6).
"""

from __future__ import annotations

import datetime
import ipaddress
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel

from components.config import StackConfig
from tests.fuzz.render_values import META, address_values, int_values, text_values

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Leaf:
    path: Path  # camelCase keys and list positions (0 stands for "any element")
    annotation: Any

    @property
    def template(self) -> str:
        """`hosts[].publicAddress6`: the key with its list positions left open."""
        return key_path(tuple("[]" if isinstance(p, int) else p for p in self.path))


def key_path(path: Path) -> str:
    """('hosts', 2, 'publicAddress6') -> 'hosts[2].publicAddress6' (the YAML spelling in messages)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[]":
            out += "[]"
        else:
            out += ("." if out else "") + part
    return out


def config_leaves(model: type[BaseModel] = StackConfig) -> list[Leaf]:
    out: list[Leaf] = []
    _walk(model, (), out)
    return out


def _walk(annotation: Any, path: Path, out: list[Leaf]) -> None:
    origin = get_origin(annotation)
    if origin is Annotated:
        _walk(get_args(annotation)[0], path, out)
    elif origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        lists = [a for a in members if get_origin(a) is list]
        if models or (lists and len(members) == 1):
            _walk((models or lists)[0], path, out)
        else:
            out.append(Leaf(path, annotation))
    elif origin is list:
        _walk(get_args(annotation)[0], (*path, 0), out)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            _walk(field.annotation, (*path, field.alias or name), out)
    else:
        out.append(Leaf(path, annotation))


# ---------------------------------------------------------------------------------------
# Values

# A config value can reach any of the files (a host name lands in named.conf, main.cf and the
# ruleset): each value is built for one format picked at random, its splices from render_values.
ANY_FORMAT = st.sampled_from(sorted(META))
# What YAML can hand over besides text (1e3, yes, 2024-01-01, !!binary, [..], {..}, a `secure:`).
YAML_NON_TEXT = st.sampled_from([
    None, 0, 1, -1, 10, 167772161, 2**64, 1e3, 1.5, float("nan"), True, False, datetime.date(2024, 1, 1),
    b"\n10.0.0.1", b"\x0a\x14\x00\x01", [], ["10.20.0.0/24"], {"a": 1}, {"secure": "v1:AAAA"},
])


def text(*seeds: str) -> st.SearchStrategy[Any]:
    seed = st.sampled_from(seeds)
    return st.one_of(
        ANY_FORMAT.flatmap(lambda fmt: text_values(list(seeds), fmt)),
        seed.flatmap(lambda s: st.integers(5000, 10_000).map(lambda n: s + "a" * n)),  # 10k characters
        YAML_NON_TEXT,
    )


def choice(*allowed: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(allowed), text(*(str(a) for a in allowed)))


def integer(*seeds: int) -> st.SearchStrategy[Any]:
    return st.one_of(int_values(list(seeds)), text(*(str(s) for s in seeds)))


def boolean() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), text("true", "false", "yes", "1"))


def address(*seeds: str) -> st.SearchStrategy[Any]:
    """render_values' address values (hostile text, lenient spellings, scoped objects) and the
    seeds spelled as IPv4-mapped/compatible IPv6, in capitals, or as objects."""
    seed = st.sampled_from(seeds)
    return st.one_of(
        ANY_FORMAT.flatmap(lambda fmt: address_values(list(seeds), fmt)),
        seed.map(lambda s: f"::ffff:{s}" if "." in s else s.upper().replace("::", ":0:0:")),
        seed.map(lambda s: f"::{s}" if "." in s else f"{s}%0"),
        seed.map(ipaddress.ip_address),
        YAML_NON_TEXT,
    )


def network(*seeds: str) -> st.SearchStrategy[Any]:
    """As `address`, and the seeds with a netmask, hostmask or zero-padded length."""
    seed = st.sampled_from(seeds)
    return st.one_of(
        ANY_FORMAT.flatmap(lambda fmt: address_values(list(seeds), fmt)),
        seed.map(lambda s: s.upper().replace("/", "/0")),
        seed.map(lambda s: str(ipaddress.ip_network(s).with_netmask)),
        seed.map(lambda s: str(ipaddress.ip_network(s).with_hostmask)),
        seed.map(lambda s: f"::ffff:{s.split('/')[0]}/{96 + int(s.split('/')[1])}" if "." in s else s),
        seed.map(ipaddress.ip_network),
        YAML_NON_TEXT,
    )


PEM = "-----BEGIN CERTIFICATE-----\nMIIBtTCCAVygAwIBAgIU\n-----END CERTIFICATE-----\n"
# An RSA 2048 SubjectPublicKeyInfo (its private half discarded): the seed of mail.dkim.keys[].publicKey.
DKIM_PUBLIC_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs8KFaTAMmh8znaOcaEXBpXRnvcVWpnnNwLD7/z+mdIb3rK9Q858n04YP"
    "yzD9wl894s18mse2IK0lNChcZJUugQ3LzcosjA3B26Jci7xAfIc2W17FOdUJXXlRYhbk/okM1RxtYLMkGEnr+xchrHO6GRJeB2L5"
    "bt8LOmRcigX+Nr3MDMrjhG0X/DFT8hGE3uYmpJ6Qgf4tN9y4B8ulfsZZtvWk4wqSWfByhDujU9BP7K28KB625Qtu2b8tvSj4/6UN"
    "PQj4O0ErzNJ/Vd7BuzcdMP16zkSZHqmcoEyZNBU/+hnDCcMFPWRMDwVKMY07KVsmAenOVy964oTO9yDwmWDjXwIDAQAB"
)

# One entry per leaf template: the values to try there.
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "organization.name": text("Brookfield Valley Internet"),
    "organization.domain": text("example.net"),
    "organization.cloudflareAccountId": text("3f2b9c4e8a7d4b1c9e0f6a5b4c3d2e1f"),
    "organization.contactEmail": text("hostmaster@example.net"),
    "networks.servers[]": network("10.20.0.0/24", "10.20.0.0/16"),
    "networks.publicBlocks[]": network("198.51.100.0/24", "2001:db8:100::/48"),
    "networks.customerPools[].name": text("res"),
    "networks.customerPools[].prefix": network("203.0.113.0/25", "2001:db8:8000::/40"),
    "networks.customerPools[].kind": choice("broadband", "dialup", "business"),
    "networks.customerPools[].ptrPattern": text("{kind}-{a}-{b}-{c}-{d}.{name}.pool.{domain}"),
    "hosts[].name": text("ns1"),
    "hosts[].privateAddress": address("10.20.0.11", "10.20.0.99"),
    "hosts[].publicAddress": address("198.51.100.11", "198.51.100.99"),
    "hosts[].publicAddress6": address("2001:db8:100::11", "2001:db8:100::99"),
    "hosts[].roles[]": choice("dns", "mail", "web", "webmail", "db", "gateway"),
    "hosts[].sshUser": text("deploy"),
    "hosts[].sshPort": integer(22, 2222),
    "hosts[].sshKeyConfig": text("sshPrivateKey"),
    "hosts[].publishPtr": boolean(),
    "hosts[].database.engine": choice("postgresql", "mariadb"),
    "hosts[].database.retentionDays": integer(14),
    "hosts[].database.backupDir": text("/var/backups/db"),
    "hosts[].database.schedule": text("*-*-* 02:30:00", "daily"),
    "hosts[].databases[].engine": choice("postgresql", "mariadb"),
    "hosts[].databases[].retentionDays": integer(14),
    "hosts[].databases[].backupDir": text("/var/backups/mariadb", "/srv/backups/mariadb"),
    "hosts[].databases[].schedule": text("*-*-* 03:00:00", "daily"),
    "zones[].name": text("example.com"),
    "zones[].records[].name": text("www", "@", "_dmarc"),
    "zones[].records[].type": choice("A", "AAAA", "CNAME", "MX", "TXT", "CAA", "NS", "SRV"),
    "zones[].records[].content": st.one_of(
        address("198.51.100.80", "2001:db8:100::80"), text("www.example.net", 'v=spf1 -all', '0 issue "x.org"')
    ),
    "zones[].records[].ttl": integer(1, 300),
    "zones[].records[].priority": integer(10),
    "zones[].records[].proxied": boolean(),
    "zones[].dmarcPolicy": choice("none", "quarantine", "reject"),
    "zones[].dmarcAlignment": choice("relaxed", "strict"),
    "zonesFrom[]": text("customers.yaml", "zones/customers.json"),
    "dns.recursionClients[]": st.one_of(network("10.20.0.0/24", "2001:db8:100::/48"), choice("any")),
    "dns.rateLimitPerSecond": integer(10),
    "dns.reverseZonesOn": choice("bind", "cloudflare"),
    "mail.dailyLimitPerAccount": integer(100),
    "mail.messageSizeLimitMb": integer(25),
    "mail.dialupMessageSizeLimitMb": integer(5),
    "mail.submissionPorts[]": choice(587, 465, 2525),
    "mail.mailboxFormat": choice("maildir"),
    "mail.dkim.signWith[]": text("s2026a"),
    "mail.dkim.keys[].selector": text("s2026a", "mail-2026.a"),
    "mail.dkim.keys[].algorithm": choice("rsa", "ed25519"),
    "mail.dkim.keys[].publicKey": text(DKIM_PUBLIC_KEY),
    "mail.dkim.keys[].privateKeyConfig": text("dkimKey_s2026a", "mailSigningKey"),
    "mail.mtaSts.mode": choice("enforce", "testing", "none"),
    "mail.mtaSts.maxAge": integer(604800, 86400),
    "mail.mtaSts.certificate.source": choice("acme", "provided"),
    "mail.mtaSts.certificate.challenge": choice("http-01", "dns-01"),
    "mail.mtaSts.certificate.email": text("hostmaster@example.net"),
    "mail.mtaSts.certificate.certificatePem": text(PEM),
    "mail.tlsRpt.rua[]": text("mailto:tlsrpt@example.net", "https://reports.example.net/tlsrpt"),
    "gateway.wanInterface": text("eth0"),
    "gateway.serverInterface": text("eth1"),
    "gateway.customerInterface": text("eth2"),
    "gateway.managementNetworks[]": network("10.20.0.0/24", "2001:db8:100::/48"),
    "webmail.certificate.source": choice("acme", "provided"),
    "webmail.certificate.challenge": choice("http-01", "dns-01"),
    "webmail.certificate.email": text("hostmaster@example.net"),
    "webmail.certificate.certificatePem": text(PEM),
    "webmail.productName": text("Brookfield Valley Webmail"),
    "webmail.imapHost": text("imap.example.net", "mail.example.net"),
    "webmail.store.engine": choice("sqlite", "dbconfig"),
    "protect": boolean(),
    "delivery": choice("ssh", "local"),
}

def holds_address(annotation: Any) -> bool:
    """Whether a leaf's type is (or includes) an ipaddress address or network."""
    if isinstance(annotation, type):
        return issubclass(annotation, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                          | ipaddress.IPv6Network)
    return any(holds_address(a) for a in get_args(annotation))
