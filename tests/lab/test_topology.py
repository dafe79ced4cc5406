"""The lab's picture from Pulumi.lab.yaml: names, addresses, links and routes (pure, no root needed)."""

from __future__ import annotations

import ipaddress

import pytest

from lab.settings import LabError, LabStack, load_lab, parse_overrides
from lab.topology import IFNAME_MAX, ROOT_SERVERS, build_topology


@pytest.fixture(scope="module")
def stack() -> LabStack:
    return load_lab("lab")


@pytest.fixture(scope="module")
def topology(stack):
    return build_topology(stack, project_dir="/srv/isp")


def test_every_namespace_and_interface_name_is_ours_and_short(topology):
    names = [h.namespace for h in topology.hosts]
    assert len(names) == len(set(names)) == 9
    assert all(n.startswith("isp-lab-") and len(n) <= IFNAME_MAX for n in names)
    for host in topology.hosts:
        assert all(0 < len(i.name) <= IFNAME_MAX for i in host.interfaces)


def test_veth_pairs_are_symmetric_and_only_between_lab_namespaces(topology):
    ours = {h.namespace for h in topology.hosts}
    ends = {(h.namespace, i.name): i.peer for h in topology.hosts for i in h.interfaces if i.peer}
    for (ns_a, if_a), (ns_b, if_b) in topology.links:
        assert ns_a in ours and ns_b in ours and ns_a != ns_b
        assert ends[(ns_a, if_a)] == (ns_b, if_b)
        assert ends[(ns_b, if_b)] == (ns_a, if_a)
    assert len(ends) == 2 * len(topology.links)


def test_public_addresses_live_on_the_gateways_wan_side(stack, topology):
    gateway = topology.host("gw")
    wan = next(i for i in gateway.interfaces if i.name == stack.cfg.gateway.wan_interface)
    on_wan = {a.split("/")[0] for a in wan.addresses}
    assert on_wan == {str(h.public_address) for h in stack.cfg.hosts if h.public_address}
    assert gateway.forwarding and not any(h.forwarding for h in topology.hosts if h is not gateway)
    # No server holds a public address: they are reached through the 1:1 NAT.
    for name in ("ns1", "mail", "www"):
        addresses = topology.host(name).addresses()
        assert all(ipaddress.ip_address(a) in stack.cfg.networks.servers[0] for a in addresses)


def test_the_internet_holds_only_outside_addresses_and_the_root_servers(stack, topology):
    internet = topology.host("internet")
    addresses = {ipaddress.ip_address(a) for a in internet.addresses()}
    ours = stack.cfg.networks.own_networks()
    assert not any(a in n for a in addresses for n in ours)
    assert {ipaddress.ip_address(a) for a in ROOT_SERVERS.values()} <= addresses
    assert stack.lab.internet.resolver_client in addresses and stack.lab.internet.mail_sink in addresses


def test_no_namespace_routes_anywhere_but_into_the_lab(stack, topology):
    gateway = topology.host("gw")
    router = str(stack.lab.internet.router)
    gateway_default = [r for r in gateway.routes if r.destination == "default"]
    assert [r.via for r in gateway_default] == [router]
    for name in ("ns1", "mail", "www"):
        assert [r.via for r in topology.host(name).routes] == [str(stack.cfg.hosts_with("gateway")[0].private_address)]
    assert not any(r.destination == "default" for r in topology.host("internet").routes)
    customer = topology.host("customer")
    assert customer.addresses() == [str(stack.lab.customer.address)]


def test_config_hosts_live_where_the_local_transport_delivers(stack, topology):
    for host in stack.cfg.hosts:
        lab_host = topology.host(host.name)
        connection = lab_host.connection()
        assert connection.transport == "local"
        assert connection.namespace == lab_host.namespace == f"isp-lab-{host.name}"
        assert connection.root == f"/srv/isp/build/lab/root/{host.name}"
    assert topology.host("mail").services == ("policyd-rate-limit", "opendkim", "dovecot", "postfix")
    assert topology.host("ns1").services == ("named",)
    # Roundcube's PHP-FPM before nginx, whose webmail site passes PHP to its socket.
    assert topology.host("webmail").services == ("php8.2-fpm", "nginx")


def test_inventory_names_namespace_interfaces_addresses_and_roles(topology):
    inventory = topology.inventory()["hosts"]
    assert set(inventory) == {"internet", "gw", "ns1", "mail", "www", "webmail", "db", "switch", "customer"}
    assert inventory["mail"]["roles"] == ["mail"]
    assert inventory["mail"]["interfaces"]["eth0"]["addresses"] == ["10.99.0.25/24"]
    assert inventory["gw"]["interfaces"]["wan0"]["peer"] == "isp-lab-inet:eth0"
    assert inventory["customer"]["namespace"] == "isp-lab-cust"


def test_a_customer_outside_every_pool_is_refused(stack):
    broken = load_lab("lab", parse_overrides(['lab:customer={"address":"192.0.2.77"}']))
    with pytest.raises(LabError, match="in none of the IPv4 customer pools"):
        build_topology(broken)


def test_an_internet_that_overlaps_our_blocks_is_refused():
    overrides = parse_overrides(['lab:internet={"prefix":"198.51.100.0/24","router":"198.51.100.254",'
                                 '"resolverClient":"198.51.100.250","mailSink":"198.51.100.251",'
                                 '"nameServer":"198.51.100.252"}'])
    with pytest.raises(LabError, match="overlaps one of our own blocks"):
        build_topology(load_lab("lab", overrides))


def test_a_stack_that_delivers_over_ssh_is_not_a_lab():
    with pytest.raises(LabError, match="needs isp:delivery: local"):
        load_lab("lab", {"isp:delivery": "ssh"})


def test_overrides_merge_objects_and_replace_the_rest(stack):
    merged = load_lab("lab", parse_overrides(['isp:dns={"recursionClients":["any"]}']))
    assert merged.cfg.dns.recursion_clients == ["any"]
    assert merged.cfg.mail == stack.cfg.mail
    with pytest.raises(LabError, match="NAMESPACE:KEY=JSON"):
        parse_overrides(["recursion=any"])
