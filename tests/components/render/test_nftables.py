"""The gateway ruleset: checked and loaded by nft in namespaces of our own, read back as JSON,
then exercised with real TCP connections through a gateway namespace."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from components.render.nftables import render_gateway_ruleset
from tests.components.render.conftest import HOSTILE_VALUES, Namespaces, assert_rejected
from tests.conftest import require_tool

MAIL_PRIVATE, MAIL_PUBLIC, GATEWAY_PUBLIC = "10.0.0.25", "198.51.100.25", "198.51.100.1"
INTERNET_HOST = "192.0.2.2"  # stands for any foreign server: another provider's MX or submission
GATEWAY_SSH, MAIL_SSH = 2222, 2200
RULESET = dict(
    wan_interface="wan0",
    lan_interfaces=["lan0", "dial0", "srv0"],
    customer_pools=["100.64.0.0/16"],
    ipv6_customer_pools=["2001:db8:100::/40"],
    server_networks=["10.0.0.0/24", "2001:db8:1::/64"],
    mail_hosts=[(MAIL_PRIVATE, MAIL_PUBLIC)],
    mail_hosts_ipv6=["2001:db8:1::25"],
    public_address=GATEWAY_PUBLIC,
    ssh_management_networks=["192.0.2.0/30"],
    published_services=[("10.0.0.80", "tcp", 443), (MAIL_PUBLIC, "tcp", 993)],
    dialup_pools=["100.64.9.0/24"],
    # The deploy's SSH: each host on its own port (hosts[].sshPort), the gateway's own on 2222.
    ssh_port=GATEWAY_SSH,
    ssh_hosts=[(MAIL_PUBLIC, MAIL_SSH), ("10.0.0.80", 22), ("2001:db8:1::80", 22)],
)


# ---------------------------------------------------------------- reading `nft -j list ruleset`


class Ruleset:
    """The ruleset as the kernel holds it, with a first-match evaluator for single packets."""

    def __init__(self, document: dict) -> None:
        items = document["nftables"]
        self.sets = {(i["set"]["table"], i["set"]["name"]): i["set"].get("elem", []) for i in items if "set" in i}
        self.chains = {(i["chain"]["table"], i["chain"]["name"]): i["chain"] for i in items if "chain" in i}
        self.rules: dict[tuple[str, str], list[list[dict]]] = {}
        for item in items:
            if "rule" in item:
                rule = item["rule"]
                self.rules.setdefault((rule["table"], rule["chain"]), []).append(rule["expr"])

    def decide(self, table: str, chain: str, packet: dict) -> tuple[str, object]:
        """The first matching rule's statement (accept, drop, reject, dnat, snat) or the policy."""
        for expressions in self.rules.get((table, chain), []):
            if all(self._matches(table, e["match"], packet) for e in expressions if "match" in e):
                for expression in expressions:
                    for verdict in ("accept", "drop", "reject", "dnat", "snat", "masquerade"):
                        if verdict in expression:
                            return verdict, expression[verdict]
        return self.chains[(table, chain)].get("policy", "accept"), None

    def _matches(self, table: str, match: dict, packet: dict) -> bool:
        value = _packet_value(match["left"], packet)
        if value is None:
            return False
        found = any(_element_matches(value, element) for element in self._elements(table, match["right"]))
        return not found if match["op"] == "!=" else found

    def _elements(self, table: str, right: object) -> list:
        if isinstance(right, str) and right.startswith("@"):
            return self.sets[(table, right[1:])]
        if isinstance(right, dict) and "set" in right:
            return right["set"]
        return right if isinstance(right, list) else [right]


def _packet_value(left: dict, packet: dict) -> object:
    if "payload" in left:
        protocol, field = left["payload"]["protocol"], left["payload"]["field"]
        if protocol in ("ip", "ip6"):
            return ipaddress.ip_address(packet[field]) if packet["family"] == protocol else None
        return packet.get(field) if packet.get("l4proto") == protocol else None
    if "meta" in left:
        return packet.get(left["meta"]["key"])
    if "ct" in left:
        return packet.get("ct_state", "new")
    raise AssertionError(f"the evaluator does not know {left}")


