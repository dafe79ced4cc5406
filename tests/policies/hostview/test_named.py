"""BIND's effective configuration per host: includes joined across files, Debian's defaults, roots, not judged.

Every configuration below is written as the BIND 9.18 ARM and Debian's README.Debian have operators
write it (Debian's split named.conf / named.conf.options / named.conf.local), and BIND itself is
asked about it: `named-checkconf -t <tree>` loads the files at their real paths (with Debian's
packaged files where the stack delivers none) and `-p` prints the configuration BIND joined, which
must give the same recursion verdict as the pack's own join.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
from hostview import named
from hostview.evidence import CommandText, HostFile
from pack_builders import copy_file, record, tool, view_of, zone
from readers import bindconf

NS = "ns1.example.net"

DEBIAN_NAMED = """// This is the primary configuration file for the BIND DNS server named.
include "/etc/bind/named.conf.options";
include "/etc/bind/named.conf.local";
include "/etc/bind/named.conf.default-zones";
"""
# With views, every zone must be in a view: Debian's README.Debian has the default zones included per view.
NAMED_FOR_VIEWS = """include "/etc/bind/named.conf.options";
include "/etc/bind/named.conf.local";
"""
OPTIONS_OPEN = """options {
\tdirectory "/var/cache/bind";
\tdnssec-validation auto;
\tallow-query { any; };
\tlisten-on-v6 { any; };
};
"""
OPTIONS_TRUSTED = """options {
\tdirectory "/var/cache/bind";
\tallow-query { any; };
\tallow-recursion { trusted; };
\tallow-query-cache { trusted; };
};
"""
LOCAL_ACL = """acl trusted {
\t198.51.100.0/24;
\t2001:db8:100::/48;
\tlocalhost;
};
zone "example.net" { type primary; file "/etc/bind/db.example.net"; };
"""
OPTIONS_NO_RECURSION = """options {
\tdirectory "/var/cache/bind";
\trecursion no;
\tallow-query { any; };
};
"""
LOCAL_VIEW_RESOLVER = """view "resolver" {
\tmatch-clients { any; };
\trecursion yes;
\tinclude "/etc/bind/named.conf.default-zones";
};
"""


def files_view(files: dict[str, str], host: str = NS, extra=()):
    z = zone("example.net")
    return view_of(z, record(NS, "A", "198.51.100.53", zone_resource=z),
                   *[copy_file(host, path, text) for path, text in files.items()], *extra)


def effective(files: dict[str, str], **kw) -> list[named.EffectiveNamed]:
    return named.of(files_view(files, **kw))


def open_scopes(eff: named.EffectiveNamed) -> list[bindconf.RecursionScope]:
    assert eff.judged, (eff.gaps, eff.waiting)
    resolver = bindconf.AclResolver(eff.conf.acls)
    scopes = bindconf.recursion_scopes(eff.conf, resolver)
    assert resolver.unresolved == []
    return [s for s in scopes if s.recursion and bindconf.is_open(s.admitted)]


# ---------------------------------------------------------------------------------------
# BIND as the oracle: the tree as a name server has it, checked and joined by named-checkconf


def bind_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """The files at their paths under tmp_path, with Debian's packaged files where none is delivered."""
    for path, text in {**named.DEBIAN_DEFAULTS, **files}.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (tmp_path / "var/cache/bind").mkdir(parents=True, exist_ok=True)
    return tmp_path


def checkconf(tmp_path: Path, files: dict[str, str], *flags: str, root: str = named.DEBIAN_ROOT):
    if os.geteuid() != 0:
        pytest.skip("named-checkconf -t chroots, which needs root")
    tree = bind_tree(tmp_path, files)
    return subprocess.run([tool("named-checkconf"), *flags, "-t", str(tree), root], capture_output=True, text=True,
                          timeout=60)


