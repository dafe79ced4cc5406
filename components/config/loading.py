"""Reading a stack's `isp:` keys into the model, and phrasing what is wrong for a person.

Nothing is registered before `load_stack_config` has returned, so bad input can never
half-apply a stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import (
    ValidationError,
)
from pydantic.alias_generators import to_camel

from components.config.model import StackConfig

CONFIG_NAMESPACE = "isp"
# Secret `isp:` keys, read with `pulumi.Config("isp").require_secret` and kept out of the model.
WEBMAIL_TLS_KEY = "webmailTlsKey"  # the provided webmail certificate's private key (PEM)
ACME_CLOUDFLARE_TOKEN = "acmeCloudflareToken"  # a token allowed DNS:Edit only, for ACME DNS-01
SECRET_KEYS = ("sshPrivateKey", WEBMAIL_TLS_KEY, ACME_CLOUDFLARE_TOKEN)

class ConfigError(ValueError):
    """A stack config problem, phrased for a person: file, key, value, rule."""


# ---------------------------------------------------------------------------------------
# Reading the stack's config


def _location(loc: tuple[Any, ...]) -> str:
    """('hosts', 2, 'public_address') -> 'hosts[2].publicAddress' (the YAML spelling)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "literal[", "list[")) and "[" not in part:
            out += ("." if out else "") + to_camel(part)
    return out


def _explain(error: ValidationError, stack_file: str, zone_sources: list[tuple[str, int] | None]) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        path = _location(loc)
        key = f"{CONFIG_NAMESPACE}:{path}" if path else f"{CONFIG_NAMESPACE}"
        if len(loc) > 1 and loc[0] == "zones" and isinstance(loc[1], int) and loc[1] < len(zone_sources):
            source = zone_sources[loc[1]]
            if source is not None:  # a zone read from a zonesFrom file: the file and its index there
                inner = _location(loc[2:])
                key = f"{source[0]}: [{source[1]}]" + (f".{inner}" if inner else "")
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
        if len(shown) > 120:
            shown = shown[:117] + "..."
        if err["type"] == "missing":
            lines.append(f"{key} is required but missing")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{key} is not a known setting (value {shown}); check its spelling in the config reference")
        elif not path:
            # A cross-field rule: its message names the keys and values itself.
            lines.append(f"{CONFIG_NAMESPACE}:{msg}")
        elif isinstance(value, dict):
            lines.append(f"{key}: {msg}")
        else:
            head = f"{key} = {shown}: "
            # A union (IPv4 | IPv6) fails once per branch: say it once, branches joined.
            if lines and lines[-1].startswith(head):
                lines[-1] += f", nor {msg[0].lower()}{msg[1:]}"
            else:
                lines.append(head + msg)
    # pydantic reports every branch of a union; keep each distinct line once.
    return _invalid(stack_file, list(dict.fromkeys(lines)))


def _invalid(stack_file: str, lines: list[str]) -> str:
    return f"{stack_file}: invalid stack config:\n  - " + "\n  - ".join(lines)


def parse_stack_config(
    values: Mapping[str, Any], stack_file: str = "stack config", project_dir: str | None = None
) -> StackConfig:
    """Build the model from `isp:` keys (namespace already stripped, values already decoded).

    The zones of `zonesFrom` files (relative to `project_dir`, default: the working directory)
    follow those of `zones`; an error in one names the file and the zone's index in it.
    """
    values = dict(values)
    zone_sources: list[tuple[str, int] | None] = []
    inline = values.get("zones") or []
    if values.get("zonesFrom") and isinstance(inline, list):
        listed, sources = _listed_zones(values["zonesFrom"], project_dir or os.getcwd(), stack_file)
        values["zones"] = [*inline, *listed]
        # Inline zones keep their isp:zones[i] locations; listed ones are named by file.
        zone_sources = [None] * len(inline) + sources
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, stack_file, zone_sources)) from None


def _listed_zones(files: Any, project_dir: str, stack_file: str) -> tuple[list[Any], list[tuple[str, int] | None]]:
    """The zones of every `zonesFrom` file in order, with (file, index in file) for each."""
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        shown = json.dumps(files, default=str)[:120]
        raise ConfigError(_invalid(stack_file, [f"{CONFIG_NAMESPACE}:zonesFrom = {shown}: must be a list of file "
                                                "paths (relative to the project directory)"]))
    zones: list[Any] = []
    sources: list[tuple[str, int] | None] = []
    for i, name in enumerate(files):
        problem, listed = _read_zone_list(os.path.join(project_dir, name))
        if problem:
            key = f"{CONFIG_NAMESPACE}:zonesFrom[{i}]"
            raise ConfigError(_invalid(stack_file, [f"{key} = {json.dumps(name)}: {problem}"]))
        zones.extend(listed)
        sources.extend((name, j) for j in range(len(listed)))
    return zones, sources


def _read_zone_list(path: str) -> tuple[str | None, list[Any]]:
    """(problem, zones) of one zonesFrom file: a list of zones as `zones` would hold them, in YAML, or
    in JSON when the name ends in .json (a list generated from a customer database: 100x faster to read)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            if path.endswith(".json"):
                document = json.load(stream)
            else:
                document = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        return f"cannot be read ({exc.strerror}: {os.path.abspath(path)})", []
    except UnicodeDecodeError:
        return "is not UTF-8 text", []
    except json.JSONDecodeError as exc:
        return f"is not valid JSON at line {exc.lineno} ({exc.msg})", []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"is not valid YAML{where} ({getattr(exc, 'problem', None) or 'unreadable'})", []
    if not isinstance(document, list):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        return f"must hold a list of zones (name, records, ...) as isp:zones does, found {found}", []
    return None, document


def load_stack_config() -> StackConfig:
    """Read every `isp:` key of the running stack into the model (inside a Pulumi program)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    stack = pulumi.get_stack()
    prefix = f"{CONFIG_NAMESPACE}:"
    raw: dict[str, Any] = {}
    # The CLI's language host sets config in-process; PULUMI_CONFIG is the older route.
    for full_key, text in {**get_config_env(), **CONFIG.get()}.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key.startswith("config:"):  # the legacy "isp:config:key" spelling
            key = key[len("config:") :]
        raw[key] = _decode(text)
    secret_keys = {h.get("sshKeyConfig", "sshPrivateKey") for h in raw.get("hosts", []) if isinstance(h, dict)}
    secret_keys |= set(SECRET_KEYS)
    values = {k: v for k, v in raw.items() if k not in secret_keys}
    try:
        # zonesFrom paths are relative to the project directory (where Pulumi.yaml is).
        project_dir = pulumi.runtime.get_root_directory() or os.getcwd()
        return parse_stack_config(values, f"Pulumi.{stack}.yaml", project_dir)
    except ConfigError as exc:
        # RunError is how a program tells the engine "my input is wrong": no traceback.
        raise pulumi.RunError(str(exc)) from None


def _decode(text: str) -> Any:
    """The engine passes objects and lists as JSON text and scalars as plain strings."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