def _element_matches(value: object, element: object) -> bool:
    if isinstance(element, dict) and "elem" in element:
        element = element["elem"]["val"]
    if isinstance(element, dict) and "prefix" in element:
        network = ipaddress.ip_network(f"{element['prefix']['addr']}/{element['prefix']['len']}")
        return isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address) and value in network
    if isinstance(element, dict) and "range" in element:
        low, high = element["range"]
        if isinstance(value, int):
            return low <= value <= high
        return value.version == ipaddress.ip_address(low).version and ipaddress.ip_address(
            low
        ) <= value <= ipaddress.ip_address(high)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        try:
            return value == ipaddress.ip_address(element)
        except ValueError:
            return False
    return value == element


def _packet(saddr: str, daddr: str, dport: int, iifname: str, oifname: str) -> dict:
    family = "ip" if ipaddress.ip_address(saddr).version == 4 else "ip6"
    return dict(family=family, saddr=saddr, daddr=daddr, l4proto="tcp", dport=dport, iifname=iifname, oifname=oifname)


# ---------------------------------------------------------------- loading in a namespace


def _load(netns: Namespaces, namespace: str, text: str, tmp_path) -> Ruleset:
    nft = require_tool("nft")
    path = tmp_path / "ruleset.nft"
    path.write_text(text)
    netns.run(namespace, nft, "-c", "-f", str(path))
    netns.run(namespace, nft, "-f", str(path))
    return Ruleset(json.loads(netns.run(namespace, nft, "-j", "list", "ruleset").stdout))


@pytest.fixture
def loaded(netns, tmp_path) -> Ruleset:
    return _load(netns, netns.add(), render_gateway_ruleset(**RULESET), tmp_path)


def test_one_to_one_nat_uses_one_public_address(loaded):
    """Lesson 7: what comes in on PUB goes to PRIV, and PRIV leaves as PUB, not as the gateway."""
    verdict, target = loaded.decide("nat", "prerouting", _packet("203.0.113.9", MAIL_PUBLIC, 25, "wan0", ""))
    assert verdict == "dnat" and target["addr"] == MAIL_PRIVATE
    verdict, target = loaded.decide("nat", "postrouting", _packet(MAIL_PRIVATE, "203.0.113.9", 25, "srv0", "wan0"))
    assert verdict == "snat" and target["addr"] == MAIL_PUBLIC
    # Another server in the same network still leaves through the general translation.
    verdict, target = loaded.decide("nat", "postrouting", _packet("10.0.0.80", "203.0.113.9", 443, "srv0", "wan0"))
    assert verdict == "snat" and target["addr"] == GATEWAY_PUBLIC


def test_mail_snat_precedes_every_general_translation(loaded):
    rules = loaded.rules[("nat", "postrouting")]
    translating = [i for i, rule in enumerate(rules) if any("snat" in e or "masquerade" in e for e in rule)]
    mail = [i for i in translating if any(e.get("snat", {}).get("addr") == MAIL_PUBLIC for e in rules[i])]
    general = [i for i in translating if i not in mail]
    assert mail and general and max(mail) < min(general)


@pytest.mark.parametrize(
    ("source", "destination", "port", "expected"),
    [
        ("100.64.1.2", INTERNET_HOST, 25, "reject"),  # lesson 1: a customer's spam bot
        ("100.64.1.2", MAIL_PRIVATE, 25, "accept"),  # our own mail host (after dnat)
        ("100.64.1.2", INTERNET_HOST, 587, "accept"),  # lesson 4
        ("100.64.1.2", INTERNET_HOST, 465, "accept"),
        ("100.64.1.2", INTERNET_HOST, 2525, "accept"),
        ("100.64.1.2", INTERNET_HOST, 443, "accept"),
        ("2001:db8:100::7", "2001:db8:ffff::1", 25, "reject"),
        ("2001:db8:100::7", "2001:db8:1::25", 25, "accept"),
        (MAIL_PRIVATE, INTERNET_HOST, 25, "accept"),  # our mail host delivers to the world
        ("203.0.113.9", MAIL_PRIVATE, 25, "accept"),  # the world delivers to us
        ("203.0.113.9", MAIL_PRIVATE, 993, "accept"),  # published through its public address
        ("203.0.113.9", MAIL_PRIVATE, 22, "drop"),
        ("203.0.113.9", "10.0.0.80", 443, "accept"),
        ("203.0.113.9", "10.0.0.80", 3306, "drop"),
    ],
)
def test_forward_decisions(loaded, source, destination, port, expected):
    inbound = source.startswith(("203.", "192."))
    packet = _packet(
        source,
        destination,
        port,
        "wan0" if inbound else "lan0",
        "srv0" if inbound or destination.startswith("10.") else "wan0",
    )
    assert loaded.decide("filter", "forward", packet)[0] == expected


