"""The mass-change guard: a preview against state that would delete or replace too many of the stack's DNS
records and zone files is refused unless the run allows it.

It is octoDNS's safety threshold (octodns/provider/plan.py: Plan.raise_if_unsafe, MAX_SAFE_UPDATE_PCENT /
MAX_SAFE_DELETE_PCENT = 0.3, MIN_EXISTING_RECORDS = 10, TooMuchChange "..., force required"), applied to
a Pulumi stack: the share of the DNS records and zone files in the prior state that the steps delete or
replace (a replacement deletes the record too, for a moment or for good) against `preflight:massChangePercent`
(default 30), once more than `preflight:massChangeMinimum` (default 10) of them exist. octoDNS's updates
in place are not counted: they are what a preview shows resource by resource. octoDNS checks at least
MIN_EXISTING_RECORDS; here, as the issue states it, more than the minimum.

DNS records are resources of the record types of common DNS providers (RECORD_TYPES). A zone file is a
copy whose content holds an SOA record: a `command:local:Command` whose `stdin` is the file (how
components/delivery.py copies to a local host) or a `command:remote:CopyToRemote` whose source is a text
asset (preflight/hostfiles.py reads the same inputs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from preflight.model import ASSET_SIG, SECRET_TEXT, SIG_KEY, is_secret
from preflight.stackconfig import PLACEHOLDER_PREFIX

if TYPE_CHECKING:
    from preflight.state import Checkpoint, PriorResource
    from preflight.steps import Step

PERCENT_KEY = "preflight:massChangePercent"
MINIMUM_KEY = "preflight:massChangeMinimum"
DEFAULT_PERCENT = 30.0
DEFAULT_MINIMUM = 10
SHOWN = 10  # names in the message

# Record resources of DNS providers' Pulumi packages (type tokens as their SDKs register them).
RECORD_TYPES: dict[str, str] = {
    "cloudflare:index/dnsRecord:DnsRecord": "Cloudflare (v5+)",
    "cloudflare:index/record:Record": "Cloudflare (v4 and earlier)",
    "aws:route53/record:Record": "AWS Route 53",
    "gcp:dns/recordSet:RecordSet": "Google Cloud DNS",
    "azure-native:network:RecordSet": "Azure DNS (native)",
    "azure:dns/aRecord:ARecord": "Azure DNS",
    "azure:dns/aaaaRecord:AaaaRecord": "Azure DNS",
    "azure:dns/caaRecord:CaaRecord": "Azure DNS",
    "azure:dns/cnameRecord:CnameRecord": "Azure DNS",
    "azure:dns/mxRecord:MxRecord": "Azure DNS",
    "azure:dns/nsRecord:NsRecord": "Azure DNS",
    "azure:dns/ptrRecord:PtrRecord": "Azure DNS",
    "azure:dns/srvRecord:SrvRecord": "Azure DNS",
    "azure:dns/txtRecord:TxtRecord": "Azure DNS",
    "digitalocean:index/dnsRecord:DnsRecord": "DigitalOcean",
    "linode:index/domainRecord:DomainRecord": "Linode",
    "ns1:index/record:Record": "NS1",
    "dnsimple:index/zoneRecord:ZoneRecord": "DNSimple",
    "vultr:index/dnsRecord:DnsRecord": "Vultr",
}
LOCAL_COMMAND_TYPE = "command:local:Command"
COPY_TO_REMOTE_TYPE = "command:remote:CopyToRemote"
# An SOA resource record of a master file (RFC 1035 5.1): owner (or blank), then TTL and class in either
# order, then the type. A TXT record mentioning "SOA" in its text does not match.
_SOA_RECORD = re.compile(r"^(?:[^\s;]+)?(?:[ \t]+(?:\d+[smhdwSMHDW]?|IN|CH|HS|CS)){0,2}[ \t]+SOA(?:[ \t(]|$)",
                         re.MULTILINE | re.IGNORECASE)


class GuardConfigError(ValueError):
    """A mass-change setting in the stack config that is not usable; `str()` names the key and the rule."""


@dataclass(frozen=True)
class GuardResult:
    deleted: int  # DNS records and zone files of the prior state the steps delete
    replaced: int  # ... and replace
    existing: int  # DNS records and zone files in the prior state
    percent: float  # (deleted + replaced) / existing, in percent (0 when none exist)
    threshold: float  # percent allowed
    minimum: int  # the guard looks at a stack with more than this many
    first: tuple[str, ...]  # URNs of the first deleted or replaced ones (up to SHOWN)
    fired: bool  # refused: the run must exit 1
    overridden: bool  # would have fired; the run allowed it (--allow-mass-change)

    @property
    def changed(self) -> int:
        return self.deleted + self.replaced

    @property
    def status(self) -> str:
        return "fired" if self.fired else "overridden" if self.overridden else "ok"

    def message(self) -> str:
        """octoDNS's TooMuchChange wording, then the first names."""
        if not (self.fired or self.overridden):
            counted = (f"{self.changed} of {self.existing} DNS records and zone files deleted or replaced "
                       f"({self.percent:.2f}%)")
            if self.existing <= self.minimum:
                return f"{counted}; not guarded: {self.minimum} or fewer exist ({MINIMUM_KEY})"
            return f"{counted}, within {self.threshold:.2f}%"
        outcome = "force required: give --allow-mass-change, or set preflight:massChangePercent" if self.fired \
            else "allowed by --allow-mass-change"
        lines = [f"Too many deletes and replacements of DNS records and zone files, {self.percent:.2f}% is over "
                 f"{self.threshold:.2f}% ({self.changed}/{self.existing}: {self.deleted} deleted, "
                 f"{self.replaced} replaced), {outcome}"]
        lines += [f"    {urn}" for urn in self.first]
        if self.changed > len(self.first):
            lines.append(f"    ... and {self.changed - len(self.first)} more")
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        return {"status": self.status, "deleted": self.deleted, "replaced": self.replaced, "existing": self.existing,
                "percent": round(self.percent, 2), "threshold": self.threshold, "minimum": self.minimum,
                "first": list(self.first)}


