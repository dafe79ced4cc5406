"""Hostile values for the renderer fuzz, built from each file format's own metacharacters.

A value is a benign seed (a host name, a path, an address...) with fragments spliced in
before, after or inside it, or a fragment alone, or a very long or non-text value. The
fragments come from the target format's grammar (what ends a statement, opens a block,
quotes, comments, expands a variable, continues a line), from the characters other
programs treat as line ends (U+2028, U+0085, \\v, \\f, \\x1c-\\x1e), lone surrogates and NUL,
and from the lenient corners of Python's `ipaddress` (scope ids, netmasks, zero padding,
IPv4-mapped IPv6). Addresses also come as ipaddress objects, scope ids included.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

# What other programs (and Python's str.splitlines) take for a line end, and other traps.
LINE_ENDS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
TRAPS = ["\x00", "\t", " ", "\ud800", "\udfff", "\ufeff", "\u200b", "é", "\u212a", "\u0130", "１", "\u0661", "ß", "\\"]

# Per format: the characters and words its grammar gives meaning to, and whole payloads an
# attacker would write from the daemon's manual.
META: dict[str, list[str]] = {
    "bind": [";", "{", "}", '"', "#", "//", "/*", "*/", "!", " ", "any", "none", "key", "include"],
    "zone": ["(", ")", ";", "$", "@", "\\", '"', " ", "\t", "$INCLUDE", "$GENERATE", "$ORIGIN", "$TTL", "\\059"],
    "postfix": ["$", ",", "=", "#", "{", "}", " ", "\n ", "\n\t", "${x}", "$(x)", "-o", "\\"],
    "master": ["-o", "{", "}", " ", "\n  ", "=", ",", "$", "#"],
    "dovecot": ["=", "{", "}", "#", "<", "!", '"', "'", "$", "%{", "%u", " ", "\\"],
    "nginx": [";", "{", "}", "$", "'", '"', "#", "\\", " ", "${x}", "$request_uri"],
    "nft": ["{", "}", ",", ";", "#", '"', "@", "$", " ", "\\", "define", "accept", "-", "/"],
    "yaml": ["'", '"', "\\", ":", ": ", "#", " #", "- ", "[", "]", "{", "}", "&a", "*a", "!!python/none", "|", ">", "%",
             "? ", "---", "..."],
    "php": ["'", '"', "\\", "?>", "<?php", "<?=", "$", "{", "}", "`", "//", "/*", "#", ";"],
    "systemd": ["%", "%n", "%h", "%%", "\\", "$", "${X}", ";", "#", "[", "]", "=", " ", "\\\n", "+", "-", "@", "!"],
    "shell": ["'", '"', "$", "`", "\\", ";", "&", "|", "<", ">", "(", ")", "{", "}", "*", "?", "[", "]", "~", "!",
              "#", " ", "$(id)", "${IFS}", "&&", "\\'"],
    "ini": ["=", ":", "#", ";", "[", "]", " ", "\\", "\\\n"],
    "argv": [" ", "'", '"', "$", "-", "--", "$1", "\\"],
}
PAYLOADS: dict[str, list[str]] = {
    "bind": ['; }; zone "evil.example" { type primary; file "evil.db"; }; acl "y" { none',
             "; any", "%0; any", '" ; allow-query { any; }; "', "/* x */", "// x"],
    "zone": ["\n@ IN NS evil.example.", " ; comment", " ( 1 2 3 )", "\n$INCLUDE /etc/shadow",
             "\n$GENERATE 1-9 $ A 192.0.2.$", "\n$ORIGIN evil.example.", '" "', "\\032"],
    "postfix": ["\nmynetworks = 0.0.0.0/0", "\n relay_domains = *", ", 0.0.0.0/0", " 0.0.0.0/0",
                "\nsmtpd_recipient_restrictions = permit", "${mynetworks}", "$myhostname"],
    "master": ["\n  -o smtpd_client_restrictions=permit", " -o smtpd_sasl_auth_enable=no",
               "\nevil inet n - y - - smtpd"],
    "dovecot": ["\nmail_location = mbox:~/mail", "\n!include /etc/shadow", " }\npassdb {\n  driver = static\n}",
                "\n}\nservice x {", "<", "%{env:HOME}"],
    "nginx": ["; } server { listen 8080; root /; } server { listen 1", "; autoindex on", " ", "${x}",
              "; include /etc/nginx/*.conf"],
    "nft": [", 0.0.0.0/0", " } ; add rule inet filter input accept ; set x { type ipv4_addr", '" accept "',
            "\ntable inet evil { }", "#"],
    "yaml": ["\nlimits: []", "\nlimit_by_sasl: False", '"\nlimits: [] #', "'\nlimits: []", ": x", "\n  - [1, 1]"],
    "php": ["'; system('id'); //", "\\'; system('id'); //", "?><?php system('id'); ?>", "\\", "\\\\'"],
    "systemd": ["\nExecStartPre=/bin/sh -c id", "\n[Service]\nUser=root", " %n", "\\\nUser=root", ";id"],
    "shell": ["'; id; '", "$(id)", "`id`", "\nid\n", "' ; rm -rf / ; '", '"; id; "', "${IFS}id"],
    "ini": ["\ndns_cloudflare_api_key = x", "[x]"],
    "argv": [" -o ProxyCommand=id", "'", "--", "$(id)"],
}

# ipaddress's lenient spellings: each parses, none is canonical text.
LENIENT_V4 = ["10.20.0.0/255.255.255.0", "10.20.0.0/0.0.0.255", "10.20.0.0/024", "10.20.0.1/24", "010.20.0.1",
              "10.20.0.0/24/", "10.20.0.0 /24", "10.20.0.0/+24", "10.20.0.0/2_4", "10.20.0.0/２４"]
LENIENT_V6 = ["2001:DB8::1", "2001:db8:0:0:0:0:0:1", "::ffff:10.20.0.1", "::10.20.0.1", "2001:db8::1%0",
              "fe80::1%eth0", "2001:db8::%1/64", "2001:db8::/048", "2001:db8::/ffff::", "[2001:db8::1]",
              "2001:0db8::1", "::", "2001:db8::1/128"]


def fragments(fmt: str) -> st.SearchStrategy[str]:
    """Short strings made of `fmt`'s metacharacters, line ends and traps, or a known payload."""
    alphabet = META.get(fmt, []) + LINE_ENDS + TRAPS + ["a", "0", ".", "-", "/"]
    return st.one_of(
        st.lists(st.sampled_from(alphabet), min_size=1, max_size=6).map("".join),
        st.sampled_from(PAYLOADS.get(fmt, []) + LINE_ENDS + TRAPS),
        st.text(min_size=1, max_size=12),
    )


