"""DKIM key records (RFC 6376 §3.6.1), read as a verifier reads them: text in, the key out.

A verifier looks up TXT at `<selector>._domainkey.<domain>` (§3.6.2.1) and reads a tag list
(§3.2): `name=value` separated by `;`, whitespace around both allowed, tag names and values
case-sensitive, a tag given twice makes the whole record invalid. `v` is optional but, when
present, MUST be first and exactly `DKIM1`; `k` is the key type (default `rsa`; `ed25519`, RFC
8463); `p` is required and is the base64 public key (whitespace inside it ignored, §3.6.1); an
empty `p` means the key was revoked. `h` lists acceptable hash algorithms, `t` flags (`y`
testing, `s` no subdomains). Unknown tags are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

PREFIX = "_domainkey"
KEY_TYPES = ("rsa", "ed25519")


def record_name(selector: str, domain: str) -> str:
    """Where a selector's key is published (RFC 6376 §3.6.2.1)."""
    return f"{selector}.{PREFIX}.{domain}"


def is_dkim(text: str) -> bool:
    """A record that claims to be a DKIM key: `v=DKIM1` first, or a `p=` tag with no other version."""
    head = text.strip()
    if re.match(r"^v\s*=", head):
        return re.match(r"^v\s*=\s*DKIM1\s*(;|$)", head) is not None
    return re.search(r"(^|;)\s*p\s*=", head) is not None


@dataclass(frozen=True)
class DkimKey:
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    @property
    def key_type(self) -> str:
        return self.tags.get("k", "rsa")

    @property
    def public_key(self) -> str:
        """`p` with whitespace removed (RFC 6376 §3.6.1: FWS may appear in the base64)."""
        return re.sub(r"\s+", "", self.tags.get("p", ""))

    @property
    def revoked(self) -> bool:
        return "p" in self.tags and not self.public_key

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.tags.get("t", "").split(":") if f.strip())

    @property
    def hash_algorithms(self) -> tuple[str, ...]:
        return tuple(h.strip() for h in self.tags.get("h", "").split(":") if h.strip())

    def key_bytes(self) -> bytes | None:
        """The decoded `p`, None when it is not base64."""
        try:
            return base64.b64decode(self.public_key, validate=True)
        except (binascii.Error, ValueError):
            return None


def parse(text: str) -> DkimKey:
    tags: dict[str, str] = {}
    errors: list[str] = []
    parts = [p.strip() for p in text.split(";")]
    for index, part in enumerate(parts):
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            errors.append(f"{part[:40]!r} is not a tag=value pair")
            continue
        if name in tags:
            errors.append(f"the tag {name} appears twice (RFC 6376 §3.2: the record is invalid)")
            continue
        if name == "v" and any(p for p in parts[:index]):
            errors.append("v= is not the first tag (RFC 6376 §3.6.1)")
        tags[name] = value.strip()
    if "v" in tags and tags["v"] != "DKIM1":
        errors.append(f"v={tags['v']} is not DKIM1")
    if "p" not in tags:
        errors.append("has no p= tag (RFC 6376 §3.6.1: required)")
    record = DkimKey(text, tags, ())
    if record.public_key and record.key_bytes() is None:
        errors.append("p= is not base64")
    return DkimKey(text, tags, tuple(errors))
