"""SPF (RFC 7208) parsing, lookup counting and evaluation against the stack's own data.

Not named `spf.py`: pyspf installs a top-level `spf` module that this would shadow.

checkdmarc's and pyspf's evaluators query live DNS; a policy must judge what the stack
will publish, offline. So this module parses the record itself and asks an injected
`lookup(name, rtype) -> list[str] | None` (None = the name is outside what we can see).

Lookup counting follows 4.6.4: `include`, `a`, `mx`, `ptr`, `exists` and the `redirect`
modifier cost one each, whatever their qualifier (`~include:`, `-mx`, `+a`, `?exists:`);
`ip4`, `ip6`, `all` and `exp` cost none. Terms reached through `include`/`redirect`
records we can see are counted too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

LOOKUP_MECHANISMS = {"include", "a", "mx", "ptr", "exists"}
MECHANISMS = LOOKUP_MECHANISMS | {"all", "ip4", "ip6"}
_MACRO = re.compile(r"%(?:\{[slodiphcrtvSLODIPHCRTV]\d*r?[.\-+,/_=]*\}|%|_|-)")
_MODIFIER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.]*$")
_TOPLABEL = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")

Lookup = Callable[[str, str], "list[str] | None"]


@dataclass
class Term:
    text: str
    qualifier: str  # + - ~ ? ("" for modifiers)
    name: str  # mechanism or modifier name, lowercase
    value: str  # domain-spec / network ("" when absent)
    cidr4: int | None = None
    cidr6: int | None = None
    is_modifier: bool = False

    @property
    def costs_lookup(self) -> bool:
        return self.name in LOOKUP_MECHANISMS or (self.is_modifier and self.name == "redirect")


@dataclass
class SpfRecord:
    text: str
    terms: list[Term] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def mechanisms(self) -> list[Term]:
        return [t for t in self.terms if not t.is_modifier]

    @property
    def redirect(self) -> Term | None:
        return next((t for t in self.terms if t.is_modifier and t.name == "redirect"), None)

    @property
    def all_term(self) -> Term | None:
        return next((t for t in self.mechanisms if t.name == "all"), None)


def is_spf(text: str) -> bool:
    """RFC 7208 4.5: 'v=spf1' followed by a space or the end, case-insensitive."""
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _check_domain_spec(spec: str) -> str | None:
    if not spec:
        return "empty domain-spec"
    stripped = _MACRO.sub("", spec)
    if "%" in stripped:
        return f"bad macro in {spec!r}"
    if _MACRO.search(spec):
        return None  # a macro-expand ending is allowed (RFC 7208 7.1)
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2 or not all(labels) or not _TOPLABEL.match(labels[-1]):
        return f"{spec!r} is not a domain name"
    return None


def _cidr(text: str, maximum: int) -> int | None:
    if not text.isdigit() or int(text) > maximum or (len(text) > 1 and text[0] == "0"):
        raise ValueError(f"bad prefix length /{text}")
    return int(text)


def parse(text: str) -> SpfRecord:
    record = SpfRecord(text)
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        record.errors.append("does not start with 'v=spf1'")
        return record
    seen_modifiers: set[str] = set()
    for word in words[1:]:
        try:
            term = _parse_term(word)
        except ValueError as exc:
            record.errors.append(f"{word!r}: {exc}")
            continue
        if term.is_modifier:
            if term.name in ("redirect", "exp") and term.name in seen_modifiers:
                record.errors.append(f"{term.name}= given twice")
            seen_modifiers.add(term.name)
        record.terms.append(term)
    return record


def _parse_term(word: str) -> Term:
    qualifier = "+"
    body = word
    if body[:1] in "+-~?":
        qualifier, body = body[0], body[1:]
    name_match = re.match(r"^([A-Za-z][A-Za-z0-9\-_.]*)", body)
    if not name_match:
        raise ValueError("not a mechanism or modifier")
    name = name_match.group(1).lower()
    rest = body[len(name_match.group(1)):]
    if rest.startswith("=") and name not in MECHANISMS:
        if word[:1] in "+-~?":
            raise ValueError("a modifier takes no qualifier")
        value = rest[1:]
        if name in ("redirect", "exp"):
            problem = _check_domain_spec(value)
            if problem:
                raise ValueError(problem)
        elif not _MODIFIER_NAME.match(name):
            raise ValueError("bad modifier name")
        return Term(word, "", name, value, is_modifier=True)
    if name not in MECHANISMS:
        raise ValueError(f"unknown mechanism '{name}'")
    term = Term(word, qualifier, name, "")
    if name == "all":
        if rest:
            raise ValueError("'all' takes no argument")
        return term
    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            raise ValueError(f"'{name}' needs an address")
        network = rest[1:]
        try:
            parsed = ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"bad {name} network {network!r}") from None
        if (parsed.version == 4) != (name == "ip4"):
            raise ValueError(f"{network!r} is not an {name} network")
        if "/" in network:
            _cidr(network.split("/", 1)[1], 32 if name == "ip4" else 128)
        term.value = network
        return term
    spec, cidr_text = rest, ""
    if name in ("a", "mx"):
        slash = rest.find("/")
        if slash >= 0:
            spec, cidr_text = rest[:slash], rest[slash:]
    if spec.startswith(":"):
        term.value = spec[1:]
        problem = _check_domain_spec(term.value)
        if problem:
            raise ValueError(problem)
    elif spec:
        raise ValueError("unexpected text after the mechanism")
    elif name in ("include", "exists"):
        raise ValueError(f"'{name}' needs a domain")
    if cidr_text:
        v4, _, v6 = cidr_text[1:].partition("//")
        if cidr_text.startswith("//"):
            term.cidr6 = _cidr(cidr_text[2:], 128)
        else:
            term.cidr4 = _cidr(v4, 32)
            if v6:
                term.cidr6 = _cidr(v6, 128)
    return term


# ---------------------------------------------------------------------------------------
# Counting and evaluation over the stack's data


@dataclass
class Count:
    lookups: int = 0
    void_lookups: int = 0
    terms: list[str] = field(default_factory=list)  # "domain: term" for each counted term
    invisible: list[str] = field(default_factory=list)  # include/redirect targets we cannot see
    errors: list[str] = field(default_factory=list)


def spf_records(name: str, lookup: Lookup) -> list[str] | None:
    texts = lookup(name, "TXT")
    if texts is None:
        return None
    return [t for t in texts if is_spf(t)]


def count_lookups(domain: str, text: str, lookup: Lookup, _count: Count | None = None,
                  _seen: set | None = None) -> Count:
    """Every DNS-querying term, following includes and redirects we can see."""
    count = _count or Count()
    seen = _seen if _seen is not None else set()
    if domain in seen:
        count.errors.append(f"loop through {domain}")
        return count
    seen.add(domain)
    record = parse(text)
    for term in record.terms:
        if not term.costs_lookup:
            continue
        count.lookups += 1
        count.terms.append(f"{domain}: {term.text}")
        target = (term.value or domain).rstrip(".").lower()
        if _MACRO.search(target):
            continue
        if term.name in ("a", "mx", "exists"):
            answer = lookup(target, "MX" if term.name == "mx" else "A")
            if answer is not None and not answer and (term.name != "a" or not lookup(target, "AAAA")):
                count.void_lookups += 1
        if term.name == "include" or (term.is_modifier and term.name == "redirect"):
            if term.is_modifier and record.all_term is not None:
                continue  # redirect is ignored when 'all' is present (RFC 7208 6.1)
            nested = spf_records(target, lookup)
            if nested is None:
                count.invisible.append(target)
            elif len(nested) == 1:
                count_lookups(target, nested[0], lookup, count, seen)
            elif not nested:
                count.void_lookups += 1
                count.errors.append(f"{term.text}: {target} publishes no SPF record")
            else:
                count.errors.append(f"{term.text}: {target} publishes {len(nested)} SPF records")
    return count


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, cidr4: int | None,
                cidr6: int | None) -> bool:
    try:
        target = ipaddress.ip_address(host)
    except ValueError:
        return False
    if target.version != address.version:
        return False
    length = (cidr4 if cidr4 is not None else 32) if address.version == 4 else (cidr6 if cidr6 is not None else 128)
    return address in ipaddress.ip_network(f"{target}/{length}", strict=False)


def evaluate(domain: str, address: str, lookup: Lookup) -> str:
    """check_host() for `address` over the stack's data: pass/fail/softfail/neutral/none/
    permerror, or 'unknown' when a term we cannot see decides."""
    ip = ipaddress.ip_address(address)
    try:
        return _check_host(domain, ip, lookup, {"void": 0, "lookups": 0}, 0)
    except _PermError:
        return "permerror"


class _PermError(Exception):
    pass


def _count(state: dict[str, int], answer: list[str] | None) -> None:
    """A DNS-querying term: more than 10 in all, or more than 2 empty answers, is a permerror."""
    state["lookups"] += 1
    if state["lookups"] > 10:
        raise _PermError
    if answer is not None and not answer:
        state["void"] += 1
        if state["void"] > 2:
            raise _PermError


def _check_host(domain: str, ip, lookup: Lookup, state: dict[str, int], depth: int) -> str:
    if depth > 10:
        raise _PermError
    records = spf_records(domain, lookup)
    if records is None:
        return "unknown"
    if not records:
        return "none"
    if len(records) > 1:
        return "permerror"
    record = parse(records[0])
    if record.errors:
        return "permerror"
    family = "A" if ip.version == 4 else "AAAA"
    results = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
    for term in record.mechanisms:
        target = (term.value or domain).rstrip(".").lower()
        if term.name not in ("all", "ip4", "ip6") and _MACRO.search(target):
            return "unknown"
        hit: bool | None
        if term.name == "all":
            hit = True
        elif term.name in ("ip4", "ip6"):
            network = ipaddress.ip_network(term.value, strict=False)
            hit = network.version == ip.version and ip in network
        elif term.name == "a":
            found = lookup(target, family)
            _count(state, found)
            hit = None if found is None else any(_in_network(ip, a, term.cidr4, term.cidr6) for a in found)
        elif term.name == "mx":
            exchanges = lookup(target, "MX")
            _count(state, exchanges)
            hit = None if exchanges is None else False
            for exchange in exchanges or []:
                found = lookup(exchange, family)
                if found is None:
                    hit = hit or None
                elif any(_in_network(ip, a, term.cidr4, term.cidr6) for a in found):
                    hit = True
                    break
        elif term.name == "include":
            _count(state, [target])
            inner = _check_host(target, ip, lookup, state, depth + 1)
            if inner == "unknown":
                hit = None
            elif inner in ("permerror", "none"):
                return "permerror"
            else:
                hit = inner == "pass"
        else:  # ptr, exists: not judged offline
            hit = None
        if hit is None:
            return "unknown"
        if hit:
            return results[term.qualifier]
    redirect = record.redirect
    if redirect is not None:
        _count(state, [redirect.value])
        inner = _check_host(redirect.value.rstrip(".").lower(), ip, lookup, state, depth + 1)
        return "permerror" if inner == "none" else inner
    return "neutral"
