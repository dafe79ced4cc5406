"""NameServer, MailHost, Gateway, WebHost and ReverseZone under Pulumi's mocks."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from components.config import WebmailCertificate, parse_stack_config
from components.delivery import HostConnection
from components.dns_data import pool_zone_file, reverse_zones
from components.gateway import Gateway, GatewayArgs, NatMapping, deploy_path
from components.mail_host import MailHost, MailHostArgs
from components.name_server import NameServer, NameServerArgs
from components.reverse_zone import HostPtr, ReverseZone, ReverseZoneArgs
from components.web_host import WebHost, WebHostArgs, WebmailSite


def _connection(host: str) -> HostConnection:
    return HostConnection(host=host, user="deploy", private_key=pulumi.Output.secret("KEY-MATERIAL"))


def _run(build) -> None:
    @pulumi.runtime.test
    def run():
        build()
        return pulumi.Output.from_input(1)

    run()


def _copies(mocks, prefix: str) -> dict[str, str]:
    return {
        r.inputs["remotePath"]: r.inputs["source"].text
        for r in mocks.resources
        if r.type == "command:remote:CopyToRemote" and r.name.startswith(prefix)
    }


def _install(mocks, name: str) -> str:
    return next(r for r in mocks.resources if r.type == "command:remote:Command" and r.name == name).inputs["create"]


@pytest.fixture
def prod(prod_values):
    return parse_stack_config(prod_values)


def test_primary_and_secondary_name_servers(mocks, prod):
    files = [z.file for z in reverse_zones(prod)] + [pool_zone_file(prod)]
    own = [str(n) for n in prod.networks.own_networks()]

    def build():
        NameServer(
            "ns1",
            NameServerArgs(
                connection=_connection("ns1.example.net"),
                own_networks=own,
                recursion_clients=own,
                zone_files=files,
                transfer_peers=["10.20.0.12"],
                protect=True,
            ),
        )
        NameServer(
            "ns2",
            NameServerArgs(
                connection=_connection("ns2.example.net"),
                own_networks=own,
                recursion_clients=own,
                zone_files=files,
                primary_address="10.20.0.11",
            ),
        )

    _run(build)
    primary = _copies(mocks, "ns1-")
    assert "/etc/bind/isp-staging/named.conf" in primary
    assert {f"/etc/bind/zones/isp-staging/db.{z.zone}" for z in files} <= set(primary)
    secondary = _copies(mocks, "ns2-")
    assert list(secondary) == ["/etc/bind/isp-staging/named.conf"]
    assert "type secondary;" in secondary["/etc/bind/isp-staging/named.conf"]
    script = _install(mocks, "ns1-bind-install")
    assert "named-checkconf /etc/bind/isp-staging/named.conf" in script
    assert "named-checkzone -q pool.example.net /etc/bind/zones/isp-staging/db.pool.example.net" in script
    assert "named-checkconf -z /etc/bind/named.conf && rndc reload" in script
    # Each zone file gets its SOA serial on the host, from the live file, before the checks read it.
    for zone in files:
        stamp = f"isp_zone_serial {zone.zone} /etc/bind/zones/db.{zone.zone} /etc/bind/zones/isp-staging/db.{zone.zone}"
        assert stamp in script and script.index(stamp) < script.index("named-checkconf /etc/bind/isp-staging")
    assert "isp_zone_serial" not in _install(mocks, "ns2-bind-install")  # a secondary transfers its zones
    zone_copies = [
        r
        for r in mocks.resources
        if r.type == "command:remote:CopyToRemote" and "/etc/bind/zones/" in r.inputs["remotePath"]
    ]
    assert zone_copies and all(r.protect for r in zone_copies)


def test_mail_host_files_order_and_nat(mocks, prod):
    host = prod.hosts_with("mail")[0]
    created = {}

    def build():
        created["mail"] = MailHost(
            "mail",
            MailHostArgs(
                connection=_connection("mail.example.net"),
                fqdn="mail.example.net",
                domain="example.net",
                private_address=str(host.private_address),
                public_address=str(host.public_address),
                server_networks=["10.20.0.0/24"],
                customer_pools=["203.0.113.0/25"],
                dialup_pools=[],
                mail=prod.mail,
            ),
        )

    _run(build)
    files = _copies(mocks, "mail-")
    main_cf = files["/etc/postfix/isp-staging/main.cf"]
    assert "myhostname = mail.example.net" in main_cf
    assert "home_mailbox = Maildir/" in main_cf
    assert f"message_size_limit = {25 * 1024 * 1024}" in main_cf
    ratelimit = yaml.safe_load(files["/etc/isp-staging/policyd-rate-limit.yaml"])
    assert ratelimit["limits"] == [[150, 86400]] and ratelimit["limit_by_sasl"] is True
    assert "maildir:" in files["/etc/dovecot/isp-staging/dovecot.conf"]
    assert created["mail"].nat == NatMapping(private_address="10.20.0.25", public_address="198.51.100.25")
    postfix = next(r for r in mocks.resources if r.name == "mail-postfix")
    # Postfix waits until the policy service and the SASL socket are installed.
    assert any(d.endswith("::mail-ratelimit-install") for d in postfix.depends)
    assert any(d.endswith("::mail-dovecot-install") for d in postfix.depends)
    assert "postfix -c /etc/postfix/isp-staging check" in _install(mocks, "mail-postfix-install")


def test_gateway_ruleset_carries_the_mail_nat(mocks, prod):
    def build():
        Gateway(
            "gw",
            GatewayArgs(
                connection=_connection("gw.example.net"),
                gateway=prod.gateway,
                deploy=deploy_path(prod),
                public_address="198.51.100.1",
                server_networks=["10.20.0.0/24"],
                customer_pools=["203.0.113.0/25"],
                mail_nat=[NatMapping(private_address="10.20.0.25", public_address="198.51.100.25")],
                host_nat=[NatMapping(private_address="10.20.0.11", public_address="198.51.100.11")],
                submission_ports=[587, 465],
            ),
        )

    _run(build)
    ruleset = _copies(mocks, "gw-")["/etc/isp-staging/nftables.conf"]
    assert "ip daddr 198.51.100.25 dnat to 10.20.0.25" in ruleset
    snat = ruleset.index("ip saddr 10.20.0.25 snat to 198.51.100.25")
    general = ruleset.index("snat to 198.51.100.1\n")
    assert snat < general
    assert "nft -c -f /etc/isp-staging/nftables.conf" in _install(mocks, "gw-nftables-install")
    # No lockout: applied with a revert timer, confirmed by a command of its own once the install is done.
    assert "isp-nft-apply /etc/nftables.conf" in _install(mocks, "gw-nftables-install")
    confirm = next(r for r in mocks.resources if r.name == "gw-nftables-confirm")
    assert confirm.type == "command:remote:Command" and "isp-nft-confirm" in confirm.inputs["create"]
    connection = confirm.inputs["connection"]["value"]  # secret as a whole: it carries the key
    assert (connection["host"], connection["port"]) == ("gw.example.net", 22)
    assert connection["dialErrorLimit"] * connection["perDialTimeout"] > 60  # still dialling after a revert
    assert any(d.endswith("::gw-nftables-install") or d.endswith("::gw-nftables") for d in confirm.depends)


def test_web_host_sites(mocks):
    def build():
        WebHost(
            "www",
            WebHostArgs(
                connection=_connection("www.example.net"),
                www_names=["www.example.net", "example.net"],
                webmail=WebmailSite(
                    name="webmail.example.net",
                    mail_host="mail.example.net",
                    product_name="Webmail",
                    certificate=WebmailCertificate(),
                    acme_email="hostmaster@example.net",
                ),
            ),
        )

    _run(build)
    files = _copies(mocks, "www-")
    assert "server_name www.example.net example.net;" in files["/etc/nginx/conf.d/isp-staging/www.example.net.conf"]
    assert "server_name webmail.example.net;" in files["/etc/nginx/conf.d/isp-staging/webmail.example.net.conf"]
    assert "nginx -t && systemctl reload nginx" in _install(mocks, "www-nginx-install")


def test_reverse_zone_on_cloudflare_has_one_ptr_per_host(mocks):
    def build():
        ReverseZone(
            "100.51.198.in-addr.arpa",
            ReverseZoneArgs(
                zone="100.51.198.in-addr.arpa",
                served_by="cloudflare",
                account_id="0" * 32,
                ptrs=[HostPtr(owner="25.100.51.198.in-addr.arpa", target="mail.example.net")],
            ),
        )

    _run(build)
    ptrs = [r for r in mocks.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord"]
    assert [(p.inputs["name"], p.inputs["type"], p.inputs["content"]) for p in ptrs] == [
        ("25.100.51.198.in-addr.arpa", "PTR", "mail.example.net")
    ]


def test_reverse_zone_on_bind_registers_no_cloud_resources(mocks, prod):
    data = reverse_zones(prod)[0]

    def build():
        ReverseZone(data.zone, ReverseZoneArgs(zone=data.zone, served_by="bind", zone_file=data.file))

    _run(build)
    assert [r.type for r in mocks.resources] == ["isp:dns:ReverseZone"]


def test_a_component_renders_before_it_registers_anything(mocks, prod):
    """Used alone too: a value its renderer refuses stops it before its own registration."""
    host = prod.hosts_with("mail")[0]
    args = MailHostArgs(
        connection=_connection("mail.example.net"),
        fqdn="mail.example.net",
        domain="example.net",
        private_address=str(host.private_address),
        public_address=str(host.public_address),
        public_address6="fe80::1%eth0",  # a scope id: Postfix's renderer refuses it
        server_networks=["10.20.0.0/24"],
        customer_pools=["203.0.113.0/25"],
        mail=prod.mail,
    )

    def build():
        MailHost("mail", args)

    with pytest.raises(ValueError, match="ipv6_address"):
        _run(build)
    assert [r.type for r in mocks.resources if r.type != "pulumi:pulumi:Stack"] == []



def test_no_protected_resource_of_the_prod_plan_carries_triggers(mocks, prod):
    """pulumi-command replaces a resource whose `triggers` change and the engine refuses to replace a protected
    one: in prod (isp:protect) the zone copies are protected, so a protected resource carries no triggers at
    all (a new zone content is an update in place of its `source`/`stdin`)."""
    from components.stack import plan_stack, register

    _run(lambda: register(plan_stack(prod, lambda key: f"<secret {key}>", stack="prod",
                                     stack_file="Pulumi.prod.yaml")))
    protected = {r.name: r.inputs for r in mocks.resources if r.protect and r.type.startswith("command:")}
    zone_copies = [name for name, inputs in protected.items()
                   if inputs.get("remotePath", "").startswith("/etc/bind/zones/isp-staging/")]
    assert len(zone_copies) >= 2, sorted(protected)
    assert [name for name, inputs in protected.items() if "triggers" in inputs] == []
    staging = [r for r in mocks.resources if r.name.endswith("-staging") and r.type.startswith("command:")]
    assert staging and not any(r.protect for r in staging)
    assert all(all("isp-staging" in t for t in r.inputs["triggers"]) for r in staging)  # directories only