def test_customer_smtp_reject_is_a_counted_tcp_reset(loaded):
    rules = [r for r in loaded.rules[("filter", "forward")] if any("reject" in e for e in r)]
    assert rules and all(any("counter" in e for e in r) for r in rules)
    assert all(next(e["reject"] for e in r if "reject" in e)["type"] == "tcp reset" for r in rules)


def test_gateway_accepts_ssh_only_from_management(loaded):
    """On the port the deploy really connects to (the gateway's sshPort), not a hard-coded 22."""
    assert loaded.chains[("filter", "input")]["policy"] == "drop"
    ssh = GATEWAY_SSH
    assert loaded.decide("filter", "input", _packet("192.0.2.2", GATEWAY_PUBLIC, ssh, "wan0", ""))[0] == "accept"
    assert loaded.decide("filter", "input", _packet("192.0.2.2", GATEWAY_PUBLIC, 22, "wan0", ""))[0] == "drop"
    assert loaded.decide("filter", "input", _packet("203.0.113.9", GATEWAY_PUBLIC, ssh, "wan0", ""))[0] == "drop"
    assert loaded.decide("filter", "input", _packet("100.64.1.2", "100.64.1.1", ssh, "lan0", ""))[0] == "drop"


@pytest.mark.parametrize(
    ("source", "destination", "port", "expected"),
    [
        ("192.0.2.2", MAIL_PRIVATE, MAIL_SSH, "accept"),  # the deploy, through the 1:1 NAT (after dnat)
        ("192.0.2.2", MAIL_PRIVATE, 22, "drop"),  # not the port it is deployed over
        ("192.0.2.2", "10.0.0.80", 22, "accept"),
        ("192.0.2.2", "10.0.0.81", 22, "drop"),  # no host of ours deployed there
        ("203.0.113.9", MAIL_PRIVATE, MAIL_SSH, "drop"),  # not a management network
        ("100.64.1.2", "10.0.0.80", 22, "drop"),  # nor is a customer
    ],
)
def test_forward_admits_each_hosts_ssh_port_from_management_only(loaded, source, destination, port, expected):
    packet = _packet(source, destination, port, "lan0" if source.startswith("100.") else "wan0", "srv0")
    assert loaded.decide("filter", "forward", packet)[0] == expected


def test_ipv6_deploy_reaches_its_hosts_and_the_gateway(netns, tmp_path):
    ruleset = _load(netns, netns.add(), render_gateway_ruleset(
        **{**RULESET, "ssh_management_networks": ["192.0.2.0/30", "2001:db8:ff::/48"]}), tmp_path)
    deploy6 = "2001:db8:ff::7"
    assert ruleset.decide("filter", "forward", _packet(deploy6, "2001:db8:1::80", 22, "wan0", "srv0"))[0] == "accept"
    assert ruleset.decide("filter", "forward", _packet(deploy6, "2001:db8:1::81", 22, "wan0", "srv0"))[0] == "drop"
    assert ruleset.decide("filter", "input", _packet(deploy6, "2001:db8:1::1", GATEWAY_SSH, "wan0", ""))[0] == "accept"
    outsider = "2001:db8:fe::7"
    assert ruleset.decide("filter", "forward", _packet(outsider, "2001:db8:1::80", 22, "wan0", "srv0"))[0] == "drop"


def test_deploy_ssh_is_admitted_before_any_reject_or_drop(loaded):
    """policy drop ordering: no rule before the deploy's SSH accepts may reject or drop it."""
    for chain in ("input", "forward"):
        rules = loaded.rules[("filter", chain)]
        ssh = [i for i, r in enumerate(rules) if any(
            "match" in e and e["match"]["right"] in ("@management_v4", "@management_v6") for e in r)]
        refusing = [i for i, r in enumerate(rules) if any("reject" in e or "drop" in e for e in r)]
        assert ssh, chain
        # Only `ct state invalid drop` may come first: a new connection's first packet is never invalid.
        before = [i for i in refusing if i < max(ssh)]
        assert all(rules[i][0]["match"]["left"] == {"ct": {"key": "state"}} for i in before), chain


