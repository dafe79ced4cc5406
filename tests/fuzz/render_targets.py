"""What the renderer fuzz renders: every pure render function of components/render, its benign
arguments, and each parameter that carries a value, with hostile values and benign alternatives
(the vocabulary is in render_fields; OpenDKIM and MTA-STS in render_targets_mailauth).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from components.render import backup, bind, certificate, dovecot, nftables, nginx, postfix, ratelimit, roundcube
from tests.fuzz.render_fields import (
    Field,
    Target,
    address_field,
    address_text,
    at,
    attribute,
    canonical_acl,
    canonical_address,
    int_field,
    item,
    member,
    text_field,
    verbatim,
    whole_list,
)
from tests.fuzz.render_targets_mailauth import KEY_TABLE, MTA_STS_POLICY, OPENDKIM_CONF, SIGNING_TABLE, TRUSTED_HOSTS
from tests.fuzz.render_values import int_values, text_values

# ---------------------------------------------------------------------------------------
# BIND


def _named_base() -> dict:
    return dict(
        own_networks=["10.20.0.0/24", "2001:db8:100::/48"],
        recursion_clients=["10.20.0.0/24"],
        transfer_peers=["10.20.0.12"],
        zones=[
            bind.ZoneEntry("pool.example.net", "/etc/bind/zones/db.pool.example.net"),
            bind.ZoneEntry("b.example.org", "/var/cache/bind/db.b.example.org", ("10.20.0.11",)),
        ],
        rate_limit_per_second=10,
        directory="/var/cache/bind",
    )


ACL = ("10.20.0.0/24", "10.30.0.0/16", "2001:db8:100::/48", "2001:db8:200::/56", "192.0.2.7", "2001:db8::7", "any",
       "none")


def _acl_field(name: str) -> Field:
    return address_field(f"{name}[0]", item(name), ACL, "bind", network=True, canonical=canonical_acl,
                         expect=lambda v: v if v in ("any", "none") else address_text(v))


NAMED = Target("named.conf", "bind", bind.render_named_conf, _named_base, (
    _acl_field("own_networks"),
    _acl_field("recursion_clients"),
    _acl_field("transfer_peers"),
    whole_list("recursion_clients", (["10.20.0.0/24"], ["10.30.0.0/16"], []), text_values(["10.20.0.0/24"], "bind")),
    text_field("zones[0].name", attribute("zones", 0, "name"), ("pool.example.net", "c.example.com"), "bind",
               names=("zones",), expect=lambda v: verbatim(v).lower() if verbatim(v) else None),
    text_field("zones[0].file", attribute("zones", 0, "file"), ("/etc/bind/zones/db.x", "/srv/bind/db.y"), "bind",
               names=("zones",)),
    Field("zones[1].primaries", text_values(["10.20.0.11"], "bind"), attribute("zones", 1, "primaries"),
          (("10.20.0.11",), ("10.20.0.12",), ()), names=("zones",)),
    address_field("zones[1].primaries[0]", lambda kw, v: attribute("zones", 1, "primaries")(kw, (v,)),
                  ("10.20.0.11", "10.20.0.13", "2001:db8::53", "2001:db8::54"), "bind", network=False,
                  names=("zones",)),
    text_field("directory", at("directory"), ("/var/cache/bind", "/srv/bind"), "bind"),
    int_field("rate_limit_per_second", at("rate_limit_per_second"), (10, 500)),
))


def _zone_base() -> dict:
    return dict(
        origin="example.net",
        primary_ns="ns1.example.net",
        hostmaster="hostmaster@example.net",
        nameservers=["ns1.example.net", "ns2.example.net"],
        records=[
            bind.ZoneRecord("www", "A", "192.0.2.1"),
            bind.ZoneRecord("www", "AAAA", "2001:db8::1"),
            bind.ZoneRecord("@", "MX", "10 mail.example.net"),
            bind.ZoneRecord("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
            bind.ZoneRecord("webmail", "CNAME", "www.example.net."),
            bind.ZoneRecord("ns1", "A", "192.0.2.53"),
            bind.ZoneRecord("ns2", "A", "192.0.2.54"),
        ],
        generated=[bind.GeneratedRange(1, 20, "dyn-$", "A", "198.51.100.$")],
        ttl=3600,
    )


ZONE = Target("zone file", "zone", bind.render_zone_file, _zone_base, (
    text_field("origin", at("origin"), ("example.net", "example.org"), "zone",
               expect=lambda v: verbatim(v).lower() if verbatim(v) else None),
    text_field("primary_ns", at("primary_ns"), ("ns1.example.net", "ns9.example.org."), "zone"),
    text_field("hostmaster", at("hostmaster"), ("hostmaster@example.net", "dns+x@example.org"), "zone", expect=None),
    text_field("nameservers[0]", item("nameservers"), ("ns1.example.net", "ns3.example.org"), "zone"),
    whole_list("nameservers", (["ns1.example.net"], ["ns5.example.org"]), text_values(["ns1.example.net"], "zone")),
    text_field("records[0].owner", attribute("records", 0, "owner"), ("www", "mail.example.net.", "*.dyn", "@"),
               "zone", names=("records[0]",)),
    address_field("records[0].data", attribute("records", 0, "data"), ("192.0.2.1", "198.51.100.2"), "zone",
                  network=False, names=("records[0]",)),
    address_field("records[1].data", attribute("records", 1, "data"), ("2001:db8::1", "2001:db8::2"), "zone",
                  network=False, names=("records[1]",)),
    text_field("records[2].data", attribute("records", 2, "data"), ("10 mail.example.net", "20 mx.example.org."),
               "zone", names=("records[2]",), expect=None),
    text_field("records[3].data", attribute("records", 3, "data"),
               ("v=spf1 -all", "hello world; x $y @ {", "a" * 300, "b" * 300), "zone", names=("records[3]",),
               expect=verbatim),
    text_field("records[4].data", attribute("records", 4, "data"), ("www.example.net.", "web.example.org"), "zone",
               names=("records[4]",)),
    Field("records[3].rrtype", st.one_of(text_values(["TXT"], "zone"), st.sampled_from(["A", "PTR", "txt"])),
          attribute("records", 3, "rrtype"), ("TXT",), names=("records[3]",)),
    text_field("generated[0].owner", attribute("generated", 0, "owner"), ("dyn-$", "$.7"), "zone",
               names=("generated[0]",)),
    text_field("generated[0].target", attribute("generated", 0, "target"), ("198.51.100.$", "10.9.8.$"), "zone",
               names=("generated[0]",)),
    int_field("generated[0].stop", attribute("generated", 0, "stop"), (20, 255), names=("generated[0]",)),
    int_field("ttl", at("ttl"), (3600, 300)),
))


def _reverse_render(*, ptr_name: Any, **kwargs: Any) -> str:
    """A pool's reverse zone, its `$GENERATE` PTR targets from a PTR pattern (`ptrPattern`)."""
    prefix = ipaddress.ip_network("203.0.113.0/25")
    generated = bind.pool_ptr_ranges(prefix, "113.0.203.in-addr.arpa", lambda a, b, c, d: ptr_name)
    return bind.render_zone_file(generated=generated, **kwargs)


