"""dns-not-cohosted-with-web: by files on one host, and by addresses in the DNS data."""

from __future__ import annotations

from pack_builders import copy_file, record, run, view_of, zone
from rules import hosting as hosting_rules

NAMED = 'options { directory "/var/cache/bind"; recursion no; };\n'
NGINX = "server {\n    listen 80;\n    server_name www.example.net example.net;\n    root /var/www;\n}\n"
GATEWAY = """table ip nat {
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr 203.0.113.80 dnat to 10.0.2.80; }
}
"""


def dns_data(ns_address: str, www_address: str):
    z = zone("example.net")
    return [z,
            record("example.net", "NS", "ns1.example.net", zone_resource=z),
            record("ns1.example.net", "A", ns_address, zone_resource=z),
            record("example.net", "A", "203.0.113.80", zone_resource=z),
            record("www.example.net", "CNAME", "example.net", zone_resource=z) if www_address == "203.0.113.80"
            else record("www.example.net", "A", www_address, zone_resource=z)]


def findings(*resources):
    return run(hosting_rules.cohosting_findings, view_of(*resources))


def test_separate_hosts_and_addresses_pass() -> None:
    resources = [*dns_data("203.0.113.53", "203.0.113.80"),
                 copy_file("10.0.0.53", "/etc/bind/named.conf", NAMED),
                 copy_file("10.0.2.80", "/etc/nginx/sites-available/example.net", NGINX),
                 copy_file("10.0.0.1", "/etc/nftables.conf", GATEWAY)]
    assert findings(*resources) == ([], None)


def test_one_host_with_both_configs() -> None:
    resources = [copy_file("10.0.0.53", "/var/tmp/isp-staging/named.conf", NAMED),
                 copy_file("10.0.0.53", "/etc/nginx/conf.d/site.conf", NGINX)]
    (message,), _ = findings(*resources)
    assert message == ("host 10.0.0.53 receives a DNS server config (/var/tmp/isp-staging/named.conf) and a web server "
                       "config (/etc/nginx/conf.d/site.conf); DNS and WWW must run on different hosts")


def test_zone_file_and_apache_on_one_host() -> None:
    resources = [copy_file("10.0.0.9", "/etc/bind/db.example.net", "$TTL 60\n@ SOA a b 1 2 3 4 5\n"),
                 copy_file("10.0.0.9", "/etc/apache2/sites-available/000-default.conf", "<VirtualHost *:80>\n"
                           "ServerName www.example.net\n</VirtualHost>\n")]
    assert len(findings(*resources)[0]) == 1


def test_name_server_and_web_name_share_an_address() -> None:
    (message,), _ = findings(*dns_data("203.0.113.80", "203.0.113.80"))
    assert message.startswith("address 203.0.113.80 serves DNS (name server ns1.example.net (NS of example.net)) "
                              "and web (example.net (apex of zone example.net); www.example.net (www of zone")


def test_web_config_on_the_host_a_name_server_address_is_forwarded_to() -> None:
    # ns1's public address is forwarded by the gateway to 10.0.2.80, which receives the nginx site.
    gateway = GATEWAY.replace("203.0.113.80", "203.0.113.53")
    resources = [*dns_data("203.0.113.53", "203.0.113.81"),
                 copy_file("10.0.2.80", "/etc/nginx/sites-enabled/example.net", NGINX),
                 copy_file("10.0.0.1", "/etc/nftables.conf", gateway)]
    (message,), _ = findings(*resources)
    assert message.startswith("address 10.0.2.80 serves DNS (name server ns1.example.net")
    assert "web config /etc/nginx/sites-enabled/example.net on 10.0.2.80" in message


def test_nothing_to_judge() -> None:
    assert findings(copy_file("10.0.1.25", "/etc/postfix/main.cf", "")) == (
        [], "the stack has no name server records and delivers no DNS or web server config")


def test_server_names() -> None:
    assert hosting_rules.server_names(NGINX + "server { server_name _ *.x.net ~^re$; }\n") == [
        "www.example.net", "example.net"]
