"""One iptables rule specification as the nftables words `iptables-translate` would write.

Options follow iptables(8) and iptables-extensions(8): `-s/-d` (comma lists, `/mask`, `!`,
host names through the caller's resolver), `-p`, `-i/-o` (`+` wildcards), `--dport/--sport`
(`a:b` ranges), multiport `--dports/--sports`, conntrack `--ctstate` and state `--state`,
iprange `--src-range/--dst-range`, set `--match-set NAME src|dst`, and the targets ACCEPT,
DROP, REJECT, RETURN, a user chain (`-j` jump, `-g` goto), DNAT `--to-destination`, SNAT
`--to-source`, MASQUERADE, REDIRECT and NETMAP `--to` (as `snat ip prefix to ip saddr map
{ FROM : TO }` in POSTROUTING/INPUT, `dnat ...` in PREROUTING/OUTPUT).

A match the pack does not model (`-m limit`, `recent`, `mark`, `string`, `--syn`, `-f` ...)
becomes one condition it cannot evaluate, never dropped: an ACCEPT behind it is "may accept".
Options of modules and targets not modelled are read as `--option [values...]` up to the
next option.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from readers.nftconf import Tok

# Built-in chains per table: (nftables hook, priority), as iptables-nft registers them.
BUILTIN: dict[str, dict[str, tuple[str, int]]] = {
    "filter": {"INPUT": ("input", 0), "FORWARD": ("forward", 0), "OUTPUT": ("output", 0)},
    "nat": {"PREROUTING": ("prerouting", -100), "INPUT": ("input", 100), "OUTPUT": ("output", -100),
            "POSTROUTING": ("postrouting", 100)},
    "mangle": {name: (name.lower(), -150) for name in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")},
    "raw": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", -300)},
    "security": {"INPUT": ("input", 50), "FORWARD": ("forward", 50), "OUTPUT": ("output", 50)},
}
_VERDICTS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return", "QUEUE": "queue",
             "NFQUEUE": "queue", "TARPIT": "drop"}
# Targets that do something and let the packet go on to the next rule.
_NON_TERMINAL = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TCPMSS", "TOS", "DSCP", "CLASSIFY", "TTL", "HL",
                 "CT", "NOTRACK", "TRACE", "SET", "AUDIT", "CHECKSUM", "TEE", "LED", "IDLETIMER", "SECMARK",
                 "CONNSECMARK", "HMARK", "TCPOPTSTRIP", "ECN", "RATEEST", "CLUSTERIP"}
_MODELLED_MODULES = {"tcp", "udp", "multiport", "conntrack", "state", "iprange", "set", "comment", "icmp", "icmp6",
                     "sctp"}
_CONNTRACK_OTHER = {"--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst", "--ctorigsrcport",
                    "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport", "--ctstatus", "--ctexpire", "--ctdir"}
_PROTOCOL_OTHER = {"--syn", "--tcp-flags", "--tcp-option", "--icmp-type", "--icmpv6-type", "--ports", "-f",
                   "--fragment"}
_ADDRESS = {"-s": "saddr", "--source": "saddr", "--src": "saddr", "-d": "daddr", "--destination": "daddr",
            "--dst": "daddr"}
_PORTS = {"--dport": "dport", "--destination-port": "dport", "--sport": "sport", "--source-port": "sport",
          "--dports": "dport", "--destination-ports": "dport", "--sports": "sport", "--source-ports": "sport"}


@dataclass(frozen=True)
class Context:
    family: str  # ip / ip6
    table: str
    base: str  # the built-in chain the rule's chain is reached from (NETMAP's direction)
    chains: frozenset[str]  # the table's chains: a target naming one is a jump
    resolve: Callable[[str], list[str] | None] | None = None


def address_set_type(kind: str) -> bool:
    """ipset types whose members are addresses or prefixes (what `--match-set NAME src` compares)."""
    return kind in ("hash:ip", "hash:net", "iphash", "nethash", "bitmap:ip", "ipmap")


def jump_target(spec: tuple[str, ...]) -> str:
    for index, word in enumerate(spec[:-1]):
        if word in ("-j", "--jump", "-g", "--goto"):
            return spec[index + 1]
    return ""


def _word(value: str) -> Tok:
    return Tok("word", value)


def _set(values: list[str]) -> Tok:
    return Tok("set", "", 0, list(values))


def _other(text: str) -> list[Tok]:
    return [_word("?" + text.replace(" ", "_"))]


def rule_words(spec: tuple[str, ...], context: Context) -> tuple[list[Tok], list[str]]:
    """(nftables words, problems) for one rule specification."""
    spec = tuple(spec)
    proto, target, goto = "", "", False
    for index, word in enumerate(spec[:-1]):
        if word in ("-p", "--protocol"):
            proto = spec[index + 1].lower()
        elif word in ("-j", "--jump", "-g", "--goto"):
            target, goto = spec[index + 1], word in ("-g", "--goto")
    words: list[Tok] = []
    problems: list[str] = []
    addresses: dict[str, list[str]] = {}
    options: dict[str, str] = {}
    i, negate = 0, False
    while i < len(spec):
        word = spec[i]
        if word == "!":
            negate, i = True, i + 1
            continue
        name, inline = (word.split("=", 1) + [None])[:2] if word.startswith("--") else (word, None)
        values, j = _values(spec, i, inline)
        if values and values[0] == "!":  # the old `-s ! ADDR` spelling
            negate, values = True, values[1:]
        first = values[0] if values else ""
        op = [_word("!=")] if negate else []
        negate = False
        i = j
        if name in ("-p", "--protocol"):
            if first.lower() not in ("all", "0", ""):
                words += [_word("meta"), _word("l4proto"), *op, _word(first.lower())]
            continue
        if name in _ADDRESS:
            found = _addresses(first, context, problems)
            if not op:
                addresses.setdefault(_ADDRESS[name], []).extend(found)
            words += [_word("ip6" if context.family == "ip6" else "ip"), _word(_ADDRESS[name]), *op, _set(found)]
            continue
        if name in ("-i", "--in-interface", "-o", "--out-interface"):
            words += [_word("iifname" if name in ("-i", "--in-interface") else "oifname"), *op,
                      Tok("string", first.replace("+", "*"))]
            continue
        if name in ("-j", "--jump", "-g", "--goto", "-m", "--match"):
            if name in ("-m", "--match") and first.lower() not in _MODELLED_MODULES:
                words += _other(f"-m {first.lower()}")
            continue
        if name in ("-c", "--set-counters"):
            continue
        if name in _PORTS:
            ports = [_port(p) for p in first.split(",")] if name.endswith("s") else [_port(first)]
            words += [_word(_port_proto(proto)), _word(_PORTS[name]), *op, _set(ports)]
        elif name in ("--state", "--ctstate"):
            states = [s.lower() for s in first.split(",")]
            words += _other(f"{name} {first}") if {"snat", "dnat"} & set(states) else [
                _word("ct"), _word("state"), *op, _set(states)]
        elif name in ("--src-range", "--dst-range"):
            field = "saddr" if name == "--src-range" else "daddr"
            words += [_word("ip6" if context.family == "ip6" else "ip"), _word(field), *op, _set([first])]
        elif name == "--match-set" and len(values) >= 2 and values[1] in ("src", "dst"):
            field = "saddr" if values[1] == "src" else "daddr"
            words += [_word("ip6" if context.family == "ip6" else "ip"), _word(field), *op, _word("@" + first)]
        elif name in ("--match-set", *_CONNTRACK_OTHER, *_PROTOCOL_OTHER) or (name == "--to" and target != "NETMAP"):
            words += _other(" ".join([name, *values]))
        elif name.startswith("-") and not name.startswith("--") and len(name) == 2:
            problems.append(f"option {name} is not understood")
            words += _other(name)
        else:
            options[name] = first  # an option of a target or of a module already counted as unknown
    words += _target(target, goto, options, addresses, context, problems)
    return words, problems


def _values(spec: tuple[str, ...], i: int, inline: str | None) -> tuple[list[str], int]:
    """An option's values: its `=value`, else the words up to the next option."""
    if inline is not None:
        return [inline], i + 1
    j = i + 1
    while j < len(spec) and (not spec[j].startswith("-") or _number(spec[j])) and (spec[j] != "!" or j == i + 1):
        j += 1
    return list(spec[i + 1: j]), j