def _reverse_base() -> dict:
    return dict(origin="113.0.203.in-addr.arpa", primary_ns="ns1.example.net", hostmaster="hostmaster@example.net",
                nameservers=["ns1.example.net"], ptr_name="dyn-203-0-113-$.pool.example.net")


REVERSE_ZONE = Target("reverse zone", "zone", _reverse_render, _reverse_base, (
    text_field("ptr_name", at("ptr_name"), ("dyn-203-0-113-$.pool.example.net", "x$.example.org"), "zone",
               names=("ptr_name", "generated")),
), covers=("render_zone_file", "pool_ptr_ranges"))


# ---------------------------------------------------------------------------------------
# Postfix, Dovecot, policyd-rate-limit


def _main_cf_base() -> dict:
    return dict(
        hostname_fqdn="mail.example.net",
        domain="example.net",
        private_address="10.20.0.25",
        message_size_limit_bytes=26214400,
        policy_service="unix:ratelimit/policy",
        tls_cert_path="/etc/ssl/isp/mail.example.net/fullchain.pem",
        tls_key_path="/etc/ssl/isp/mail.example.net/privkey.pem",
        own_networks=["10.20.0.0/24"],
        customer_pools=["203.0.113.0/25"],
        relay_domains=["relay.example.org"],
        ipv6_address="2001:db8::25",
    )


