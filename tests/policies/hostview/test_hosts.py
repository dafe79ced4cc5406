"""One view per machine: spellings joined through the stack's own DNS and NAT data, effective files."""

from __future__ import annotations

from dataclasses import replace

from hostview import hosts
from hostview.evidence import HostFile
from pack_builders import copy_file, record, view_of, zone

GATEWAY_1TO1 = """table ip nat {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
    ip daddr 198.51.100.53 dnat to 10.0.0.53
  }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.0.0.53 snat to 198.51.100.53
  }
}
"""

GATEWAY_PORT_FORWARDS = """table ip nat {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
    ip daddr 198.51.100.10 tcp dport 53 dnat to 10.0.0.53
    ip daddr 198.51.100.10 tcp dport 80 dnat to 10.0.0.80
  }
}
"""


def _keys(view) -> dict[str, tuple[str, ...]]:
    return {h.key: tuple(sorted(f.deployed_path for f in h.files)) for h in hosts.of(view)}


def test_a_name_and_its_address_are_one_host():
    z = zone("example.net")
    view = view_of(z, record("ns1.example.net", "A", "198.51.100.53", zone_resource=z),
                   copy_file("ns1.example.net", "/etc/bind/named.conf.options", "options { };"),
                   copy_file("198.51.100.53", "/etc/bind/named.conf.local", "zone \"x\" { type primary; };"))
    (host,) = hosts.of(view)
    assert host.key == "ns1.example.net"
    assert host.label == "ns1.example.net (198.51.100.53)"
    assert set(host.spellings) == {"ns1.example.net", "198.51.100.53"}
    assert [f.deployed_path for f in host.of_kind("bind")] == ["/etc/bind/named.conf.options",
                                                                "/etc/bind/named.conf.local"]
    assert hosts.host_of(view, "198.51.100.53") is host
    assert hosts.host_of(view, "NS1.example.net.") is host


def test_a_private_address_is_joined_to_its_public_name_through_one_to_one_dnat():
    z = zone("example.net")
    view = view_of(z, record("ns1.example.net", "A", "198.51.100.53", zone_resource=z),
                   copy_file("gw.example.net", "/etc/nftables.conf", GATEWAY_1TO1),
                   copy_file("10.0.0.53", "/etc/bind/named.conf", "options { };"),
                   copy_file("ns1.example.net", "/etc/nginx/sites-enabled/www", "server { listen 80; }"))
    keys = _keys(view)
    assert keys["ns1.example.net"] == ("/etc/bind/named.conf", "/etc/nginx/sites-enabled/www")
    assert "10.0.0.53" in hosts.host_of(view, "ns1.example.net").addresses


def test_port_forwards_of_one_public_address_to_several_hosts_join_nothing():
    view = view_of(copy_file("gw.example.net", "/etc/nftables.conf", GATEWAY_PORT_FORWARDS),
                   copy_file("10.0.0.53", "/etc/bind/named.conf", "options { };"),
                   copy_file("10.0.0.80", "/etc/nginx/nginx.conf", "http { }"))
    keys = _keys(view)
    assert keys["10.0.0.53"] == ("/etc/bind/named.conf",)
    assert keys["10.0.0.80"] == ("/etc/nginx/nginx.conf",)


def test_different_names_on_different_addresses_stay_apart():
    z = zone("example.net")
    view = view_of(z, record("ns1.example.net", "A", "198.51.100.53", zone_resource=z),
                   record("www.example.net", "A", "198.51.100.80", zone_resource=z),
                   copy_file("ns1.example.net", "/etc/bind/named.conf", "options { };"),
                   copy_file("www.example.net", "/etc/nginx/nginx.conf", "http { }"))
    assert set(_keys(view)) == {"ns1.example.net", "www.example.net"}


def _file(path: str, text: str | None, **extra) -> HostFile:
    return HostFile("ns1", path, "bind", text, "urn:x", **extra)


def test_the_last_delivery_of_a_path_wins_and_staged_copies_name_their_real_path():
    host = hosts.group([_file("/etc/bind/isp-staging/named.conf", "first"), _file("/etc/bind/named.conf", "second")],
                       [], lambda name: [], {})[0]
    assert host.file("/etc/bind/named.conf").text == "second"
    assert len(host.files) == 1


def test_appends_join_and_copies_take_their_source_text():
    files = [
        _file("/etc/bind/named.conf.local", "zone \"a\" { type primary; file \"a\"; };\n"),
        _file("/etc/bind/named.conf.local", "zone \"b\" { type primary; file \"b\"; };\n", append=True,
              via="heredoc in command add-zone (line 2)"),
        _file("/tmp/named.conf.options", "options { recursion no; };"),
        _file("/etc/bind/named.conf.options", None, copied_from="/tmp/named.conf.options"),
        _file("/etc/bind/named.conf", None, copied_from="/tmp/never-delivered"),
    ]
    host = hosts.group(files, [], lambda name: [], {})[0]
    local = host.file("/etc/bind/named.conf.local")
    assert local.text.count("zone") == 2
    assert "heredoc in command add-zone" in local.via
    assert host.file("/etc/bind/named.conf.options").text == "options { recursion no; };"
    unknown = host.file("/etc/bind/named.conf")
    assert unknown.text is None and "/tmp/never-delivered" in unknown.problem
    assert any("/tmp/never-delivered" in note for note in host.notes)


def test_an_append_to_an_unknown_text_stays_unknown():
    files = [_file("/etc/bind/named.conf.local", None, problem="the source is unknown during preview"),
             _file("/etc/bind/named.conf.local", "zone \"b\" { };", append=True)]
    host = hosts.group(files, [], lambda name: [], {})[0]
    assert host.file("/etc/bind/named.conf.local").text is None


def test_glob_finds_included_files_in_the_order_daemons_expand_them():
    files = [_file(f"/etc/nginx/sites-enabled/{name}", "server { }") for name in ("b.conf", "a.conf", "c.txt")]
    host = hosts.group([replace(f, kind="nginx") for f in files], [], lambda name: [], {})[0]
    assert [f.basename for f in host.glob("/etc/nginx/sites-enabled/*.conf")] == ["a.conf", "b.conf"]
