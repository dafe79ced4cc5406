"""What an independent receiver reads in our mail-authentication records, written from the RFCs. Pure.

The audit's checks (audit/checks/mailauth.py) and the lab's probes (lab/mailauth_probes.py) judge
with these, never with the stack's own renderers: a record the stack got wrong must fail here.

- tag lists (DKIM RFC 6376 §3.2, DMARC RFC 7489 §6.4, MTA-STS TXT RFC 8461 §3.1, TLS-RPT
  RFC 8460 §3): `tag=value` pairs separated by `;`, whitespace around both ignored;
- the DKIM key record (RFC 6376 §3.6.1): v=DKIM1 first if present, k (default rsa), p (empty:
  revoked);
- the organizational domain (RFC 7489 §3.2) by the public suffix list as the `publicsuffixlist`
  package ships it (offline; nothing is downloaded): `example.co.uk` for `mail.example.co.uk`,
  where the last two labels would make every `.co.uk` domain one organization; names under a
  suffix the list does not know (the lab's `.test`, RFC 2606) take its default rule `*`;
- DMARC identifier alignment (RFC 7489 §3.1) and the verdict (§6.6.2: pass when an aligned
  identifier passes);
- the MTA-STS policy file (RFC 8461 §3.2) and its `mx` patterns against an MX host (§4.1).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from publicsuffixlist import PublicSuffixList

MTA_STS_MODES = ("enforce", "testing", "none")
MTA_STS_MAX_AGE_LIMIT = 31557600  # RFC 8461 §3.2: "up to 31557600" seconds
MTA_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")  # RFC 8461 §3.1 sts-id
_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # RFC 6376 §3.2 tag-name


class RecordError(ValueError):
    """A record or policy a receiver would not accept, said in the RFC's terms."""


def parse_tag_list(text: str) -> dict[str, str]:
    """`v=DKIM1; k=rsa; p=...` -> {tag: value}; a tag given twice is an error (RFC 6376 §3.2)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue  # a trailing ";" is allowed
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not _TAG_NAME.match(name):
            raise RecordError(f"{part.strip()!r} is not tag=value")
        if name in tags:
            raise RecordError(f"tag {name!r} appears twice")
        tags[name] = " ".join(value.split())  # folding whitespace inside a value is not significant
    return tags


@dataclass(frozen=True)
class DkimKey:
    version: str  # "DKIM1" (the default when v= is absent)
    key_type: str  # k=, "rsa" by default (RFC 6376 §3.6.1), "ed25519" (RFC 8463)
    public_key: str  # p= without whitespace; "" means revoked

    @property
    def revoked(self) -> bool:
        return not self.public_key


def parse_dkim_key_record(text: str) -> DkimKey:
    """A DKIM key record (RFC 6376 §3.6.1): v=DKIM1 must come first if present, p= is required,
    an empty p= revokes the key; whitespace inside p= (base64 folded) is not significant."""
    tags = parse_tag_list(text)
    if "v" in tags and (tags["v"] != "DKIM1" or not text.strip().startswith("v")):
        raise RecordError(f"{text[:60]!r}: v=, if present, must be the first tag and DKIM1")
    if "p" not in tags:
        raise RecordError(f"{text[:60]!r}: no p= tag (RFC 6376 §3.6.1: required)")
    return DkimKey(tags.get("v", "DKIM1"), tags.get("k", "rsa").lower(), "".join(tags["p"].split()))


def parse_dmarc_record(text: str) -> dict[str, str]:
    """A DMARC record (RFC 7489 §6.3, §6.4): v=DMARC1 first, then p; defaults adkim=r, aspf=r."""
    tags = parse_tag_list(text)
    if not text.strip().startswith("v") or tags.get("v") != "DMARC1":
        raise RecordError(f"{text!r}: v=DMARC1 must be the first tag")
    if tags.get("p") not in ("none", "quarantine", "reject"):
        raise RecordError(f"{text!r}: p must be none, quarantine or reject, got {tags.get('p')!r}")
    for alignment in ("adkim", "aspf"):
        tags.setdefault(alignment, "r")
        if tags[alignment] not in ("r", "s"):
            raise RecordError(f"{text!r}: {alignment} must be r or s, got {tags[alignment]!r}")
    return tags


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships, read once (about 30 ms)


def organizational_domain(name: str) -> str:
    """RFC 7489 §3.2: the public suffix of `name` plus one label; a public suffix itself stands alone."""
    name = name.lower().rstrip(".")
    return _public_suffixes().privatesuffix(name) or name


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1.1/§3.1.2: strict = the same name; relaxed = the same organizational domain."""
    left, right = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return left == right
    return organizational_domain(left) == organizational_domain(right)