SPLIT_CASES = [
    ("allow-query any in options, recursion on by default", {"/etc/bind/named.conf.options": OPTIONS_OPEN}, True),
    ("acl trusted in named.conf.local, used in named.conf.options",
     {"/etc/bind/named.conf.options": OPTIONS_TRUSTED, "/etc/bind/named.conf.local": LOCAL_ACL}, False),
    ("recursion no in options, a view re-enabling it", {
        "/etc/bind/named.conf": NAMED_FOR_VIEWS, "/etc/bind/named.conf.options": OPTIONS_NO_RECURSION,
        "/etc/bind/named.conf.local": LOCAL_VIEW_RESOLVER}, True),
    ("split horizon across files: internal view with the acl of another file, external without recursion", {
        "/etc/bind/named.conf": NAMED_FOR_VIEWS + 'include "/etc/bind/named.conf.acls";\n',
        "/etc/bind/named.conf.acls": 'acl internal { 198.51.100.0/24; 10.0.0.0/8; };\n',
        "/etc/bind/named.conf.options": 'options { directory "/var/cache/bind"; allow-query { any; }; };\n',
        "/etc/bind/named.conf.local": 'view "internal" {\n\tmatch-clients { internal; };\n\trecursion yes;\n'
                                      '\tinclude "/etc/bind/named.conf.default-zones";\n};\n'
                                      'view "external" {\n\tmatch-clients { any; };\n\trecursion no;\n};\n'}, False),
    ("Debian's packaged configuration, only zones added", {"/etc/bind/named.conf.local": LOCAL_ACL}, False),
    ("a glob include of a conf.d directory opening recursion", {
        "/etc/bind/named.conf.local": 'include "/etc/bind/conf.d/*.conf";\n',
        "/etc/bind/conf.d/10-world.conf": "acl world { 0.0.0.0/0; ::/0; };\n",
        "/etc/bind/named.conf.options": 'options { directory "/var/cache/bind"; allow-recursion { world; }; };\n'},
     True),
]


@pytest.mark.parametrize("case,files,is_open", SPLIT_CASES, ids=[c[0] for c in SPLIT_CASES])
def test_the_join_is_the_one_bind_makes(tmp_path, case, files, is_open) -> None:
    check = checkconf(tmp_path, files, "-p")
    assert check.returncode == 0, check.stdout + check.stderr
    (eff,) = effective(files)
    assert bool(open_scopes(eff)) is is_open
    # BIND's own join (-p prints the configuration it loaded, includes expanded) gives the same verdict.
    printed = bindconf.parse_named_conf(check.stdout)
    scopes = bindconf.recursion_scopes(printed, bindconf.AclResolver(printed.acls))
    ours = bindconf.recursion_scopes(eff.conf, bindconf.AclResolver(eff.conf.acls))
    assert [(s.scope, s.recursion, s.admitted) for s in scopes] == [(s.scope, s.recursion, s.admitted) for s in ours]


def test_statements_keep_the_file_they_came_from() -> None:
    (eff,) = effective({"/etc/bind/named.conf": NAMED_FOR_VIEWS, "/etc/bind/named.conf.options": OPTIONS_NO_RECURSION,
                        "/etc/bind/named.conf.local": LOCAL_VIEW_RESOLVER})
    (scope,) = open_scopes(eff)
    assert scope.view.name == "resolver" and scope.view.file == "/etc/bind/named.conf.local"
    assert scope.recursion_stmt.file == "/etc/bind/named.conf.local" and scope.recursion_in == "view resolver"
    assert (scope.acl_option, scope.acl_in, scope.acl_stmt.file) == ("allow-query", "options",
                                                                    "/etc/bind/named.conf.options")
    assert [s.path for s in eff.sources] == ["/etc/bind/named.conf", "/etc/bind/named.conf.options",
                                             "/etc/bind/named.conf.local", "/etc/bind/named.conf.default-zones"]
    assert eff.label("/etc/bind/named.conf.local") == "named.conf.local"
    assert eff.label("/etc/bind/named.conf.default-zones") == "named.conf.default-zones, Debian's default"
    assert eff.urn("/etc/bind/named.conf.default-zones", "/etc/bind/named.conf.options").endswith("named-conf-options")
    assert {z.name for z in eff.conf.zones if z.view == "resolver"} >= {"", "localhost", "127.in-addr.arpa"}


def test_debian_defaults_stand_in_for_files_the_stack_does_not_deliver() -> None:
    (eff,) = effective({"/etc/bind/named.conf.options": OPTIONS_OPEN})
    assert eff.root == named.DEBIAN_ROOT
    assert [(s.path, s.urn is None) for s in eff.sources] == [
        ("/etc/bind/named.conf", True), ("/etc/bind/named.conf.options", False),
        ("/etc/bind/named.conf.local", True), ("/etc/bind/named.conf.default-zones", True)]
    assert [z.name for z in eff.conf.zones] == ["", "localhost", "127.in-addr.arpa", "0.in-addr.arpa",
                                                "255.in-addr.arpa"]


