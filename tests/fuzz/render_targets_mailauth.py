"""What the renderer fuzz renders, mail authentication part (render_targets holds the rest): OpenDKIM's
conf and tables (components/render/opendkim) and the MTA-STS policy (components/render/mtasts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from components.render import mtasts, opendkim
from tests.fuzz.render_fields import (
    Field,
    Target,
    address_field,
    at,
    attribute,
    int_field,
    item,
    text_field,
    verbatim,
    whole_list,
)
from tests.fuzz.render_values import text_values

_SIGNING_KEYS = [opendkim.SigningKey("s2026a")]

# What these dialects give meaning to (opendkim.conf(5), opendkim(8) datasets, RFC 8461 §3.2), and
# whole payloads: spliced into the seeds beside render_values' generic fragments.
_META = {
    "opendkim": ["#", " ", "\t", ":", ",", "%", "!", "*", "@", "\\", "refile:", "csl:", "file:", "db:"],
    "keytable": ["#", " ", "\t", ":", "%", "./", "../", "-----BEGIN"],
    "signingtable": ["#", " ", "\t", "*", "@", "%", ","],
    "peerlist": ["#", " ", "!", "/", ",", "*"],
    "mtasts": [":", ": ", " ", "\t", "*.", ".", "\r", "\r\n", "#"],
}
_PAYLOADS = {
    "opendkim": ["\nMode v", "\nKeyTable csl:evil=x:y:z", " # x", "\nInternalHosts 0.0.0.0/0", "\nSocket inet:25"],
    "keytable": ["\nevil._domainkey.x evil.example:evil:/etc/shadow", ":evil:/etc/shadow", " x:y:/z"],
    "signingtable": ["\n* s2026a._domainkey.example.net", " evil", "*"],
    "peerlist": ["\n0.0.0.0/0", "\n::/0", " 0.0.0.0/0", "\n!10.20.0.1"],
    "mtasts": ["\nmode: none", "\nmx: *.evil.example", "\r\nmax_age: 0", "\nversion: STSv2", " mx: x.example"],
}


def _spliced(seed: str, fragment: str, where: int) -> str:
    where %= len(seed) + 1
    return seed[:where] + fragment + seed[where:]


def _hostile(field: Field, dialect: str) -> Field:
    """`field` with this dialect's metacharacters and payloads spliced into its benign text values."""
    seeds = [b for b in field.benign if isinstance(b, str)]
    if not seeds:
        return field
    fragment = st.one_of(st.lists(st.sampled_from(_META[dialect]), min_size=1, max_size=4).map("".join),
                         st.sampled_from(_PAYLOADS[dialect]))
    extra = st.builds(_spliced, st.sampled_from(seeds), fragment, st.integers(0, 300))
    return dataclasses.replace(field, values=st.one_of(field.values, extra))


def _target(name: str, dialect: str, render: Callable[..., str], base: Callable[[], dict],
            fields: tuple[Field, ...]) -> Target:
    return Target(name, dialect, render, base, tuple(_hostile(f, dialect) for f in fields))


def _signing_key_fields(dialect: str, expect: Any) -> tuple[Field, ...]:
    """The one signing key's selector and algorithm (only rsa signs: OpenDKIM 2.11, see the renderer)."""
    return (
        text_field("signing_keys[0].selector", attribute("signing_keys", 0, "selector"), ("s2026a", "mail-2.Key1"),
                   dialect, names=("signing_keys",), expect=expect),
        text_field("signing_keys[0].algorithm", attribute("signing_keys", 0, "algorithm"), ("rsa",), dialect,
                   names=("signing_keys",), expect=None),
        Field("signing_keys", st.one_of(
            text_values(["s2026a"], dialect), st.sampled_from([_SIGNING_KEYS, [opendkim.SigningKey("s2")]]),
            st.lists(st.builds(opendkim.SigningKey, text_values(["s2026a"], dialect),
                               st.sampled_from(opendkim.ALGORITHMS)), max_size=2),
        ), at("signing_keys"), (_SIGNING_KEYS, [opendkim.SigningKey("s2")]), expect=None),
    )


OPENDKIM_CONF = _target("opendkim.conf", "opendkim", opendkim.render_opendkim_conf, lambda: dict(
    hostname_fqdn="mail.example.net", signing_keys=_SIGNING_KEYS, key_table=opendkim.KEY_TABLE,
    signing_table=opendkim.SIGNING_TABLE, trusted_hosts=opendkim.TRUSTED_HOSTS, port=opendkim.MILTER_PORT,
), (
    text_field("hostname_fqdn", at("hostname_fqdn"), ("mail.example.net", "mx1.example.com"), "opendkim"),
    *_signing_key_fields("opendkim", None),  # checked, not written: the conf names no key
    text_field("key_table", at("key_table"), (opendkim.KEY_TABLE, "/srv/dkim/k+t@x.table"), "opendkim"),
    text_field("signing_table", at("signing_table"), (opendkim.SIGNING_TABLE, "/srv/dkim/s.table"), "opendkim"),
    text_field("trusted_hosts", at("trusted_hosts"), (opendkim.TRUSTED_HOSTS, "/srv/dkim/peers"), "opendkim"),
    int_field("port", at("port"), (opendkim.MILTER_PORT, 12345)),
))


def _dkim_tables_base() -> dict:
    return dict(domains=["example.net", "b.example.org"], signing_keys=_SIGNING_KEYS)


def _domain_fields(dialect: str) -> tuple[Field, ...]:
    return (
        text_field("domains[0]", item("domains"), ("example.net", "mail.example.com"), dialect),
        whole_list("domains", (["example.net"], ["c.example.com"]), text_values(["example.net"], dialect)),
    )


KEY_TABLE = _target("opendkim KeyTable", "keytable", opendkim.render_key_table, lambda: dict(
    _dkim_tables_base(), keys_dir=opendkim.DKIM_KEYS_DIR,
), (
    *_domain_fields("keytable"),
    *_signing_key_fields("keytable", verbatim),
    text_field("keys_dir", at("keys_dir"), (opendkim.DKIM_KEYS_DIR, "/srv/dkim+keys@x"), "keytable"),
))

SIGNING_TABLE = _target("opendkim SigningTable", "signingtable", opendkim.render_signing_table, _dkim_tables_base, (
    *_domain_fields("signingtable"),
    *_signing_key_fields("signingtable", verbatim),
))

TRUSTED_HOSTS = _target("opendkim trusted hosts", "peerlist", opendkim.render_trusted_hosts, lambda: dict(
    networks=["10.20.0.0/24", "2001:db8:100::/48"],
), (
    address_field("networks[0]", item("networks"),
                  ("10.20.0.0/24", "10.30.0.0/16", "2001:db8:200::/48", "2001:db8:300::/56"), "peerlist",
                  network=True),
    whole_list("networks", (["10.20.0.0/24"], ["10.30.0.0/16"], []), text_values(["10.20.0.0/24"], "peerlist")),
))

MTA_STS_POLICY = _target("MTA-STS policy", "mtasts", mtasts.render_mta_sts_policy, lambda: dict(
    mode="enforce", mx_hosts=["mail.example.net", "*.example.org"], max_age=604800,
), (
    text_field("mode", at("mode"), ("enforce", "testing", "none"), "mtasts"),
    text_field("mx_hosts[0]", item("mx_hosts"), ("mail.example.net", "mx1.example.com", "*.example.com"), "mtasts"),
    whole_list("mx_hosts", (["mail.example.net"], ["mx.example.org"]), text_values(["mail.example.net"], "mtasts")),
    int_field("max_age", at("max_age"), (604800, 86400, 0)),
))