def spliced(seed: str, fmt: str) -> st.SearchStrategy[str]:
    """`seed` with a fragment before, after or inside it, or replaced by it."""
    frag = fragments(fmt)
    return st.one_of(
        frag,
        frag.map(lambda f: seed + f),
        frag.map(lambda f: f + seed),
        st.tuples(st.integers(0, len(seed)), frag).map(lambda t: seed[: t[0]] + t[1] + seed[t[0]:]),
        frag.map(lambda f: seed + "%" + f),  # an IPv6 scope id carries anything after '%'
    )


def long_values(seed: str) -> st.SearchStrategy[str]:
    """Very long values: repeated labels or path parts, and one huge label."""
    return st.one_of(
        st.integers(2, 400).map(lambda n: ".".join(["a" * 63] * n) + "." + seed),
        st.integers(64, 5000).map(lambda n: "a" * n + "." + seed),
        st.integers(100, 3000).map(lambda n: seed + "/x" * n),
    )


# Valid but unusual spellings: the values a renderer accepts are the ones whose rendering must
# be read back alike, so they should be more than the benign seeds.
_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
VALID_FQDN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=4),
    st.from_regex(r"[a-z](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
).filter(lambda name: len(name) <= 253)
VALID_PATH = st.lists(st.from_regex(r"[A-Za-z0-9._+@-]{1,40}", fullmatch=True).filter(lambda p: p not in (".", "..")),
                      min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))