MAIN_CF = Target("main.cf", "postfix", postfix.render_postfix_main_cf, _main_cf_base, (
    text_field("hostname_fqdn", at("hostname_fqdn"), ("mail.example.net", "mx1.example.com"), "postfix"),
    text_field("domain", at("domain"), ("example.net", "example.com"), "postfix"),
    address_field("private_address", at("private_address"), ("10.20.0.25", "10.20.0.26"), "postfix",
                  network=False, version=4),
    int_field("message_size_limit_bytes", at("message_size_limit_bytes"), (26214400, 1000)),
    text_field("policy_service", at("policy_service"),
               ("unix:ratelimit/policy", "/var/spool/postfix/x/policy", "inet:127.0.0.1:8552", "inet:10.0.0.1:1"),
               "postfix", expect=None),
    text_field("tls_cert_path", at("tls_cert_path"), ("/etc/ssl/a.pem", "/srv/b+c@d.pem"), "postfix"),
    text_field("tls_key_path", at("tls_key_path"), ("/etc/ssl/a.key", "/srv/b.key"), "postfix"),
    address_field("own_networks[0]", item("own_networks"),
                  ("10.20.0.0/24", "10.30.0.0/16", "2001:db8:100::/48", "2001:db8:200::/56"), "postfix",
                  network=True, names=("own_networks", "customer_pools")),
    whole_list("own_networks", (["10.20.0.0/24"], ["10.30.0.0/24"], []), text_values(["10.20.0.0/24"], "postfix")),
    address_field("customer_pools[0]", item("customer_pools"), ("203.0.113.0/25", "2001:db8:9::/48"), "postfix",
                  network=True, names=("own_networks", "customer_pools"), expect=None),
    text_field("relay_domains[0]", item("relay_domains"), ("relay.example.org", "b.example.com"), "postfix"),
    address_field("ipv6_address", at("ipv6_address"), ("2001:db8::25", "2001:db8::26", None), "postfix",
                  network=False, version=6,
                  canonical=lambda v: None if v is None else canonical_address(v)),
))

MASTER_CF = Target("master.cf", "master", postfix.render_postfix_master_cf, lambda: dict(
    submission_ports=[587, 465, 2525], dialup_message_size_limit_bytes=5242880, message_size_limit_bytes=26214400,
), (
    int_field("submission_ports[0]", item("submission_ports"), (587,)),
    whole_list("submission_ports", ([587, 465], [465, 587, 2525]), int_values([587, 465, 2525])),
    int_field("dialup_message_size_limit_bytes", at("dialup_message_size_limit_bytes"), (5242880, 1000, None),
              names=("dialup_message_size_limit_bytes", "message_size_limit_bytes")),
    int_field("dialup_port", at("dialup_port"), (10587, 10588), names=("dialup_port", "dialup_tls_wrapper_port")),
    int_field("dialup_tls_wrapper_port", at("dialup_tls_wrapper_port"), (10465, 10466),
              names=("dialup_port", "dialup_tls_wrapper_port")),
    int_field("message_size_limit_bytes", at("message_size_limit_bytes"), (26214400, 10**9),
              names=("dialup_message_size_limit_bytes", "message_size_limit_bytes")),
))

