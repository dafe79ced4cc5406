"""The null MX (RFC 7505): how a zone says it accepts no mail, and what may stand beside it.

RFC 7505 §3: a domain that accepts no mail publishes one MX whose preference is 0 and whose
exchange is the root (written "."), and no other MX. The program adds it to every zone
without an MX of its own but `organization.domain` (components/dns_data.py); an operator may
also write it in a zone's records (type MX, content ".", priority 0). A refusal here names the
zone, the record and its rule:

- `null-mx-preference-0`: an MX whose exchange is "." has preference 0;
- `null-mx-alone`: an owner with the null MX has no other MX (RFC 7505 §3 MUST NOT);
- `no-null-mx-for-the-isp-domain`: `organization.domain` receives mail at our mail hosts, whose
  MX the program publishes there, so the null MX may not stand at its apex.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from components.config.tenancy import record_owner

if TYPE_CHECKING:
    from components.config.model import StackConfig

# RFC 7505 §3: the null MX's exchange is the zero-length label, the root, written "." in master
# files and in Cloudflare's MX content alike; its preference is 0.
NULL_MX_EXCHANGE = "."
NULL_MX_PREFERENCE = 0


def is_null_mx(rtype: str, content: str) -> bool:
    """The record is an MX to the root: a null MX (or, with a preference other than 0, a broken one)."""
    return rtype == "MX" and content == NULL_MX_EXCHANGE


def _error(loc: tuple[str | int, ...], value: object, why: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("null_mx", "{why}", {"why": why}), loc=loc, input=value)


def null_mx_errors(cfg: StackConfig) -> list[InitErrorDetails]:
    """Every hand-written null MX that RFC 7505 §3 or our own domain's mail forbids."""
    errors: list[InitErrorDetails] = []
    for i, zone in enumerate(cfg.zones):
        mx_by_owner: dict[str, list[int]] = {}
        for j, record in enumerate(zone.records):
            if record.type == "MX":
                mx_by_owner.setdefault(record_owner(record.name, zone.name), []).append(j)
        for owner, indexes in mx_by_owner.items():
            nulls = [j for j in indexes if is_null_mx("MX", zone.records[j].content)]
            if not nulls:
                continue
            shown = f"records[{nulls[0]}]"
            for j in nulls:
                if zone.records[j].priority != NULL_MX_PREFERENCE:
                    errors.append(_error(
                        ("zones", i, "records", j, "priority"), zone.records[j].priority,
                        f"zone {zone.name}: this MX of {owner} has the exchange \".\", the null MX, whose preference "
                        f"is {NULL_MX_PREFERENCE} (RFC 7505 §3); write priority: {NULL_MX_PREFERENCE} "
                        "(rule: null-mx-preference-0)"))
            for j in indexes:
                if j not in nulls:
                    errors.append(_error(
                        ("zones", i, "records", j, "content"), zone.records[j].content,
                        f"zone {zone.name}: {owner} publishes the null MX ({shown}: it accepts no mail) and this MX "
                        "beside it; a domain with a null MX MUST NOT publish any other MX (RFC 7505 §3): keep one "
                        "of the two (rule: null-mx-alone)"))
            if owner == cfg.organization.domain:
                errors.append(_error(
                    ("zones", i, "records", nulls[0], "content"), NULL_MX_EXCHANGE,
                    f"zone {zone.name}: {owner} is organization.domain, which receives mail at our mail hosts (the "
                    "program publishes their MX there), so it cannot also say it accepts none; a null MX beside "
                    "them breaks RFC 7505 §3 (rule: no-null-mx-for-the-isp-domain)"))
    return errors


def enforce_null_mx(cfg: StackConfig) -> None:
    """Raise the model's own ValidationError, each entry located at its record."""
    if errors := null_mx_errors(cfg):
        raise ValidationError.from_exception_data("StackConfig", errors)