def _setting(config: Mapping[str, Any], key: str) -> Any:
    value = config.get(key)
    if isinstance(value, str):
        value = value.strip()
    return None if value in (None, "") else value


def _shown(value: Any) -> str:
    text = str(value)
    return SECRET_TEXT if PLACEHOLDER_PREFIX in text else repr(value)


def thresholds(config: Mapping[str, Any]) -> tuple[float, int]:
    """(percent, minimum) from the stack config (values as the CLI passes them: strings, JSON text for
    numbers); GuardConfigError naming the key when one is not usable."""
    percent: float = DEFAULT_PERCENT
    raw = _setting(config, PERCENT_KEY)
    if raw is not None:
        try:
            if isinstance(raw, bool):
                raise ValueError
            percent = float(raw)
        except (TypeError, ValueError):
            percent = math.nan
        if not (0 <= percent <= 100):  # NaN fails too
            raise GuardConfigError(f"{PERCENT_KEY} must be a number from 0 to 100 (the percentage of the stack's "
                                   f"DNS records and zone files a preview may delete or replace); got "
                                   f"{_shown(raw)}.")
    minimum = DEFAULT_MINIMUM
    raw = _setting(config, MINIMUM_KEY)
    if raw is not None:
        if isinstance(raw, int) and not isinstance(raw, bool):
            minimum = raw
        elif isinstance(raw, str) and re.fullmatch(r"[0-9]+", raw):
            minimum = int(raw)
        else:
            minimum = -1
        if minimum < 0:
            raise GuardConfigError(f"{MINIMUM_KEY} must be a whole number, 0 or more (the guard looks at stacks "
                                   f"with more DNS records and zone files than this); got {_shown(raw)}.")
    return percent, minimum


def is_zone_text(text: Any) -> bool:
    return isinstance(text, str) and _SOA_RECORD.search(text) is not None


def _asset_text(source: Any) -> Any:
    if isinstance(source, Mapping) and source.get(SIG_KEY) == ASSET_SIG:
        return source.get("text")
    return None


def is_guarded(resource: PriorResource) -> bool:
    """A DNS record or a zone file (see the module docstring); a secret content is not looked into."""
    if resource.type in RECORD_TYPES:
        return True
    inputs = resource.inputs
    if resource.type == LOCAL_COMMAND_TYPE:
        return is_zone_text(inputs.get("stdin"))
    if resource.type == COPY_TO_REMOTE_TYPE:
        source = inputs.get("source")
        if is_secret(source):
            return False
        return is_zone_text(_asset_text(source))
    return False


def check_mass_change(checkpoint: Checkpoint, steps: Iterable[Step], config: Mapping[str, Any], *,
                      allowed: bool = False) -> GuardResult:
    """The guard over `steps` (each registration's step and the deletions) against `checkpoint`.
    GuardConfigError when the config's thresholds are unusable."""
    threshold, minimum = thresholds(config)
    existing = sum(1 for resource in checkpoint.resources if is_guarded(resource))
    deleted = replaced = 0
    first: list[str] = []
    for step in steps:
        if step.op not in ("delete", "replace") or step.old is None or not is_guarded(step.old):
            continue
        if step.op == "delete":
            deleted += 1
        else:
            replaced += 1
        if len(first) < SHOWN:
            first.append(step.urn)
    percent = 100.0 * (deleted + replaced) / existing if existing else 0.0
    # Compared without the division's rounding: 3 of 10 is not over 30%.
    over = existing > minimum and (deleted + replaced) * 100 > threshold * existing
    return GuardResult(deleted=deleted, replaced=replaced, existing=existing, percent=percent, threshold=threshold,
                       minimum=minimum, first=tuple(first), fired=over and not allowed, overridden=over and allowed)