DOVECOT = Target("dovecot.conf", "dovecot", dovecot.render_dovecot_conf, lambda: dict(
    hostname_fqdn="mail.example.net", tls_cert_path="/etc/ssl/a.pem", tls_key_path="/etc/ssl/a.key",
    postmaster_address="postmaster@example.net",
), (
    text_field("hostname_fqdn", at("hostname_fqdn"), ("mail.example.net", "mx1.example.com"), "dovecot"),
    text_field("tls_cert_path", at("tls_cert_path"), ("/etc/ssl/a.pem", "/srv/b@c.pem"), "dovecot"),
    text_field("tls_key_path", at("tls_key_path"), ("/etc/ssl/a.key", "/srv/b.key"), "dovecot"),
    text_field("postmaster_address", at("postmaster_address"), ("postmaster@example.net", "abuse+x@example.org"),
               "dovecot"),
))


def _ratelimit_base() -> dict:
    return dict(daily_limit_per_account=100, listen=ratelimit.DEFAULT_POLICY_SOCKET,
                sqlite_path=ratelimit.DEFAULT_SQLITE_PATH, pidfile=ratelimit.DEFAULT_PIDFILE,
                user="policyd-rate-limit", group="policyd-rate-limit", per_account_overrides={"bob": 5})


def _one_override(account: Any) -> Any:
    try:
        return {account: 5}
    except TypeError:  # an unhashable "account": handed over as pairs, which are no mapping
        return [(account, 5)]


RATELIMIT = Target("policyd-rate-limit.yaml", "yaml", ratelimit.render_ratelimit_config, _ratelimit_base, (
    int_field("daily_limit_per_account", at("daily_limit_per_account"), (100, 250)),
    text_field("listen", at("listen"),
               (ratelimit.DEFAULT_POLICY_SOCKET, "/var/spool/postfix/x/y", "inet:127.0.0.1:8552", "inet:[::1]:8552"),
               "yaml", expect=None),
    text_field("sqlite_path", at("sqlite_path"), (ratelimit.DEFAULT_SQLITE_PATH, "/srv/db.sqlite3"), "yaml"),
    text_field("pidfile", at("pidfile"), (ratelimit.DEFAULT_PIDFILE, "/run/x.pid"), "yaml"),
    text_field("user", at("user"), ("policyd-rate-limit", "nobody"), "yaml"),
    text_field("group", at("group"), ("policyd-rate-limit", "nogroup"), "yaml"),
    text_field("per_account_overrides", lambda kw, v: kw.__setitem__("per_account_overrides", _one_override(v)),
               ("bob", "alice@example.net"), "yaml"),
    int_field("per_account_overrides[bob]", lambda kw, v: kw.__setitem__("per_account_overrides", {"bob": v}),
              (5, 1000)),
))


# ---------------------------------------------------------------------------------------
# nftables


def _nft_base() -> dict:
    return dict(
        wan_interface="eth0",
        lan_interfaces=["eth1", "eth2"],
        customer_pools=["203.0.113.0/25"],
        server_networks=["10.20.0.0/24"],
        mail_hosts=[("10.20.0.25", "198.51.100.25")],
        public_address="198.51.100.1",
        ssh_management_networks=["10.20.0.0/24"],
        ipv6_customer_pools=["2001:db8:1::/48"],
        mail_hosts_ipv6=["2001:db8::25"],
        published_services=[("198.51.100.80", "tcp", 443)],
        dialup_pools=["203.0.113.0/26"],
        static_nat=[("10.20.0.53", "198.51.100.53")],
    )