def _number(text: str) -> bool:
    return text[1:].isdigit() if text.startswith("-") else False


def _addresses(text: str, context: Context, problems: list[str]) -> list[str]:
    out = []
    for item in filter(None, text.split(",")):
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            net = None
        if net is not None:
            if (net.version == 6) != (context.family == "ip6"):
                problems.append(f"{item} is not an {'IPv6' if context.family == 'ip6' else 'IPv4'} address")
                out.append("?" + item)
            else:
                out.append(str(net))
            continue
        found = context.resolve(item) if context.resolve is not None and "$" not in item else None
        wanted = [a for a in found or [] if (":" in a) == (context.family == "ip6")]
        out.extend(wanted or ["?" + item])
    return out or ["?" + text]


def _port(text: str) -> str:
    lo, sep, hi = text.partition(":")
    if not sep:
        return text
    return f"{lo or 0}-{hi or 65535}"


def _port_proto(proto: str) -> str:
    return {"6": "tcp", "17": "udp", "132": "sctp"}.get(proto, proto if proto in ("tcp", "udp", "sctp") else "th")


def _target(target: str, goto: bool, options: dict[str, str], addresses: dict[str, list[str]], context: Context,
            problems: list[str]) -> list[Tok]:
    if not target or target in _NON_TERMINAL:
        return []
    if target in _VERDICTS:
        return [_word(_VERDICTS[target])]
    if target in context.chains and target not in BUILTIN.get(context.table, {}):
        return [_word("goto" if goto else "jump"), _word(target)]
    if target in ("DNAT", "SNAT"):
        to = options.get("--to-destination" if target == "DNAT" else "--to-source", "")
        if not to:
            problems.append(f"{target} without {'--to-destination' if target == 'DNAT' else '--to-source'}")
        return [_word(target.lower()), _word("to"), _word(to or "?")]
    if target in ("MASQUERADE", "REDIRECT"):
        return [_word(target.lower())]
    if target == "NETMAP":
        return _netmap(options.get("--to", ""), addresses, context, problems)
    problems.append(f"target {target} is neither a built-in target nor a chain of table {context.table}")
    return _other(f"-j {target}")


def _netmap(to: str, addresses: dict[str, list[str]], context: Context, problems: list[str]) -> list[Tok]:
    try:
        prefix = str(ipaddress.ip_network(to, strict=False))
    except ValueError:
        problems.append(f"NETMAP --to {to!r} is not a prefix")
        return _other("-j NETMAP")
    source = context.base in ("POSTROUTING", "INPUT")
    field = "saddr" if source else "daddr"
    keys = addresses.get(field) or ["::/0" if context.family == "ip6" else "0.0.0.0/0"]
    family = "ip6" if context.family == "ip6" else "ip"
    return [_word("snat" if source else "dnat"), _word(family), _word("prefix"), _word("to"), _word(family),
            _word(field), _word("map"), _set([f"{key} : {prefix}" for key in keys])]