def test_installing_bind9_alone_is_debian_s_closed_default() -> None:
    view = files_view({})
    view.commands.append(CommandText(NS, ["apt-get install -y bind9"], "urn:cmd", "install", packages=("bind9",)))
    (eff,) = named.of(view)
    assert eff.judged and all(s.urn is None for s in eff.sources)
    assert open_scopes(eff) == []
    assert named.of(files_view({"/etc/postfix/main.cf": "myhostname = mail\n"})) == []


def test_a_named_conf_written_by_a_command_heredoc_is_joined_like_a_copied_one() -> None:
    view = files_view({"/etc/bind/named.conf.local": LOCAL_ACL})
    view.files.append(HostFile(NS, "/etc/bind/named.conf.options", "bind", OPTIONS_OPEN, "urn:setup",
                               via="heredoc in command setup-bind (line 2)"))
    (eff,) = named.of(view)
    assert open_scopes(eff) and eff.source("/etc/bind/named.conf.options").via.startswith("heredoc")


def test_a_non_debian_root_is_its_own_root() -> None:
    rhel = 'options {\n\tdirectory "/var/named";\n\tallow-query { any; };\n\trecursion yes;\n};\n' \
           'include "/etc/named/zones.conf";\n'
    (eff,) = effective({"/etc/named.conf": rhel, "/etc/named/zones.conf": 'zone "example.net" { type primary; '
                                                                         'file "db.example.net"; };\n'})
    assert eff.root == "/etc/named.conf" and [s.path for s in eff.sources] == ["/etc/named.conf",
                                                                               "/etc/named/zones.conf"]
    assert open_scopes(eff) and eff.label("/etc/named/zones.conf") == "/etc/named/zones.conf"


def test_an_include_the_stack_does_not_deliver_is_not_judged(tmp_path) -> None:
    files = {"/etc/bind/named.conf.options": OPTIONS_OPEN,
             "/etc/bind/named.conf.local": 'include "/etc/bind/named.conf.acls";\n'}
    assert checkconf(tmp_path, files).returncode == 1  # named refuses: file not found
    (eff,) = effective(files)
    assert not eff.judged
    (gap,) = eff.gaps
    assert gap.startswith('named.conf.local line 1: include "/etc/bind/named.conf.acls" names '
                          "/etc/bind/named.conf.acls, which the stack does not deliver and Debian does not ship")


def test_include_cycles_are_not_judged(tmp_path) -> None:
    files = {"/etc/bind/named.conf.local": 'include "/etc/bind/zones.conf";\n',
             "/etc/bind/zones.conf": 'include "/etc/bind/named.conf.local";\n'}
    assert checkconf(tmp_path, files).returncode == 1  # BIND recurses until it runs out of files
    (eff,) = effective(files)
    assert eff.gaps == ("include cycle named.conf.local -> zones.conf -> named.conf.local; named refuses it",)


@pytest.mark.parametrize("files,expected", [
    ({"/etc/bind/named.conf.options": OPTIONS_TRUSTED,
      "/etc/bind/named.conf.local": LOCAL_ACL + "acl trusted { any; };\n"}, "acl 'trusted' is defined again"),
    ({"/etc/bind/named.conf.options": OPTIONS_OPEN, "/etc/bind/named.conf.local": LOCAL_VIEW_RESOLVER},
     "is outside every view while views are used"),
    ({"/etc/bind/named.conf.options": OPTIONS_OPEN + OPTIONS_NO_RECURSION}, "a second options block"),
    ({"/etc/bind/named.conf.local": 'zone "example.net" { type primary; file "db";\n'}, "does not parse"),
])
def test_configurations_named_refuses_are_not_judged(tmp_path, files, expected) -> None:
    assert checkconf(tmp_path, files).returncode == 1
    (eff,) = effective(files)
    assert not eff.judged and any(expected in gap for gap in eff.gaps), eff.gaps


