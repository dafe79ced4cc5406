"""named.conf parsing and BIND's effective recursion ACL, checked against named-checkconf."""

from __future__ import annotations

import ipaddress

import pytest
from pack_builders import named_checkconf
from readers import bindconf

ISP_ACL = "acl isp { 198.51.100.0/24; 203.0.113.0/24; 10.0.0.0/8; };\n"


def open_scopes(text: str, own: list[str] | None = None) -> list[bindconf.RecursionScope]:
    conf = bindconf.parse_named_conf(text)
    assert conf.problems == []
    own_nets = [ipaddress.ip_network(n) for n in own or []]
    scopes = bindconf.recursion_scopes(conf, bindconf.AclResolver(conf.acls))
    return [s for s in scopes if s.recursion and bindconf.is_open(s.admitted, own_nets)]


# (case, named.conf, open?) -- every text is valid BIND (asserted below with named-checkconf).
CASES = [
    ("defaults only", 'options { directory "/var/cache/bind"; };', False),
    ("only allow-query any", "options { allow-query { any; }; };", True),
    ("allow-query any, recursion no", "options { recursion no; allow-query { any; }; };", False),
    ("allow-query-cache own acl, allow-query any",
     ISP_ACL + "options { allow-query { any; }; allow-query-cache { isp; }; };", False),
    ("allow-recursion own acl, allow-query any",
     ISP_ACL + "options { allow-query { any; }; allow-recursion { isp; }; };", False),
    ("nested acl resolving to any",
     "acl world { any; };\nacl friends { world; };\noptions { allow-recursion { friends; }; };", True),
    ("negation before any", "options { allow-recursion { !10.0.0.0/8; any; }; };", True),
    ("not none", "options { allow-recursion { !none; }; };", True),
    ("0.0.0.0/0", "options { allow-recursion { 0.0.0.0/0; }; };", True),
    ("::/0", "options { allow-recursion { ::/0; }; };", True),
    ("two halves of the space", "options { allow-recursion { 0.0.0.0/1; 128.0.0.0/1; }; };", True),
    ("negated acl never admits (no double negation)",
     "acl notours { !198.51.100.0/24; };\noptions { allow-recursion { !notours; }; };", False),
    ("deny wins when first", "options { allow-recursion { !any; 198.51.100.0/24; }; };", False),
    ("localhost and localnets", "options { allow-recursion { localhost; localnets; }; };", False),
    ("abbreviated prefixes", "options { allow-recursion { 10/8; 192.168/16; }; };", False),
    ("global allow-recursion beats a view's allow-query",
     ISP_ACL + 'options { allow-recursion { isp; }; };\nview "all" { allow-query { any; }; };', False),
    ("a view's allow-query-cache any is not reached when options set allow-recursion",
     ISP_ACL + 'options { allow-recursion { isp; }; };\nview "all" { allow-query-cache { any; }; };', False),
    ("view open for the world",
     ISP_ACL + 'view "inside" { match-clients { isp; }; allow-recursion { any; }; };\n'
     'view "outside" { match-clients { any; }; allow-query { any; }; };', True),
    ("split horizon done right",
     ISP_ACL + 'view "inside" { match-clients { isp; }; allow-recursion { any; }; };\n'
     'view "outside" { match-clients { any; }; recursion no; allow-query { any; }; };', False),
    ("comments of every kind", "// c\n# c\n/* c\n */ options { /* x */ allow-query { any; }; // y\n};", True),
]


