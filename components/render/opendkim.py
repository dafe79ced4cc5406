"""OpenDKIM as Postfix's signing milter: opendkim.conf, its KeyTable, SigningTable and trusted hosts.

Lesson 6 (deliverability): mail of our domains leaves with a DKIM signature (RFC 6376), so DMARC
passes aligned even where SPF breaks on a forward (RFC 7489 §4.2). Formats follow opendkim.conf(5)
of Debian's 2.11.0: a parameter, white space, its value, one per line; `#` starts a comment
anywhere on a line. Every value is checked by a whitelist (components/render/quoting.py) or the
selector/key-path checks here, so none can hold white space, `#` or a line break.

Who gets signed (opendkim.conf(5) InternalHosts, opendkim(8)): a client in InternalHosts (loopback
and our server networks) or an SMTP-AUTH authenticated one (Postfix passes `{auth_type}`), and
only for a From: address the SigningTable matches (`*@<domain>` for each of our domains). Mail
others relay through us unauthenticated is verified, never signed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from components.render import quoting

OPENDKIM_CONF = "/etc/opendkim.conf"  # Debian's path, read by its systemd unit (no -x)
KEY_TABLE = "/etc/opendkim/key.table"
SIGNING_TABLE = "/etc/opendkim/signing.table"
TRUSTED_HOSTS = "/etc/opendkim/trusted.hosts"
DKIM_KEYS_DIR = "/etc/dkimkeys"  # Debian's directory for the private keys (0700 opendkim)
MILTER_PORT = 8891
MILTER_HOST = "localhost"
# Debian's unit is Type=forking with PIDFile=/run/opendkim/opendkim.pid: the conf must write it there.
PID_FILE = "/run/opendkim/opendkim.pid"
RUN_AS = "opendkim"
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
ALGORITHMS = ("rsa", "ed25519")

# RFC 6376 §3.1: a selector is one or more dot-separated DNS labels. Letters, digits and hyphens only:
# the selector is also a file name under DKIM_KEYS_DIR and a field of the KeyTable (colon-separated).
_SELECTOR_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


@dataclass(frozen=True)
class SigningKey:
    """A key the host signs with: its selector, algorithm (RFC 8463 adds ed25519) and private key file."""

    selector: str
    algorithm: str = "rsa"



def selector(value: object, parameter: str) -> str:
    """A DKIM selector (RFC 6376 §3.1): dot-separated labels of letters, digits and hyphens."""
    if type(value) is not str or len(value) > 253 or not _SELECTOR_RE.fullmatch(value):
        raise quoting.RenderValueError(
            parameter, value, "must be a DKIM selector: DNS labels of letters, digits and hyphens, dot-separated"
        )
    return value


def private_key_path(selector_name: str, keys_dir: str = DKIM_KEYS_DIR) -> str:
    """Where the private key of `selector_name` is delivered: <keys_dir>/<selector>.private."""
    return f"{quoting.absolute_path(keys_dir, 'keys_dir')}/{selector(selector_name, 'selector')}.private"


def key_name(selector_name: str, domain: str) -> str:
    """The KeyTable's name for a (selector, domain): the DNS name its public key is published at."""
    return f"{selector_name}._domainkey.{domain}"


def render_opendkim_conf(
    *,
    hostname_fqdn: str,
    signing_keys: Sequence[SigningKey],
    key_table: str = KEY_TABLE,
    signing_table: str = SIGNING_TABLE,
    trusted_hosts: str = TRUSTED_HOSTS,
    port: int = MILTER_PORT,
) -> str:
    """/etc/opendkim.conf. The table paths are parameters so the check can point a copy of this
    very file at the staged tables (`opendkim -n -x`), never at the live ones."""
    hostname_fqdn = quoting.fqdn(hostname_fqdn, "hostname_fqdn")
    _signing_keys(signing_keys)  # the conf names no key, but refuses what the tables would refuse
    paths = {name: quoting.absolute_path(value, name) for name, value in
             (("key_table", key_table), ("signing_table", signing_table), ("trusted_hosts", trusted_hosts))}
    port = quoting.port(port, "port")
    return f"""\
# opendkim.conf for {hostname_fqdn}. Rendered by the ISP program; edits are overwritten.
# Lesson 6: DKIM signatures (RFC 6376) so DMARC passes aligned even where SPF breaks on a forward.
Syslog\t\t\tyes
SyslogSuccess\t\tyes
UMask\t\t\t007
UserID\t\t\t{RUN_AS}
PidFile\t\t\t{PID_FILE}
# Postfix's smtpd runs chrooted: a TCP socket on loopback needs nothing inside the chroot.
Socket\t\t\tinet:{port}@{MILTER_HOST}
# s: sign mail from InternalHosts and authenticated senders; v: verify what arrives.
Mode\t\t\tsv
Canonicalization\trelaxed/simple
# A second From: added in transit would not verify (RFC 6376 §8.15).
OversignHeaders\t\tFrom
# Refuse a private key others could read (opendkim.conf(5); the default, stated).
RequireSafeKeys\t\tyes
KeyTable\t\t{paths["key_table"]}
SigningTable\t\trefile:{paths["signing_table"]}
# Our own hosts: their mail is signed, and they are not "external hosts" sending as our domains.
InternalHosts\t\t{paths["trusted_hosts"]}
ExternalIgnoreList\t{paths["trusted_hosts"]}
"""