def test_dialup_mail_goes_to_the_small_limit_listeners(loaded):
    for port, listener in ((587, 10587), (2525, 10587), (25, 10587), (465, 10465)):
        verdict, target = loaded.decide("nat", "prerouting", _packet("100.64.9.2", MAIL_PUBLIC, port, "dial0", ""))
        assert (verdict, target["addr"], target["port"]) == ("dnat", MAIL_PRIVATE, listener)
    # Other customers keep the normal listeners.
    verdict, target = loaded.decide("nat", "prerouting", _packet("100.64.1.2", MAIL_PUBLIC, 587, "lan0", ""))
    assert verdict == "dnat" and "port" not in target


# ---------------------------------------------------------------- real traffic


# Accepts on each port and tells the client which port it was reached on and who it saw.
LISTENER = r"""
import selectors, socket, sys
selector = selectors.DefaultSelector()
for port in sys.argv[1:]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", int(port)))
    server.listen(16)
    selector.register(server, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in selector.select():
        connection, peer = key.fileobj.accept()
        connection.sendall(f"{connection.getsockname()[1]} {peer[0]}\n".encode())
        connection.close()
"""

CLIENT = r"""
import json, socket, sys
results = []
for host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=float(sys.argv[2])) as connection:
            local_port, peer = connection.makefile().readline().split()
            results.append(["open", int(local_port), peer])
    except ConnectionRefusedError:
        results.append(["refused"])
    except (TimeoutError, socket.timeout):
        results.append(["timeout"])
print(json.dumps(results))
"""