@pytest.mark.parametrize("case,text,expected", CASES, ids=[c[0] for c in CASES])
def test_effective_recursion(case: str, text: str, expected: bool) -> None:
    check = named_checkconf(text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert bool(open_scopes(text)) is expected


def test_the_source_of_the_acl_is_named() -> None:
    (scope,) = open_scopes("options { allow-query { any; }; };")
    assert scope.source == "allow-recursion (inherited from allow-query) in options"
    assert [e.origin for e, _ in scope.contributions] == ["any"]


def test_nested_acl_origin_shows_the_path() -> None:
    (scope,) = open_scopes("acl world { any; };\nacl friends { world; };\noptions { allow-recursion { friends; }; };")
    assert scope.contributions[0][0].origin == "any (via acl friends -> world)"


def test_view_reach_excludes_clients_taken_by_an_earlier_view() -> None:
    text = ISP_ACL + ('view "inside" { match-clients { isp; }; recursion no; };\n'
                      'view "rest" { match-clients { any; }; allow-recursion { 198.51.100.0/24; 192.0.2.0/24; }; };')
    conf = bindconf.parse_named_conf(text)
    scopes = bindconf.recursion_scopes(conf, bindconf.AclResolver(conf.acls))
    rest = scopes[1]
    # 198.51.100.0/24 went to the first view; only 192.0.2.0/24 can recurse in "rest".
    assert rest.admitted.v4 == ((int(ipaddress.ip_address("192.0.2.0")), int(ipaddress.ip_address("192.0.2.255"))),)


def test_own_networks_make_any_outside_address_open() -> None:
    text = "options { allow-recursion { 198.51.100.0/24; 192.0.2.0/24; 10.0.0.0/8; }; };"
    assert open_scopes(text) == []  # narrow: closed without knowing our blocks
    assert open_scopes(text, own=["198.51.100.0/24"])  # 192.0.2.0/24 is not ours
    assert open_scopes(text, own=["198.51.100.0/24", "192.0.2.0/24"]) == []  # 10/8 is private


def test_problems_are_collected_not_raised() -> None:
    conf = bindconf.parse_named_conf('options { allow-query { any; };\nzone "x" { type primary')
    assert any("unbalanced" in p for p in conf.problems)
    assert bindconf.parse_named_conf('options { directory "/x; };').problems


def test_zones_includes_and_views_are_read() -> None:
    conf = bindconf.parse_named_conf(
        'include "/etc/bind/named.conf.options";\n'
        'zone "example.net." { type primary; file "/etc/bind/db.example.net"; };\n'
        'view "v" { zone "2.0.192.in-addr.arpa" { type master; file "db.192.0.2"; }; };')
    assert conf.includes == ["/etc/bind/named.conf.options"]
    assert [(z.name, z.file, z.zone_type, z.view) for z in conf.zones] == [
        ("example.net", "/etc/bind/db.example.net", "primary", None),
        ("2.0.192.in-addr.arpa", "db.192.0.2", "master", "v"),
    ]


def test_address_set_arithmetic() -> None:
    everything = bindconf.AddressSet.everything()
    ten = bindconf.AddressSet.of(ipaddress.ip_network("10.0.0.0/8"))
    rest = everything.minus(ten)
    assert rest.size(4) == 2**32 - 2**24
    assert rest.union(ten).size(4) == 2**32
    assert rest.intersect(ten).is_empty()
    assert bindconf.parse_prefix("192.168/16") == ipaddress.ip_network("192.168.0.0/16")
    assert bindconf.parse_prefix("fe80::1%eth0") == ipaddress.ip_network("fe80::1/128")
    assert bindconf.parse_prefix("not-an-address") is None


@pytest.mark.parametrize("listen,loopback", [
    ("listen-on { 127.0.0.1; }; listen-on-v6 { ::1; };", True),
    ("listen-on { 127.0.0.1; }; listen-on port 5353 { 127.0.0.1; }; listen-on-v6 { none; };", True),
    ("listen-on { 127.0.0.1; };", False),  # listen-on-v6 left at BIND's default: every IPv6 interface
    ("listen-on { localhost; }; listen-on-v6 { ::1; };", False),  # localhost = every address of the server
    ("listen-on { !10.0.0.1; any; }; listen-on-v6 { ::1; };", False),
    ("listen-on { 127.0.0.1; 198.51.100.53; }; listen-on-v6 { ::1; };", False),
    ("", False),
])
def test_a_resolver_listening_on_loopback_only(listen: str, loopback: bool) -> None:
    text = f"options {{ {listen} allow-recursion {{ any; }}; }};"
    assert named_checkconf(text).returncode == 0
    assert bindconf.listens_only_on_loopback(bindconf.parse_named_conf(text)) is loopback


def test_statements_joined_from_several_files_keep_their_file_and_named_s_refusals() -> None:
    options, _ = bindconf.parse_statements("options { allow-recursion { trusted; }; };", "/etc/bind/named.conf.options")
    local_text = ('acl trusted { 10/8; };\nview "v" { recursion yes; };\nacl trusted { any; };\n'
                  'zone "example.net" { type primary; file "db"; };')
    local, _ = bindconf.parse_statements(local_text, "/etc/bind/named.conf.local")
    conf = bindconf.build_conf(options + local)
    assert conf.options["allow-recursion"].file == "/etc/bind/named.conf.options"
    trusted = conf.acl_statements["trusted"]
    assert (trusted.file, trusted.line) == ("/etc/bind/named.conf.local", 1)
    assert (conf.views[0].file, conf.views[0].line) == ("/etc/bind/named.conf.local", 2)
    assert [p.split(":")[0] for p in conf.problems] == ["/etc/bind/named.conf.local line 3",
                                                        "/etc/bind/named.conf.local line 4"]
    assert "acl 'trusted' is defined again" in conf.problems[0] and "outside every view" in conf.problems[1]
