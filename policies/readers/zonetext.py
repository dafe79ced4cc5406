"""BIND zone files read with dnspython, with `$GENERATE` ranges kept lazy.

dnspython's zone reader supports `$GENERATE` but expands every line into rdata objects: a
customer /16 written as 256 `$GENERATE 0-255 ...` lines would become 65 536 Python objects.
Here `$GENERATE` lines are taken out before dnspython reads the rest and kept as
`GenerateRange`s that answer "which rdata does this owner name get?" by inverting the
owner template (a regular expression over the counter), so a lookup costs one match per
range and reading costs nothing per generated name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone
from values import Rec, norm_name  # noqa: F401 - re-exported for the readers' users


def absolute(name: str, origin: str) -> str:
    """A zone-file owner or target relative to `origin` ('@' = the origin)."""
    name = name.strip()
    if name == "@":
        return origin
    if name.endswith(".") and not name.endswith("\\."):
        return norm_name(name)
    return norm_name(f"{name}.{origin}") if origin else norm_name(name)


# ---------------------------------------------------------------------------------------
# $GENERATE templates

_MODIFIER = re.compile(r"{([+-]?\d+)(?:,(\d+)(?:,([doxXnN]))?)?}")
_NAME_TYPES = {"PTR", "CNAME", "NS", "DNAME"}


@dataclass(frozen=True)
class _Slot:
    offset: int
    width: int
    base: str


def _template_parts(template: str) -> list[str | _Slot]:
    """Split a $GENERATE template into literal text and counter slots (BIND's syntax)."""
    parts: list[str | _Slot] = []
    literal = ""
    i = 0
    while i < len(template):
        c = template[i]
        if c == "\\":
            literal += template[i : i + 2]
            i += 2
        elif c != "$":
            literal += c
            i += 1
        elif template.startswith("$", i + 1):
            literal += "$"
            i += 2
        else:
            i += 1
            slot = _Slot(0, 0, "d")
            if template.startswith("{", i):
                match = _MODIFIER.match(template, i)
                if match is None:
                    raise ValueError(f"invalid $GENERATE modifier in {template!r}")
                slot = _Slot(int(match.group(1)), int(match.group(2) or 0), match.group(3) or "d")
                i = match.end()
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(slot)
    if literal:
        parts.append(literal)
    return parts


def _nibbles(value: int, width: int, upper: bool) -> str:
    digits = "0123456789ABCDEF" if upper else "0123456789abcdef"
    text = ""
    while True:
        text += digits[value & 0xF]
        value >>= 4
        if width > 0:
            width -= 1
        if width > 0 or value != 0:
            text += "."
            if width > 0:
                width -= 1
        if value == 0 and width == 0:
            return text


def _render(parts: list[str | _Slot], counter: int) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = counter + part.offset
        if part.base in "nN":
            out.append(_nibbles(value, part.width, part.base == "N"))
        else:
            out.append(format(value, part.base).zfill(part.width))
    return "".join(out)


_SLOT_PATTERN = {
    "d": r"(-?[0-9]+)",
    "o": r"(-?[0-7]+)",
    "x": r"(-?[0-9a-f]+)",
    "X": r"(-?[0-9A-F]+)",
    "n": r"([0-9a-f](?:\.[0-9a-f])*)",
    "N": r"([0-9A-F](?:\.[0-9A-F])*)",
}


def _slot_value(text: str, slot: _Slot) -> int:
    if slot.base in "nN":
        return int("".join(reversed(text.split("."))), 16) - slot.offset
    return int(text, {"d": 10, "o": 8, "x": 16, "X": 16}[slot.base]) - slot.offset


@dataclass
class GenerateRange:
    """One `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs` line, never expanded."""

    origin: str
    start: int
    stop: int
    step: int
    lhs: str
    rtype: str
    rhs: str
    line: int = 0
    _lhs_parts: list = field(default_factory=list, repr=False)
    _rhs_parts: list = field(default_factory=list, repr=False)
    _owner_pattern: str | None = field(default=None, repr=False)
    _compiled: re.Pattern | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._lhs_parts = _template_parts(self.lhs)
        self._rhs_parts = _template_parts(self.rhs)
        pattern = "".join(
            re.escape(p.lower()) if isinstance(p, str) else _SLOT_PATTERN[p.base.lower() if p.base in "xX" else p.base]
            for p in self._lhs_parts
        )
        self._owner_pattern = pattern + r"\Z" if any(not isinstance(p, str) for p in self._lhs_parts) else None

    @property
    def _owner_re(self) -> re.Pattern | None:
        # Compiled on the first lookup: a stack's thousands of ranges are read, few are ever asked.
        if self._compiled is None and self._owner_pattern is not None:
            self._compiled = re.compile(self._owner_pattern, re.IGNORECASE)
        return self._compiled

    @property
    def count(self) -> int:
        return (self.stop - self.start) // self.step + 1

    def owner(self, counter: int) -> str:
        return absolute(_render(self._lhs_parts, counter), self.origin)

    def value(self, counter: int) -> str:
        text = _render(self._rhs_parts, counter)
        return absolute(text, self.origin) if self.rtype in _NAME_TYPES else text

    def counters_for(self, name: str) -> list[int]:
        """The counters whose owner is `name` (usually zero or one)."""
        name = norm_name(name)
        if self._owner_re is None:
            # No counter in the owner: every step of the range adds a record to the same name.
            return list(range(self.start, self.stop + 1, self.step)) if self.owner(self.start) == name else []
        relative = self._relative(name)
        if relative is None:
            return []
        match = self._owner_re.match(relative)
        if not match:
            return []
        slots = [p for p in self._lhs_parts if not isinstance(p, str)]
        try:
            counter = _slot_value(match.group(1), slots[0])
        except ValueError:
            return []
        if not (self.start <= counter <= self.stop and (counter - self.start) % self.step == 0):
            return []
        # Re-render to confirm every slot (and zero padding) agrees with the name.
        return [counter] if self.owner(counter) == name else []

    def _relative(self, name: str) -> str | None:
        lhs = self.lhs.strip()
        if lhs.endswith("."):
            return name + "."
        if not self.origin:
            return name
        if name == self.origin:
            return "@"
        suffix = "." + self.origin
        return name[: -len(suffix)] if name.endswith(suffix) else None

    def lookup(self, name: str) -> list[Rec]:
        owner = norm_name(name)
        return [Rec(owner, self.rtype, self.value(c)) for c in self.counters_for(owner)]

    def expand(self, limit: int | None = None) -> list[Rec]:
        """Every generated record (for tests and small ranges only)."""
        counters = range(self.start, self.stop + 1, self.step)
        if limit is not None:
            counters = counters[:limit]
        return [Rec(self.owner(c), self.rtype, self.value(c)) for c in counters]


# ---------------------------------------------------------------------------------------
# Zone files


@dataclass
class ZoneFile:
    origin: str
    records: list[Rec] = field(default_factory=list)
    ranges: list[GenerateRange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _strip_comment(line: str) -> str:
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out)


def _parse_generate(words: list[str], origin: str, line: int) -> GenerateRange:
    # $GENERATE range lhs [ttl] [class] type rhs
    if len(words) < 4:
        raise ValueError("$GENERATE needs a range, an owner, a type and data")
    rng, lhs, rest = words[0], words[1], words[2:]
    start_stop, _, step = rng.partition("/")
    start, _, stop = start_stop.partition("-")
    start_i, stop_i, step_i = int(start), int(stop), int(step or 1)
    if start_i < 0 or stop_i < start_i or step_i < 1:
        raise ValueError(f"bad $GENERATE range {rng!r}")
    while rest and (rest[0][:1].isdigit() or rest[0].upper() in ("IN", "CH", "HS")):
        rest = rest[1:]  # ttl and class
    if len(rest) < 2:
        raise ValueError("$GENERATE needs a type and data")
    rtype = rest[0].upper()
    dns.rdatatype.from_text(rtype)
    return GenerateRange(origin, start_i, stop_i, step_i, lhs, rtype, " ".join(rest[1:]), line)


def split_generate(text: str, origin: str) -> tuple[str, list[GenerateRange], list[str]]:
    """Take `$GENERATE` (and `$INCLUDE`) lines out, keeping line numbers; track `$ORIGIN`."""
    ranges: list[GenerateRange] = []
    problems: list[str] = []
    current = origin
    depth = 0
    out_lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        code = _strip_comment(raw)
        words = code.split()
        if depth == 0 and words and words[0].upper() == "$ORIGIN" and len(words) > 1:
            current = absolute(words[1], current)
        if depth == 0 and words and words[0].upper() == "$GENERATE":
            try:
                ranges.append(_parse_generate(words[1:], current, number))
            except (ValueError, dns.exception.DNSException) as exc:
                problems.append(f"line {number}: {exc}")
            out_lines.append("")
            continue
        if depth == 0 and words and words[0].upper() == "$INCLUDE":
            problems.append(f"line {number}: $INCLUDE {' '.join(words[1:2])} is not followed")
            out_lines.append("")
            continue
        depth = max(0, depth + code.count("(") - code.count(")"))
        out_lines.append(raw)
    return "\n".join(out_lines) + "\n", ranges, problems


def _rec_from(name: dns.name.Name, rdtype: int, rdata) -> Rec:
    owner = norm_name(name.to_text())
    rtype = dns.rdatatype.to_text(rdtype)
    if rtype in ("TXT", "SPF"):
        return Rec(owner, rtype, b"".join(rdata.strings).decode("utf-8", "replace"))
    if rtype == "MX":
        return Rec(owner, rtype, norm_name(rdata.exchange.to_text()), int(rdata.preference))
    if rtype in _NAME_TYPES:
        return Rec(owner, rtype, norm_name(rdata.target.to_text()))
    return Rec(owner, rtype, rdata.to_text())


def read_zone(text: str, origin: str) -> ZoneFile:
    """Parse a zone file; problems (syntax, $INCLUDE) are reported, never raised."""
    origin = norm_name(origin)
    zone_file = ZoneFile(origin)
    body, zone_file.ranges, zone_file.problems = split_generate(text, origin)
    try:
        zone = dns.zone.from_text(body, origin + ".", relativize=False, check_origin=False)
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        zone_file.problems.append(f"zone {origin}: {exc}")
        return zone_file
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            for rdata in rdataset:
                zone_file.records.append(_rec_from(name, rdataset.rdtype, rdata))
    return zone_file


_ORIGIN_RE = re.compile(r"^\s*\$ORIGIN\s+(\S+)", re.IGNORECASE)


def origin_from_text(text: str) -> str | None:
    """The `$ORIGIN` given before the first record, if any."""
    for raw in text.splitlines():
        code = _strip_comment(raw).strip()
        if not code:
            continue
        match = _ORIGIN_RE.match(code)
        if match and match.group(1).endswith("."):
            return norm_name(match.group(1))
        if not code.startswith("$"):
            return None
    return None


_STAGING_SUFFIXES = (".new", ".tmp", ".staged")


def origin_from_filename(basename: str) -> str | None:
    """`db.example.net` / `example.net.zone` -> example.net; `db.192.0.2` -> 2.0.192.in-addr.arpa."""
    name = basename
    for suffix in _STAGING_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.startswith("db."):
        name = name[3:]
    elif name.endswith(".zone"):
        name = name[:-5]
    else:
        return None
    name = norm_name(name)
    labels = name.split(".")
    if name and all(label.isdigit() and int(label) < 256 for label in labels) and len(labels) <= 3:
        return ".".join(reversed(labels)) + ".in-addr.arpa"
    return name or None


def is_zone_file_name(basename: str) -> bool:
    name = basename
    for suffix in _STAGING_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return (name.startswith("db.") and len(name) > 3) or (name.endswith(".zone") and len(name) > 5)
