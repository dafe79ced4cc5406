"""DMARC policy records (RFC 7489), read as a receiver reads them: text in, the policy out.

A receiver looks up TXT at `_dmarc.<domain>`, discards every record that does not start with
`v=DMARC1` (§6.6.3 step 2: the version tag MUST be first, §6.3), and applies no DMARC at all
when more than one record is left (§6.6.3 step 5). Tags are `name=value` separated by `;`
(§6.4); tag names and the policy words are case-insensitive, `DMARC1` is not. `p` is required;
`sp` is the policy for subdomains that have no record of their own (§6.3, §6.6.3 step 3);
`pct` (default 100) is the share of failing mail the policy applies to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "_dmarc"
POLICIES = ("none", "quarantine", "reject")
_VERSION = re.compile(r"^v\s*=\s*DMARC1\s*(;|$)")


def is_dmarc(text: str) -> bool:
    """A record a receiver keeps (RFC 7489 §6.6.3 step 2): `v=DMARC1` first, exactly so spelt."""
    return _VERSION.match(text.strip()) is not None


def record_name(domain: str) -> str:
    """Where the policy of `domain` is published (RFC 7489 §6.1)."""
    return f"{PREFIX}.{domain}"


@dataclass(frozen=True)
class DmarcRecord:
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    @property
    def policy(self) -> str | None:
        """`p`, lowercase, when it names a policy; None when absent or invalid."""
        value = self.tags.get("p", "").lower()
        return value if value in POLICIES else None

    @property
    def subdomain_policy(self) -> str | None:
        """`sp` when valid, else `p` (RFC 7489 §6.3: sp absent means p applies to subdomains too)."""
        value = self.tags.get("sp", "").lower()
        return value if value in POLICIES else self.policy

    @property
    def percent(self) -> int | None:
        """`pct` (default 100); None when it is not an integer from 0 to 100."""
        value = self.tags.get("pct", "100")
        return int(value) if value.isdigit() and int(value) <= 100 else None


def parse(text: str) -> DmarcRecord:
    """The tags of one record; what a receiver would reject is listed in `errors`."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    if not is_dmarc(text):
        errors.append("does not start with 'v=DMARC1'")
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or not name:
            errors.append(f"{part!r} is not a tag=value pair")
            continue
        tags.setdefault(name, value.strip())
    record = DmarcRecord(text, tags, ())
    if "p" not in tags:
        errors.append("has no p= tag")
    elif record.policy is None:
        errors.append(f"p={tags['p']} is not none, quarantine or reject")
    if record.percent is None:
        errors.append(f"pct={tags['pct']} is not a whole number from 0 to 100")
    return DmarcRecord(text, tags, tuple(errors))