NFT = Target("nftables ruleset", "nft", nftables.render_gateway_ruleset, _nft_base, (
    text_field("wan_interface", at("wan_interface"), ("eth0", "wan0"), "nft"),
    text_field("lan_interfaces[0]", item("lan_interfaces"), ("eth1", "br-lan"), "nft"),
    whole_list("lan_interfaces", (["eth1"], ["eth3"]), text_values(["eth1"], "nft")),
    address_field("customer_pools[0]", item("customer_pools"), ("203.0.113.0/25", "203.0.113.0/24"), "nft",
                  network=True, names=("customer_pools", "dialup_pools")),
    # Unroutable server networks get a snat rule, routable ones none: two of each.
    address_field("server_networks[0]", item("server_networks"),
                  ("10.20.0.0/24", "10.20.0.0/16", "0.0.0.0/1", "10.0.0.0/7"), "nft",
                  network=True, names=("server_networks", "mail_hosts", "customer_pools")),
    address_field("mail_hosts[0].private", member("mail_hosts", 0, 0), ("10.20.0.25", "10.20.0.26"), "nft",
                  network=False, version=4, names=("mail_hosts", "static_nat")),
    address_field("mail_hosts[0].public", member("mail_hosts", 0, 1),
                  ("198.51.100.25", "198.51.100.26", "10.0.0.1", "10.0.0.2"), "nft",
                  network=False, version=4, names=("mail_hosts", "static_nat")),
    address_field("public_address", at("public_address"), ("198.51.100.1", "198.51.100.2"), "nft", network=False,
                  version=4, names=("public_address", "mail_hosts", "static_nat")),
    address_field("ssh_management_networks[0]", item("ssh_management_networks"),
                  ("10.20.0.0/24", "10.9.0.0/16", "2001:db8:100::/48", "2001:db8:200::/48"), "nft", network=True),
    address_field("ipv6_customer_pools[0]", item("ipv6_customer_pools"), ("2001:db8:1::/48", "2001:db8:2::/48"),
                  "nft", network=True, version=6),
    address_field("mail_hosts_ipv6[0]", item("mail_hosts_ipv6"), ("2001:db8::25", "2001:db8::26"), "nft",
                  network=False, version=6),
    address_field("published_services[0].address", member("published_services", 0, 0),
                  ("198.51.100.80", "198.51.100.81", "2001:db8::80", "2001:db8::81"), "nft", network=False,
                  names=("published_services",)),
    text_field("published_services[0].protocol", member("published_services", 0, 1), ("tcp", "udp"), "nft",
               names=("published_services",)),
    int_field("published_services[0].port", member("published_services", 0, 2), (443, 53),
              names=("published_services",)),
    address_field("dialup_pools[0]", item("dialup_pools"), ("203.0.113.0/26", "203.0.113.64/26"), "nft",
                  network=True, version=4),
    address_field("static_nat[0].private", member("static_nat", 0, 0), ("10.20.0.53", "10.20.0.54"), "nft",
                  network=False, version=4, names=("static_nat", "mail_hosts")),
    # Ports are written as sorted sets with 25 among them: benign lists that put 25 at every place.
    whole_list("own_mail_submission_ports", ([587, 465, 2525], [587, 465, 2526], [1, 2, 3], [1, 2, 587],
                                             [1, 465, 587], [26, 27, 28]), int_values([587, 465])),
    int_field("dialup_submission_port", at("dialup_submission_port"), (10587, 10588, 1000, 1001)),
))


# ---------------------------------------------------------------------------------------
# nginx, Roundcube, certificates


def _nginx_base() -> dict:
    return dict(server_name="webmail.example.net", role="webmail", root="/var/lib/roundcube/public_html",
                tls_cert_path="/etc/ssl/isp/webmail.example.net/fullchain.pem",
                tls_key_path="/etc/ssl/isp/webmail.example.net/privkey.pem", upstream="127.0.0.1:9000",
                acme_webroot="/var/lib/isp-acme")


NGINX = Target("nginx site", "nginx", nginx.render_nginx_site, _nginx_base, (
    text_field("server_name", at("server_name"), ("webmail.example.net", "mail.example.com"), "nginx"),
    text_field("server_name[1]", lambda kw, v: kw.__setitem__("server_name", ["webmail.example.net", v]),
               ("www.example.net", "w.example.org"), "nginx", names=("server_name",)),
    text_field("role", at("role"), ("webmail",), "nginx", names=("role", "upstream"), expect=None),
    text_field("root", at("root"), ("/var/lib/roundcube/public_html", "/srv/www"), "nginx"),
    text_field("tls_cert_path", at("tls_cert_path"), ("/etc/ssl/a.pem", "/srv/b.pem"), "nginx"),
    text_field("tls_key_path", at("tls_key_path"), ("/etc/ssl/a.key", "/srv/b.key"), "nginx"),
    text_field("upstream", at("upstream"),
               ("127.0.0.1:9000", "10.0.0.1:9001", "[::1]:9000", "[2001:db8::1]:9", "unix:/run/php/php8.2-fpm.sock",
                "unix:/run/x.sock"), "nginx", expect=None),
    text_field("acme_webroot", at("acme_webroot"), ("/var/lib/isp-acme", "/srv/acme", None), "nginx"),
))