def _network_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address, length: int) -> str:
    return str(ipaddress.ip_network(f"{address}/{min(length, address.max_prefixlen)}", strict=False))


VALID_ADDRESS = st.ip_addresses().map(str)
VALID_NETWORK = st.builds(_network_text, st.ip_addresses(), st.integers(0, 128))


def valid_like(seed: str) -> st.SearchStrategy[str]:
    """Valid values of the seed's kind (a path, a host name, an address), as far as it can tell."""
    if seed.startswith("/"):
        return VALID_PATH
    try:
        ipaddress.ip_network(seed, strict=False)
        return st.one_of(VALID_ADDRESS, VALID_NETWORK)
    except ValueError:
        pass
    if re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", seed):
        return VALID_FQDN
    return st.just(seed)


NON_TEXT = st.sampled_from(
    [None, 0, 1, -1, 1.5, True, b"\n10.0.0.1", b"\x0a\x14\x00\x01", ["x"], {"a": 1}, (), object()]
)


def text_values(seeds: list[str], fmt: str) -> st.SearchStrategy[Any]:
    """A value for a text parameter whose benign spellings are `seeds`."""
    seed = st.sampled_from([s for s in seeds if isinstance(s, str)])
    return st.one_of(
        seed.flatmap(lambda s: spliced(s, fmt)),
        seed.map(str.upper),
        seed.flatmap(long_values),
        seed,
        seed.flatmap(valid_like),
        NON_TEXT,
    )


def _scoped_address(base: str) -> Callable[[str], Any]:
    def build(scope: str) -> Any:
        try:
            return ipaddress.ip_address(f"{base}%{scope}")
        except ValueError:
            return ipaddress.ip_address(base)
    return build


def _scoped_network(base: str, length: int) -> Callable[[str], Any]:
    def build(scope: str) -> Any:
        try:
            return ipaddress.ip_network(f"{base}%{scope}/{length}")
        except ValueError:
            return ipaddress.ip_network(f"{base}/{length}")
    return build


def address_objects(fmt: str, version: int | None) -> st.SearchStrategy[Any]:
    """ipaddress objects, many with an IPv6 scope id carrying the format's metacharacters."""
    scope = fragments(fmt).filter(lambda s: "%" not in s and "/" not in s)
    v6 = st.one_of(
        scope.map(_scoped_address("2001:db8::1")),
        scope.map(_scoped_network("2001:db8::", 64)),
        st.just(ipaddress.ip_address("2001:db8::25")),
        st.just(ipaddress.ip_network("2001:db8:1::/48")),
    )
    v4 = st.sampled_from([ipaddress.ip_address("10.20.0.7"), ipaddress.ip_network("10.20.0.0/24"),
                          ipaddress.ip_network("203.0.113.0/25"), ipaddress.ip_address("198.51.100.9")])
    if version == 4:
        return st.one_of(v4, v6)  # a v6 object where a v4 one belongs must be refused too
    return st.one_of(v6, v4)


def address_values(seeds: list[str], fmt: str, version: int | None = None) -> st.SearchStrategy[Any]:
    """A value for an address or network parameter: text (hostile or lenient) or an object."""
    lenient = LENIENT_V4 + LENIENT_V6
    return st.one_of(
        text_values(seeds, fmt),
        st.sampled_from(lenient),
        address_objects(fmt, version),
    )


def int_values(seeds: list[int]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(seeds),
        st.integers(-(2**70), 2**70),
        st.integers(0, 70000),
        st.booleans(),
        st.floats(allow_nan=True),
        st.sampled_from([str(s) for s in seeds] + [f" {seeds[0]}\n", "1_0", "\u0661", None]),
    )