def render_key_table(*, domains: Sequence[str], signing_keys: Sequence[SigningKey],
                     keys_dir: str = DKIM_KEYS_DIR) -> str:
    """KeyTable (opendkim.conf(5)): `<name> <d=>:<s=>:<private key file>`, one per domain and key.
    A value starting with `/` is a file (not an inline key): keys_dir must be absolute."""
    names = _domains(domains)
    keys = _signing_keys(signing_keys)
    lines = [f"{key_name(k.selector, d)} {d}:{k.selector}:{private_key_path(k.selector, keys_dir)}"
             for d in names for k in keys]
    return "# KeyTable: key name, then domain:selector:private key file.\n" + "\n".join(lines) + "\n"


def render_signing_table(*, domains: Sequence[str], signing_keys: Sequence[SigningKey]) -> str:
    """SigningTable as a refile (opendkim.conf(5)): `*@<domain> <key name>`, wildcard patterns checked in order."""
    names = _domains(domains)
    keys = _signing_keys(signing_keys)
    lines = [f"*@{d} {key_name(k.selector, d)}" for d in names for k in keys]
    return "# SigningTable (refile): From: address pattern, then the KeyTable name.\n" + "\n".join(lines) + "\n"


def render_trusted_hosts(*, networks: Sequence[str] = ()) -> str:
    """InternalHosts / ExternalIgnoreList (PeerList form): loopback and our server networks, one a line."""
    nets = quoting.ip_networks(networks, "networks")
    quoting.unique(nets, "networks")
    entries = [*LOOPBACK_HOSTS, *(str(n) for n in nets)]
    return "# Hosts whose mail OpenDKIM signs: loopback and our server networks.\n" + "\n".join(entries) + "\n"


def _domains(domains: Sequence[str]) -> list[str]:
    names = [quoting.fqdn(d, f"domains[{i}]") for i, d in enumerate(quoting.listing(domains, "domains"))]
    if not names:
        raise quoting.RenderValueError("domains", [], "must name at least one domain to sign for")
    quoting.unique(names, "domains")
    return names


def _signing_keys(signing_keys: Sequence[SigningKey]) -> list[SigningKey]:
    keys = list(quoting.listing(signing_keys, "signing_keys"))
    if not keys:
        raise quoting.RenderValueError("signing_keys", [], "must hold at least one key to sign with")
    for i, key in enumerate(keys):
        if not isinstance(key, SigningKey):
            raise quoting.RenderValueError(f"signing_keys[{i}]", key, "must be a SigningKey")
        selector(key.selector, f"signing_keys[{i}].selector")
        if key.algorithm not in ALGORITHMS:
            raise quoting.RenderValueError(f"signing_keys[{i}].algorithm", key.algorithm, "must be rsa or ed25519")
    quoting.unique([k.selector for k in keys], "signing_keys.selector")
    # Debian's opendkim 2.11.0~beta2 signs every KeyTable key with the one global SignatureAlgorithm
    # (opendkim.conf(5); default rsa-sha256): an ed25519 key beside an rsa one fails at end of message
    # ("EVP_PKEY_get1_RSA() failed", the message tempfailed). And verifiers without RFC 8463 need the
    # rsa signature. So: exactly one signing key, rsa; an ed25519 key may be published, not signed with.
    for i, key in enumerate(keys):
        if key.algorithm != "rsa":
            raise quoting.RenderValueError(
                f"signing_keys[{i}].algorithm", key.algorithm,
                "OpenDKIM 2.11 signs with one algorithm for every key: sign with the rsa key only "
                "(publish the ed25519 key in keys, leave it out of signWith)")
    if len(keys) > 1:
        raise quoting.RenderValueError("signing_keys", [k.selector for k in keys],
                                       "must be one rsa key: OpenDKIM 2.11 signs with one algorithm")
    return keys