ROUNDCUBE = Target("roundcube config.inc.php", "php", roundcube.render_roundcube_config, lambda: dict(
    webmail_name="webmail.example.net", imap_host="mail.example.net", smtp_host="mail.example.net",
    product_name="Example Webmail", imap_port=993, smtp_port=587,
    des_key_file=roundcube.DES_KEY_FILE, store_path="/var/lib/roundcube/db/roundcube.sqlite",
    mail_domain="example.net",
), (
    text_field("webmail_name", at("webmail_name"), ("webmail.example.net", "w.example.org"), "php"),
    text_field("imap_host", at("imap_host"), ("mail.example.net", "imap.example.org"), "php"),
    text_field("smtp_host", at("smtp_host"), ("mail.example.net", "smtp.example.org"), "php"),
    text_field("product_name", at("product_name"), ("Example Webmail", "O'Brien \\ Co $x ?> <?php"), "php"),
    int_field("imap_port", at("imap_port"), (993, 143)),
    int_field("smtp_port", at("smtp_port"), (587, 465)),
    text_field("des_key_file", at("des_key_file"), (roundcube.DES_KEY_FILE, "/srv/key"), "php"),
    # None: Debian's dbconfig database (isp:webmail.store.engine: dbconfig), a benign rendering of its own.
    text_field("store_path", at("store_path"), ("/var/lib/roundcube/db/roundcube.sqlite", "/srv/rc.db", None), "php"),
    text_field("mail_domain", at("mail_domain"), ("example.net", "mail.example.org"), "php"),
))


def _acme_base(challenge: str) -> Callable[[], dict]:
    return lambda: dict(name="webmail.example.net", email="hostmaster@example.net", challenge=challenge,
                        cert_dir="/etc/ssl/isp/webmail.example.net",
                        script_path="/usr/local/sbin/isp-acme-webmail.example.net",
                        webroot=certificate.ACME_WEBROOT, credentials_path=certificate.CLOUDFLARE_CREDENTIALS,
                        letsencrypt_dir=certificate.LETSENCRYPT_DIR)


def _acme_fields(challenge: str) -> tuple[Field, ...]:
    used = "webroot" if challenge == "http-01" else "credentials_path"
    return (
        text_field("name", at("name"), ("webmail.example.net", "w.example.org"), "sh"),
        text_field("email", at("email"), ("hostmaster@example.net", "a.b+c@example.org"), "sh"),
        text_field("challenge", at("challenge"), (challenge,), "sh", expect=None,
                   names=("challenge", "webroot", "credentials_path")),
        text_field("cert_dir", at("cert_dir"), ("/etc/ssl/isp/w", "/srv/c@d"), "sh"),
        text_field("script_path", at("script_path"), ("/usr/local/sbin/x", "/srv/y+z"), "sh"),
        text_field(used, at(used), ("/var/lib/isp-acme", "/srv/acme.ini"), "sh"),
        text_field("letsencrypt_dir", at("letsencrypt_dir"), ("/etc/letsencrypt", "/srv/le"), "sh"),
    )


ACME_HTTP = Target("acme script (http-01)", "sh", certificate.render_acme_script, _acme_base("http-01"),
                   _acme_fields("http-01"))
ACME_DNS = Target("acme script (dns-01)", "sh", certificate.render_acme_script, _acme_base("dns-01"),
                  _acme_fields("dns-01"))