class Topology:
    """gateway <-> customer pool, dial-up pool, server network, Internet; one namespace each."""

    def __init__(self, netns: Namespaces) -> None:
        self.netns = netns
        self.ns = {role: netns.add() for role in ("gateway", "customer", "dialup", "mail", "internet")}
        self.listeners: list[subprocess.Popen] = []
        links = [
            ("lan0", "100.64.1.1/24", "customer", "100.64.1.2/24"),
            ("dial0", "100.64.9.1/24", "dialup", "100.64.9.2/24"),
            ("srv0", "10.0.0.1/24", "mail", f"{MAIL_PRIVATE}/24"),
            ("wan0", "192.0.2.1/30", "internet", f"{INTERNET_HOST}/30"),
        ]
        gateway = self.ns["gateway"]
        for gateway_side, gateway_address, role, address in links:
            subprocess.run(
                [
                    "ip",
                    "link",
                    "add",
                    gateway_side,
                    "netns",
                    gateway,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    self.ns[role],
                ],
                check=True,
                capture_output=True,
                timeout=10,
            )
            netns.run(gateway, "ip", "addr", "add", gateway_address, "dev", gateway_side)
            netns.run(gateway, "ip", "link", "set", gateway_side, "up")
            netns.run(self.ns[role], "ip", "addr", "add", address, "dev", "eth0")
            netns.run(self.ns[role], "ip", "link", "set", "eth0", "up")
            if role != "internet":
                netns.run(self.ns[role], "ip", "route", "add", "default", "via", gateway_address.split("/")[0])
        # The provider's public block is routed to the gateway; the Internet is its default route.
        netns.run(self.ns["internet"], "ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1")
        netns.run(gateway, "ip", "route", "add", "default", "via", INTERNET_HOST)
        netns.run(gateway, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def listen(self, role: str, *ports: int) -> None:
        process = self.netns.popen(
            self.ns[role],
            sys.executable,
            "-c",
            LISTENER,
            *map(str, ports),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.listeners.append(process)
        assert process.stdout.readline().strip() == "ready", process.stderr.read()

    def connect(self, role: str, *targets: tuple[str, int], timeout: float = 3.0) -> list[list]:
        result = self.netns.run(
            self.ns[role], sys.executable, "-c", CLIENT, json.dumps(targets), str(timeout), timeout=60
        )
        return json.loads(result.stdout)

    def stop(self) -> None:
        for process in self.listeners:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def topology(netns, tmp_path):
    built = Topology(netns)
    try:
        yield built
    finally:
        built.stop()


def test_real_traffic_through_the_gateway(topology, tmp_path):
    ruleset = _load(topology.netns, topology.ns["gateway"], render_gateway_ruleset(**RULESET), tmp_path)
    topology.listen("mail", 22, 25, 465, 587, 2525, 10465, 10587, MAIL_SSH)
    topology.listen("gateway", GATEWAY_SSH, 22)
    topology.listen("internet", 25, 465, 587, 2525)

    customer = topology.connect(
        "customer",
        (INTERNET_HOST, 25),
        (MAIL_PUBLIC, 25),
        (INTERNET_HOST, 587),
        (INTERNET_HOST, 465),
        (INTERNET_HOST, 2525),
    )
    assert customer[0] == ["refused"]  # lesson 1: reset by the gateway, not a timeout
    assert customer[1] == ["open", 25, "100.64.1.2"]  # our mail host, reached through its public address
    # Lesson 4: submission anywhere; the CGNAT pool leaves as the gateway's address.
    assert customer[2:] == [
        ["open", 587, GATEWAY_PUBLIC],
        ["open", 465, GATEWAY_PUBLIC],
        ["open", 2525, GATEWAY_PUBLIC],
    ]

    # Lesson 7: the mail host sends from the very address the world reaches it on.
    assert topology.connect("mail", (INTERNET_HOST, 25)) == [["open", 25, MAIL_PUBLIC]]
    assert topology.connect("internet", (MAIL_PUBLIC, 25), (MAIL_PUBLIC, 22), timeout=1.0) == [
        ["open", 25, INTERNET_HOST],
        ["timeout"],
    ]
    # Hairpin: a server reaching a public address of ours on its own segment (here the mail host its own, as
    # webmail reaches mail.<domain>) is masqueraded behind the gateway, so the answer comes back through it.
    assert topology.connect("mail", (MAIL_PUBLIC, 25)) == [["open", 25, "10.0.0.1"]]
    # No lockout: the deploy (192.0.2.2 is a management network) reaches the mail host on its own sshPort
    # through the 1:1 NAT, and the gateway on the gateway's; customers reach neither.
    assert topology.connect("internet", (MAIL_PUBLIC, MAIL_SSH), ("192.0.2.1", GATEWAY_SSH), ("192.0.2.1", 22),
                            timeout=1.0) == [["open", MAIL_SSH, INTERNET_HOST], ["open", GATEWAY_SSH, INTERNET_HOST],
                                             ["timeout"]]
    assert topology.connect("customer", (MAIL_PUBLIC, MAIL_SSH), ("100.64.1.1", GATEWAY_SSH), timeout=1.0) == [
        ["timeout"], ["timeout"]]

    # Lesson 11: dial-up customers keep their settings and land on the small-limit listeners.
    dialup = topology.connect("dialup", (MAIL_PUBLIC, 587), (MAIL_PUBLIC, 465), (MAIL_PUBLIC, 25), (INTERNET_HOST, 25))
    assert dialup == [
        ["open", 10587, "100.64.9.2"],
        ["open", 10465, "100.64.9.2"],
        ["open", 10587, "100.64.9.2"],
        ["refused"],
    ]

    # The resets were counted.
    counted = Ruleset(json.loads(topology.netns.run(topology.ns["gateway"], "nft", "-j", "list", "ruleset").stdout))
    counters = [
        e["counter"]["packets"]
        for r in counted.rules[("filter", "forward")]
        if any("reject" in e for e in r)
        for e in r
        if "counter" in e
    ]
    assert sum(counters) >= 2
    assert ruleset.chains[("filter", "forward")]["policy"] == "drop"


# ---------------------------------------------------------------- validation


def test_nft_itself_would_run_an_injected_rule(netns, tmp_path):
    """The premise of the checks below: one newline in an interface name adds a rule."""
    text = render_gateway_ruleset(**RULESET).replace(
        'oifname "wan0"', 'oifname "wan0" accept\n\t\tip saddr 0.0.0.0/0', 1
    )
    ruleset = _load(netns, netns.add(), text, tmp_path)
    assert len(ruleset.rules[("filter", "forward")]) > len(
        _load(netns, netns.add(), render_gateway_ruleset(**RULESET), tmp_path).rules[("filter", "forward")]
    )


@pytest.mark.parametrize("parameter", ["wan_interface", "public_address"])
def test_refuses_injection_in_scalars(parameter):
    assert_rejected(render_gateway_ruleset, RULESET, parameter)


@pytest.mark.parametrize(
    "parameter",
    [
        "lan_interfaces",
        "customer_pools",
        "server_networks",
        "ssh_management_networks",
        "ipv6_customer_pools",
        "mail_hosts_ipv6",
        "dialup_pools",
    ],
)
def test_refuses_injection_in_lists(parameter):
    for hostile in HOSTILE_VALUES:
        with pytest.raises(ValueError, match=parameter):
            render_gateway_ruleset(**{**RULESET, parameter: [hostile]})
    with pytest.raises(ValueError, match=parameter):
        render_gateway_ruleset(**{**RULESET, parameter: "10.0.0.0/24"})


def test_refuses_injection_in_pairs_and_services():
    for hostile in HOSTILE_VALUES:
        with pytest.raises(ValueError, match="mail_hosts"):
            render_gateway_ruleset(**{**RULESET, "mail_hosts": [(MAIL_PRIVATE, hostile)]})
        with pytest.raises(ValueError, match="published_services"):
            render_gateway_ruleset(**{**RULESET, "published_services": [("10.0.0.80", hostile, 443)]})
        with pytest.raises(ValueError, match="published_services"):
            render_gateway_ruleset(**{**RULESET, "published_services": [(hostile, "tcp", 443)]})


@pytest.mark.parametrize("port", [0, 65536, -22, True, "22", "22 accept", 22.0, None, [22]])
def test_ssh_ports_are_port_numbers(port):
    with pytest.raises(ValueError, match="ssh_port"):
        render_gateway_ruleset(**{**RULESET, "ssh_port": port})
    with pytest.raises(ValueError, match="ssh_hosts"):
        render_gateway_ruleset(**{**RULESET, "ssh_hosts": [("10.0.0.80", port)]})


def test_ssh_hosts_are_address_port_pairs():
    for hostile in HOSTILE_VALUES:
        with pytest.raises(ValueError, match="ssh_hosts"):
            render_gateway_ruleset(**{**RULESET, "ssh_hosts": [(hostile, 22)]})
    for malformed in ("10.0.0.80", [("10.0.0.80",)], [("10.0.0.80", 22, "tcp")], ["10.0.0.80:22"],
                      [("10.0.0.80", 22), ("10.0.0.80", 22)]):
        with pytest.raises(ValueError, match="ssh_hosts"):
            render_gateway_ruleset(**{**RULESET, "ssh_hosts": malformed})


@pytest.mark.parametrize("name", ["", "a" * 16, "eth 0", "eth0/1", "..", "-eth0", "eth*"])
def test_interface_names_fit_ifnamsiz_and_charset(name):
    with pytest.raises(ValueError, match="wan_interface"):
        render_gateway_ruleset(**{**RULESET, "wan_interface": name})
    assert render_gateway_ruleset(**{**RULESET, "wan_interface": "a" * 15})


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"own_mail_submission_ports": (25, 587)}, "own_mail_submission_ports"),
        ({"mail_hosts": [(MAIL_PRIVATE, GATEWAY_PUBLIC)]}, "mail_hosts"),
        ({"mail_hosts": [("10.9.9.9", MAIL_PUBLIC)]}, "mail_hosts"),  # outside server_networks
        ({"mail_hosts": [(MAIL_PRIVATE, MAIL_PUBLIC), ("10.0.0.26", MAIL_PUBLIC)]}, "mail_hosts"),
        ({"customer_pools": ["10.0.0.0/16"]}, "customer_pools"),  # overlaps the servers
        ({"dialup_pools": ["192.168.7.0/24"]}, "dialup_pools"),  # not a customer pool
        ({"lan_interfaces": ["wan0"]}, "lan_interfaces"),
        ({"lan_interfaces": ["lan0", "lan0"]}, "lan_interfaces"),
    ],
)
def test_refuses_inconsistent_networks(change, parameter):
    with pytest.raises(ValueError, match=parameter):
        render_gateway_ruleset(**{**RULESET, **change})


def test_a_minimal_gateway_loads(netns, tmp_path):
    """No customers, no mail host yet: empty sets and chains must still be valid nftables."""
    text = render_gateway_ruleset(
        wan_interface="eth0",
        lan_interfaces=["eth1"],
        customer_pools=[],
        server_networks=["81.0.0.0/28"],  # a global block (documentation ranges count as non-global)
        mail_hosts=[],
        public_address="81.0.0.1",
        own_mail_submission_ports=(587,),
    )
    ruleset = _load(netns, netns.add(), text, tmp_path)
    assert ruleset.rules.get(("nat", "postrouting"), []) == []  # a global server network needs no translation
    packet = _packet("81.0.0.5", INTERNET_HOST, 25, "eth1", "eth0")
    assert ruleset.decide("filter", "forward", packet)[0] == "accept"