def test_relative_includes_are_read_from_the_directory_in_force(tmp_path) -> None:
    files = {"/etc/bind/named.conf.options": OPTIONS_TRUSTED,
             "/etc/bind/named.conf.local": 'include "trusted.acl";\n',
             "/var/cache/bind/trusted.acl": "acl trusted { 198.51.100.0/24; };\n"}
    assert checkconf(tmp_path, files).returncode == 0
    (eff,) = effective(files)
    assert eff.judged and open_scopes(eff) == []
    assert eff.notes == ('named.conf.local line 1: include "trusted.acl" (relative: read from /var/cache/bind, the '
                         "directory option in force); an absolute path is safer",)
    # Written where the operator meant it (/etc/bind), BIND does not find it: neither does the pack.
    moved = {**files, "/etc/bind/trusted.acl": files["/var/cache/bind/trusted.acl"]}
    del moved["/var/cache/bind/trusted.acl"]
    assert checkconf(tmp_path / "moved", moved).returncode == 1
    (eff,) = effective(moved)
    assert not eff.judged and "/var/cache/bind/trusted.acl" in eff.gaps[0]


def test_a_glob_without_a_match_is_not_judged() -> None:
    (eff,) = effective({"/etc/bind/named.conf.local": 'include "/etc/bind/conf.d/*.conf";\n'})
    assert not eff.judged and "matches no file the stack delivers" in eff.gaps[0]


def test_a_file_no_named_conf_includes_is_noted_not_judged() -> None:
    (eff,) = effective({"/etc/bind/named.conf.options": OPTIONS_TRUSTED, "/etc/bind/named.conf.local": LOCAL_ACL,
                        "/etc/bind/recursion.conf": "options { allow-recursion { any; }; };\n"})
    assert eff.judged and open_scopes(eff) == []
    assert eff.notes == ("/etc/bind/recursion.conf is delivered but no named.conf includes it, so BIND does not "
                         "read it (not judged)",)


def test_a_staged_copy_of_a_root_is_not_judged_twice() -> None:
    found = effective({"/etc/bind/named.conf": OPTIONS_OPEN, "/root/backup/named.conf": OPTIONS_OPEN})
    assert [e.root for e in found] == [named.DEBIAN_ROOT]


def test_files_unknown_at_preview_wait_for_up() -> None:
    view = files_view({"/etc/bind/named.conf.local": LOCAL_ACL})
    view.files.append(HostFile(NS, "/etc/bind/named.conf.options", "bind", None, "urn:o",
                               problem="the source is unknown during preview"))
    (eff,) = named.of(view)
    assert not eff.judged and eff.waiting == ("named.conf.options: the source is unknown during preview",)
    # A file of the host whose path is unknown may be its named.conf.options: wait as well.
    view = files_view({"/etc/bind/named.conf.options": OPTIONS_OPEN})
    view.files.append(HostFile(NS, "<unknown path>", "other", None, "urn:x::later", "remotePath is unknown"))
    (eff,) = named.of(view)
    assert eff.waiting and "path unknown during preview" in eff.waiting[0]


def test_bind_files_of_an_unknown_host_make_every_host_wait() -> None:
    view = files_view({"/etc/bind/named.conf.options": OPTIONS_OPEN})
    view.files.append(HostFile("", "/etc/bind/named.conf.local", "bind", LOCAL_VIEW_RESOLVER, "urn:l"))
    assert {bool(e.waiting) for e in named.of(view)} == {True}


def test_views_across_files_take_match_clients_from_the_acl_of_another_file() -> None:
    (eff,) = effective({
        "/etc/bind/named.conf": NAMED_FOR_VIEWS + 'include "/etc/bind/acl.conf";\n',
        "/etc/bind/acl.conf": "acl customers { 203.0.113.0/24; };\n",
        "/etc/bind/named.conf.options": OPTIONS_NO_RECURSION,
        "/etc/bind/named.conf.local": 'view "customers" { match-clients { customers; }; recursion yes; };\n'
                                      'view "world" { match-clients { any; }; };\n'})
    customers, world = bindconf.recursion_scopes(eff.conf, bindconf.AclResolver(eff.conf.acls))
    assert customers.admitted.v4 == ((int(ipaddress.ip_address("203.0.113.0")),
                                      int(ipaddress.ip_address("203.0.113.255"))),)
    assert not world.recursion and world.recursion_stmt.file == "/etc/bind/named.conf.options"