CLOUDFLARE = Target("certbot cloudflare.ini", "ini", lambda *, token: certificate.render_cloudflare_credentials(token),
                    lambda: dict(token="a" * 40), (
    text_field("token", at("token"), ("a" * 40, "Z-_9" * 10), "ini", secret=True),
), covers=("render_cloudflare_credentials",))


def _certificate_argv(*, name: Any, cert_path: Any, key_path: Any, base: Any) -> str:
    """The host-side argv lists and paths, as one JSON list (each element one token)."""
    return json.dumps([certificate.provided_certificate_checks(name, cert_path, key_path),
                       list(certificate.certificate_paths(name, base)), certificate.acme_script_path(name)])


CERTIFICATE_ARGV = Target("certificate checks (argv)", "argv", _certificate_argv, lambda: dict(
    name="webmail.example.net", cert_path="/etc/ssl/a.pem", key_path="/etc/ssl/a.key", base="/etc/ssl/isp",
), (
    text_field("name", at("name"), ("webmail.example.net", "w.example.org"), "argv"),
    text_field("cert_path", at("cert_path"), ("/etc/ssl/a.pem", "/srv/b.pem"), "argv"),
    text_field("key_path", at("key_path"), ("/etc/ssl/a.key", "/srv/b.key"), "argv"),
    text_field("base", at("base"), ("/etc/ssl/isp", "/srv/tls"), "argv"),
), covers=("provided_certificate_checks", "certificate_paths", "acme_script_path"))


# ---------------------------------------------------------------------------------------
# The backup job


BACKUP_SCRIPT = Target("backup script", "shell", backup.render_backup_script, lambda: dict(
    engine="postgresql", backup_dir="/srv/backups/db", retention_days=14, lock_wait_timeout_seconds=600,
), (
    text_field("engine", at("engine"), ("postgresql",), "shell", expect=None),
    text_field("backup_dir", at("backup_dir"), ("/srv/backups/db", "/data/dumps"), "shell"),
    int_field("retention_days", at("retention_days"), (14, 30)),
    int_field("lock_wait_timeout_seconds", at("lock_wait_timeout_seconds"), (600, 60)),
    text_field("job", at("job"), ("isp-db-backup", "isp-db-backup-mariadb"), "shell"),
))

BACKUP_SERVICE = Target("isp-db-backup.service", "systemd", backup.render_backup_service, lambda: dict(
    engine="postgresql", backup_dir="/srv/backups/db", script_path=backup.SCRIPT_PATH,
), (
    text_field("engine", at("engine"), ("postgresql",), "systemd", expect=None),
    text_field("backup_dir", at("backup_dir"), ("/srv/backups/db", "/data/dumps"), "systemd"),
    text_field("script_path", at("script_path"), (backup.SCRIPT_PATH, "/opt/x/backup"), "systemd"),
))

BACKUP_TIMER = Target("isp-db-backup.timer", "systemd", backup.render_backup_timer, lambda: dict(
    schedule="*-*-* 02:30:00", service_name=backup.SERVICE_NAME,
), (
    text_field("schedule", at("schedule"), ("*-*-* 02:30:00", "*-*-* 03:15:00"), "systemd"),
    text_field("schedule (one word)", at("schedule"), ("daily", "weekly"), "systemd", names=("schedule",)),
    text_field("service_name", at("service_name"), (backup.SERVICE_NAME, "x@y.service"), "systemd"),
))


TARGETS: tuple[Target, ...] = (
    NAMED, ZONE, REVERSE_ZONE, MAIN_CF, MASTER_CF, DOVECOT, RATELIMIT, NFT, NGINX, ROUNDCUBE, ACME_HTTP, ACME_DNS,
    CLOUDFLARE, CERTIFICATE_ARGV, BACKUP_SCRIPT, BACKUP_SERVICE, BACKUP_TIMER, OPENDKIM_CONF, KEY_TABLE,
    SIGNING_TABLE, TRUSTED_HOSTS, MTA_STS_POLICY,
)
