"""The lab's stack, read the way the program reads it: `isp:` keys into the stack model, `lab:` keys here.

The `lab:` namespace holds what only the lab needs (the stand-in outside world, the customer
host, the test mail account); the Pulumi program never reads it. `--set KEY=JSON` overrides
merge into the stack's config before anything runs (objects merge key by key; `KEY=null` removes
the key), which is how a deliberately broken lab (recursion opened to any, DKIM signing removed)
is built from the real one.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from components.config import CONFIG_NAMESPACE, ConfigError, StackConfig, parse_stack_config
from preflight import overrides as stack_overrides
from preflight.stackconfig import StackConfig as ProgramConfig
from preflight.stackconfig import load_stack_config

LAB_NAMESPACE = "lab"
PROJECT_DIR = Path(__file__).resolve().parent.parent


class LabError(Exception):
    """Something the person running the lab must fix; said in one paragraph."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class InternetSettings(_Model):
    """The stand-in outside world: addresses that are not ours, all inside the `internet` namespace."""

    prefix: ipaddress.IPv4Network
    router: ipaddress.IPv4Address  # its end of the link to our gateway
    resolver_client: ipaddress.IPv4Address  # where outside DNS queries come from
    mail_sink: ipaddress.IPv4Address  # SMTP sink on 25, submission sink on 587 (mx.<domain>)
    name_server: ipaddress.IPv4Address  # the authoritative stub for <domain> (ns.<domain>)
    domain: str = "outside.test"

    @model_validator(mode="after")
    def _inside(self) -> InternetSettings:
        for key in ("router", "resolver_client", "mail_sink", "name_server"):
            if getattr(self, key) not in self.prefix:
                raise ValueError(f"lab:internet.{to_camel(key)} {getattr(self, key)} is outside {self.prefix}")
        return self


class CustomerSettings(_Model):
    address: ipaddress.IPv4Address


class LabSettings(_Model):
    internet: InternetSettings
    customer: CustomerSettings
    mail_account: str = Field(default="labuser", pattern=r"^[a-z][a-z0-9_-]{0,30}$")


@dataclasses.dataclass(frozen=True)
class LabStack:
    """One lab stack: the program's view (for preflight's runner) and both parsed models."""

    program: ProgramConfig
    cfg: StackConfig
    lab: LabSettings

    @property
    def name(self) -> str:
        return self.program.stack


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """["isp:dns={...}"] -> {"isp:dns": {...}} (preflight/overrides.py), a misspelt pair a LabError."""
    try:
        return stack_overrides.parse_overrides(pairs)
    except stack_overrides.OverrideError as error:
        raise LabError(str(error)) from None


def load_lab(stack: str = "lab", overrides: Mapping[str, Any] | None = None,
             project_dir: Path = PROJECT_DIR, secrets: Mapping[str, str] | None = None) -> LabStack:
    """The stack as the program will see it; `secrets` are set as secret config (as `config set --secret`)."""
    program = stack_overrides.with_overrides(load_stack_config(project_dir, stack), overrides or {}, secrets)
    values = stack_overrides.namespace_values(program, CONFIG_NAMESPACE)
    try:
        cfg = parse_stack_config(values, f"Pulumi.{stack}.yaml")
    except ConfigError as error:
        raise LabError(str(error)) from None
    if cfg.delivery != "local":
        raise LabError(f"stack {stack!r} delivers over {cfg.delivery}; the lab needs isp:delivery: local")
    lab_values = stack_overrides.namespace_values(program, LAB_NAMESPACE)
    try:
        lab = LabSettings.model_validate(lab_values)
    except ValidationError as error:
        problems = "; ".join(f"lab:{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise LabError(f"Pulumi.{stack}.yaml: {problems}") from None
    return LabStack(program=program, cfg=cfg, lab=lab)
