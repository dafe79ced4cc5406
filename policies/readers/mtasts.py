"""MTA-STS (RFC 8461) read as a sending MTA reads it: the `_mta-sts` TXT record and the policy file.

The TXT record (§3.1): `v=STSv1` first, then `;`-separated fields, `id=` 1 to 32 letters and
digits (required), extensions `name=value` (name: a letter or digit then up to 31 of letters,
digits, `_`, `-`, `.`; value: visible characters but `;` and `=`). Records that do not begin
with `v=STSv1;` are discarded; when not exactly one is left, or it is invalid, the sender
assumes no MTA-STS policy (§3.1).

The policy file (§3.2): `key: value` lines ended by CRLF or LF; `version: STSv1`, `mode:
enforce|testing|none`, `max_age` (0..31557600 seconds, at most 10 digits), one `mx:` line per
pattern (`mail.example.net`, or `*.example.net`, whose `*` is one whole left-most label,
§4.1). Field names and the keywords are case-sensitive (`%s` in the ABNF); unknown fields
MUST be ignored. For a repeated field other than `mx` the first one is taken. Errors are
facts (`errors`), never exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TXT_PREFIX = "_mta-sts"
POLICY_LABEL = "mta-sts"
WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"
VERSION = "STSv1"
MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600  # §3.2: about one year
ID_MAX = 32

_EXT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"
_TXT_FIELD = re.compile(rf"^(?P<name>{_EXT_NAME})=(?P<value>[\x21-\x3a\x3c\x3e-\x7e]+)$")
_ID = re.compile(rf"^[A-Za-z0-9]{{1,{ID_MAX}}}$")
_POLICY_LINE = re.compile(rf"^(?P<name>{_EXT_NAME}):[ \t]*(?P<value>.*?)[ \t]*$")
# An mx pattern: a domain (letters, digits, hyphens; dot-separated labels), optionally `*.` before it.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MX = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})+\.?$")


def txt_name(domain: str) -> str:
    """Where the TXT record of `domain` is published (§3.1)."""
    return f"{TXT_PREFIX}.{domain}"


def policy_host(domain: str) -> str:
    """The host the policy is fetched from, over HTTPS (§3.3)."""
    return f"{POLICY_LABEL}.{domain}"


def is_sts(text: str) -> bool:
    """A record the sender keeps (§3.1): it begins with `v=STSv1;`, exactly so spelt."""
    return re.match(r"^v=STSv1[ \t]*;", text.strip()) is not None


@dataclass(frozen=True)
class StsRecord:
    text: str
    id: str | None
    extensions: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()


def parse_txt(text: str) -> StsRecord:
    """One `_mta-sts` TXT record; what makes senders discard it in `errors`."""
    text = text.strip()
    errors: list[str] = []
    if not is_sts(text):
        errors.append("does not begin with 'v=STSv1;'")
    parts = [p.strip(" \t") for p in text.split(";")]
    record_id: str | None = None
    extensions: list[tuple[str, str]] = []
    for index, part in enumerate(parts[1:], start=1):
        if not part:
            if index != len(parts) - 1:  # only one final ';' is allowed
                errors.append("has an empty field (';;')")
            continue
        if part.startswith("id="):
            value = part[3:]
            if record_id is not None:
                errors.append("has more than one id=")
            elif not _ID.match(value):
                errors.append(f"id={value} is not 1 to {ID_MAX} letters and digits")
            else:
                record_id = value
            continue
        match = _TXT_FIELD.match(part)
        if match is None:
            errors.append(f"{part!r} is not a field (name=value)")
        else:
            extensions.append((match["name"], match["value"]))
    if record_id is None and not any(e.startswith(("id=", "has more")) for e in errors):
        errors.append("has no id=")
    return StsRecord(text, record_id, tuple(extensions), tuple(errors))


def mx_matches(pattern: str, host: str) -> bool:
    """§4.1: an exact name matches itself; `*.example.net` matches one more left-most label only
    (mail.example.net, not example.net nor a.b.example.net). Case and a final dot do not count."""
    pattern = pattern.strip().rstrip(".").lower()
    host = host.strip().rstrip(".").lower()
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return pattern == host


@dataclass(frozen=True)
class Policy:
    text: str
    version: str | None
    mode: str | None
    max_age: int | None
    mx: tuple[str, ...]
    errors: tuple[str, ...] = ()

    def allows(self, host: str) -> bool:
        return any(mx_matches(pattern, host) for pattern in self.mx)


def parse_policy(text: str) -> Policy:
    """The policy file; what makes it invalid for senders in `errors`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]  # the final line break
    found: dict[str, str] = {}
    mx: list[str] = []
    errors: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw  # CRLF or LF (§3.2 sts-policy-term-delim)
        if not line.strip():
            continue
        match = _POLICY_LINE.match(line)
        if match is None:
            errors.append(f"line {number} {line!r} is not 'key: value'")
            continue
        name, value = match["name"], match["value"]
        if name == "mx":
            if _MX.match(value):
                mx.append(value.rstrip(".").lower())
            else:
                errors.append(f"line {number}: mx: {value} is not a host name or '*.' and a domain")
        else:
            found.setdefault(name, value)  # unknown fields are ignored (§3.2)
    version, mode, age = found.get("version"), found.get("mode"), found.get("max_age")
    if version != VERSION:
        errors.append("has no 'version: STSv1'" if version is None else f"version: {version} is not STSv1")
    if mode not in MODES:
        errors.append("has no mode:" if mode is None else f"mode: {mode} is not enforce, testing or none")
    max_age = int(age) if age is not None and age.isascii() and age.isdigit() and len(age) <= 10 else None
    if max_age is None or max_age > MAX_AGE_LIMIT:
        errors.append("has no max_age:" if age is None else f"max_age: {age} is not 0 to {MAX_AGE_LIMIT} seconds")
        max_age = None
    if mode in ("enforce", "testing") and not mx:
        errors.append(f"mode {mode} lists no mx: (no MX host can match it)")
    return Policy(text, version, mode if mode in MODES else None, max_age, tuple(mx), tuple(errors))