@dataclass(frozen=True)
class DmarcVerdict:
    result: str  # pass | fail
    policy: str  # the p= a receiver applies on fail
    reasons: list[str] = field(default_factory=list)


def dmarc_verdict(*, from_domain: str, record: dict[str, str], dkim_passed_domains: list[str],
                  spf_passed_domain: str | None = None) -> DmarcVerdict:
    """RFC 7489 §6.6.2: pass if a DKIM signature that verified, or SPF, is aligned with From."""
    reasons = []
    for domain in dkim_passed_domains:
        if aligned(domain, from_domain, record["adkim"]):
            reasons.append(f"DKIM d={domain} verified and aligned ({record['adkim']}) with From {from_domain}")
    if spf_passed_domain and aligned(spf_passed_domain, from_domain, record["aspf"]):
        reasons.append(f"SPF passed for {spf_passed_domain}, aligned ({record['aspf']}) with From {from_domain}")
    return DmarcVerdict("pass" if reasons else "fail", record["p"], reasons)


def header_domain(address_header: str) -> str:
    """The domain of the one address in a From header (RFC 5322 §3.6.2; RFC 7489 §6.6.1)."""
    from email.utils import getaddresses

    addresses = [a for _, a in getaddresses([address_header]) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        raise RecordError(f"From {address_header!r} must hold exactly one address (RFC 7489 §6.6.1)")
    return addresses[0].rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class MtaStsPolicy:
    version: str
    mode: str
    max_age: int
    mx: tuple[str, ...]


def parse_mta_sts_policy(text: str) -> MtaStsPolicy:
    """RFC 8461 §3.2: `key: value` lines ended by CRLF or LF; mx repeats; unknown keys are ignored;
    version STSv1, mode enforce|testing|none, max_age 0..31557600; mx required unless mode none."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    for number, line in enumerate(re.split(r"\r?\n", text), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip(" \t")
        if not sep or not key:
            raise RecordError(f"line {number} {line!r} is not `key: value`")
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        elif key in fields:
            raise RecordError(f"line {number}: {key} given twice")
        else:
            fields[key] = value
    if fields.get("version") != "STSv1":
        raise RecordError(f"version must be STSv1, got {fields.get('version')!r}")
    if fields.get("mode") not in MTA_STS_MODES:
        raise RecordError(f"mode must be one of {', '.join(MTA_STS_MODES)}, got {fields.get('mode')!r}")
    age = fields.get("max_age", "")
    if not age.isdigit() or len(age) > 10 or int(age) > MTA_STS_MAX_AGE_LIMIT:
        raise RecordError(f"max_age must be 0..{MTA_STS_MAX_AGE_LIMIT} seconds, got {age!r}")
    if not mx and fields["mode"] != "none":
        raise RecordError(f"mode {fields['mode']} needs at least one mx line")
    return MtaStsPolicy(fields["version"], fields["mode"], int(age), tuple(mx))


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: an exact name, or `*.` matching exactly one leftmost label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, tail = host.partition(".")
        return bool(head) and tail == pattern[2:]
    return pattern == host


def parse_mta_sts_txt(text: str) -> str:
    """`v=STSv1; id=...` (RFC 8461 §3.1) -> the id."""
    tags = parse_tag_list(text)
    if not text.strip().startswith("v") or tags.get("v") != "STSv1":
        raise RecordError(f"{text!r}: v=STSv1 must be the first tag")
    if not MTA_STS_ID.match(tags.get("id", "")):
        raise RecordError(f"{text!r}: id must be 1 to 32 letters and digits")
    return tags["id"]


def parse_tlsrpt_txt(text: str) -> list[str]:
    """`v=TLSRPTv1; rua=<uri>[,<uri>]` (RFC 8460 §3) -> the rua URIs (mailto: or https:)."""
    tags = parse_tag_list(text)
    if not text.strip().startswith("v") or tags.get("v") != "TLSRPTv1":
        raise RecordError(f"{text!r}: v=TLSRPTv1 must be the first tag")
    uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if not uris or not all(u.startswith(("mailto:", "https:")) for u in uris):
        raise RecordError(f"{text!r}: rua must list mailto: or https: URIs")
    return uris
