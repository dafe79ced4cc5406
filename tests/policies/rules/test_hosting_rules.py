"""dns-not-cohosted-with-web: by files on one host, and by addresses in the DNS data."""

from __future__ import annotations

from pack_builders import SECRET, SIG, copy_file, record, resource, run, view_of, zone
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


# --- every dialect and delivery path, on the machine view -------------------------------------------------------

NS_HOST = "ns1.example.net"


def command(host: str, create: str, name: str = "web"):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "root", "privateKey": "k"}}, "create": create}
    return resource("command:remote:Command", name, props)


def name_server(*extra):
    z = zone("example.net")
    return [z, record("example.net", "NS", NS_HOST, zone_resource=z),
            record(NS_HOST, "A", "198.51.100.53", zone_resource=z),
            record("www.example.net", "A", "198.51.100.80", zone_resource=z),
            record("example.net", "A", "198.51.100.80", zone_resource=z),
            copy_file(NS_HOST, "/etc/bind/named.conf", NAMED), *extra]


def test_apache_installed_by_a_command_on_the_name_server():
    (message,), _ = findings(*name_server(command(NS_HOST, "apt-get update && apt-get install -y apache2\n")))
    assert message == (f"host {NS_HOST} (198.51.100.53) receives a DNS server config (/etc/bind/named.conf) and "
                       f"installs apache2 (command web on {NS_HOST}); DNS and WWW must run on different hosts")


def test_bind_installed_by_a_command_beside_a_caddyfile():
    resources = [copy_file("10.0.0.9", "/etc/caddy/Caddyfile", "webmail.example.net {\n\troot * /srv\n}\n"),
                 command("10.0.0.9", "DEBIAN_FRONTEND=noninteractive apt-get -y install bind9 bind9-utils\n"
                                     "systemctl enable --now named\n", name="ns")]
    (message,), _ = findings(*resources)
    assert message == ("host 10.0.0.9 installs bind9 (command ns on 10.0.0.9) and starts named (command ns on "
                       "10.0.0.9) and receives a web server config (/etc/caddy/Caddyfile); DNS and WWW must run on "
                       "different hosts")


def test_one_machine_under_two_spellings_with_lighttpd():
    # named.conf goes to the name, lighttpd's config to the address the stack's A record gives that name.
    (message,), _ = findings(*name_server(copy_file("198.51.100.53", "/srv/conf/lighttpd.conf",
                                                    'server.document-root = "/var/www"\n')))
    assert message == (f"host {NS_HOST} (198.51.100.53) receives a DNS server config (/etc/bind/named.conf) and a web "
                       "server config (/srv/conf/lighttpd.conf); DNS and WWW must run on different hosts")


def test_nginx_started_by_systemctl_on_the_name_server():
    (message,), _ = findings(*name_server(command(NS_HOST, "systemctl restart nginx.service")))
    assert "starts nginx (command web on ns1.example.net)" in message


def test_dns_tools_and_a_web_server_elsewhere_pass():
    resources = name_server(command(NS_HOST, "apt-get install -y bind9 dnsutils curl\n"),
                            command("198.51.100.80", "apt-get install -y apache2 bind9-dnsutils\n", name="www"),
                            copy_file("198.51.100.80", "/etc/apache2/sites-available/www.conf",
                                      "<VirtualHost *:80>\nServerName www.example.net\n</VirtualHost>\n"))
    assert findings(*resources) == ([], None)


def test_a_name_a_caddy_site_serves_on_the_name_server_address():
    z = zone("example.net")
    resources = [z, record("example.net", "NS", NS_HOST, zone_resource=z),
                 record(NS_HOST, "A", "198.51.100.53", zone_resource=z),
                 record("example.net", "A", "198.51.100.80", zone_resource=z),
                 record("portal.example.org", "A", "198.51.100.53"),
                 copy_file("198.51.100.80", "/etc/caddy/Caddyfile", "portal.example.org {\n\troot * /srv\n}\n")]
    (message,), _ = findings(*resources)
    assert message == ("address 198.51.100.53 serves DNS (name server ns1.example.net (NS of example.net)) and web "
                       "(portal.example.org (server name in /etc/caddy/Caddyfile on 198.51.100.80)); DNS and WWW must "
                       "be on different hosts")


def test_a_name_server_command_the_shell_reader_cannot_read_is_not_judged():
    setup = command(NS_HOST, "apt-get install -y bind9 $(cat /root/extra-packages)\n")
    messages, reason = findings(*name_server(setup))
    assert messages == []
    assert reason.startswith(f"not judged: {NS_HOST} (198.51.100.53) runs DNS; whether its commands also install a "
                             f"web server is not judged: command web on {NS_HOST}: line 1: ")
