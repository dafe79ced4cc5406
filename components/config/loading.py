"""Reading a stack's `isp:` keys into the model, and phrasing what is wrong for a person.

Nothing is registered before `load_stack_config` has returned, so bad input can never
half-apply a stack. Under the Pulumi CLI the program sees secrets decrypted: every value an
error shows goes through `redaction.shown`, and secret keys never reach the model at all.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import typing
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from components.config.keys import CONFIG_NAMESPACE, SECRET_KEYS
from components.config.mail_auth import default_private_key_config
from components.config.model import StackConfig
from components.config.redaction import printable, redacted, scrub, shown
from components.config.zones_from import ZoneListError, listed_zones


class ConfigError(ValueError):
    """A stack config problem, phrased for a person: file, key, value, rule."""


_PLAIN_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEYS_TEXT = (", ".join(SECRET_KEYS) + ", the key a host's sshKeyConfig names or the key a DKIM key's "
                     "privateKeyConfig names (default dkimKey_<selector>)")


def _name(part: str, as_written: bool) -> str:
    """A key as the YAML spells it: camelCase for our fields, as written (quoted if odd) for unknown ones."""
    if not _PLAIN_NAME_RE.fullmatch(part):
        return json.dumps(part)  # `isp:hosts[0]."a b"`: escaped, never a line break or control character
    return part if as_written else to_camel(part)


def _location(loc: tuple[Any, ...], unknown_last: bool = False) -> str:
    """('hosts', 2, 'public_address') -> 'hosts[2].publicAddress' (the YAML spelling)."""
    out = ""
    for index, part in enumerate(loc):
        as_written = unknown_last and index == len(loc) - 1  # the unknown key itself, whatever it holds
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (as_written or (
                not part.startswith(("function-", "literal[", "list[")) and "[" not in part)):
            out += ("." if out else "") + _name(part, as_written)
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `list[Host]`, `Host | None`, `Annotated[...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for inner in typing.get_args(annotation):
        found = _model_of(inner)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model a location holds (`('hosts', 2)` -> Host), None for a single value or an unknown key."""
    model: type[BaseModel] | None = StackConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _model_of(field.annotation) if field is not None else None
    return model


def _known_names(loc: tuple[Any, ...]) -> list[str]:
    """The settings that may stand where `loc` ends (for "did you mean"): its model's fields."""
    model = _model_at(loc[:-1])
    if model is None:
        return []
    names = [f.alias or n for n, f in model.model_fields.items()]
    return names + list(SECRET_KEYS) if model is StackConfig else names


def _suggestion(name: Any, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _explain(error: ValidationError, stack_file: str, zone_sources: list[tuple[str, int] | None],
             secret_keys: Collection[str] = ()) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        unknown = err["type"] == "extra_forbidden"
        path = _location(loc, unknown_last=unknown)
        key = f"{CONFIG_NAMESPACE}:{path}" if path else f"{CONFIG_NAMESPACE}"
        if len(loc) > 1 and loc[0] == "zones" and isinstance(loc[1], int) and loc[1] < len(zone_sources):
            source = zone_sources[loc[1]]
            if source is not None:  # a zone read from a zonesFrom file: the file and its index there
                inner = _location(loc[2:], unknown_last=unknown)
                key = f"{source[0]}: [{source[1]}]" + (f".{inner}" if inner else "")
        value = err.get("input")
        names = [p for p in loc if isinstance(p, str)]
        # Unknown keys may be a mistyped secret; keys the engine marks secret never show either.
        secret = unknown or bool(names and to_camel(names[0]) in secret_keys)
        value_text = shown(value, name=to_camel(names[-1]) if names else "", secret=secret)
        msg = err["msg"].removeprefix("Value error, ")
        if value_text.startswith("[redacted") and isinstance(value, str) and value:
            msg = msg.replace(value, redacted(value))  # a rule that quotes the value it refuses
        msg = scrub(msg)
        if err["type"] == "missing":
            lines.append(f"{key} is required but missing")
        elif unknown:
            hint = _suggestion(loc[-1], _known_names(loc)) if loc else ""
            lines.append(f"{key} is not a known setting{hint} (value {value_text}); "
                         "check its spelling in the config reference")
        elif not path:
            # A cross-field rule: its message names the keys and values itself.
            lines.append(f"{CONFIG_NAMESPACE}:{msg}")
        elif isinstance(value, dict) and _model_at(loc) is not None:
            lines.append(f"{key}: {msg}")  # a rule of a whole object (its message names the keys)
        else:
            head = f"{key} = {value_text}: "
            # A union (IPv4 | IPv6) fails once per branch: say it once, branches joined.
            if lines and lines[-1].startswith(head):
                lines[-1] += f", nor {msg[0].lower()}{msg[1:]}"
            else:
                lines.append(head + msg)
    # pydantic reports every branch of a union; keep each distinct line once.
    return _invalid(stack_file, list(dict.fromkeys(lines)))


def _invalid(stack_file: str, lines: list[str]) -> str:
    return f"{printable(stack_file)}: invalid stack config:\n  - " + "\n  - ".join(
        printable(" ".join(line.splitlines())) for line in lines)


def parse_stack_config(
    values: Mapping[str, Any], stack_file: str = "stack config", project_dir: str | None = None,
    secret_keys: Collection[str] = (),
) -> StackConfig:
    """Build the model from `isp:` keys (namespace already stripped, values already decoded).

    The zones of `zonesFrom` files (relative to `project_dir`, default: the working directory)
    follow those of `zones`; an error in one names the file and the zone's index in it. Values of
    `secret_keys` (names without the namespace) are never shown in an error.
    """
    values = dict(values)
    zone_sources: list[tuple[str, int] | None] = []
    inline = values.get("zones") or []
    if values.get("zonesFrom") and isinstance(inline, list):
        try:
            listed, sources = listed_zones(values["zonesFrom"], project_dir or os.getcwd())
        except ZoneListError as exc:
            raise ConfigError(_invalid(stack_file, [scrub(str(exc))])) from None
        values["zones"] = [*inline, *listed]
        # Inline zones keep their isp:zones[i] locations; listed ones are named by file.
        zone_sources = [None] * len(inline) + sources
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, stack_file, zone_sources, secret_keys)) from None


def model_keys() -> set[str]:
    """Every top-level key the model reads, as YAML spells it and as Python does (both are accepted)."""
    return {n for name, field in StackConfig.model_fields.items() for n in (name, field.alias) if n}


def split_secrets(raw: Mapping[str, Any], secret: Collection[str], stack_file: str) -> dict[str, Any]:
    """The model's values: `raw` without the secret keys the program reads with `require_secret`.

    The secret keys are SECRET_KEYS, each key a host's `sshKeyConfig` names and each key a DKIM key's
    `privateKeyConfig` names (never a setting of the model: that would drop the setting; the model
    refuses a privateKeyConfig naming another secret). A key the engine marks `secret` must be one of them: a
    `secure:` value nested in a setting (which makes the whole setting secret) or a mistyped secret
    key is refused, naming the key and never showing its value.
    """
    settings = model_keys()
    hosts = raw.get("hosts")
    named = {h.get("sshKeyConfig", "sshPrivateKey") for h in hosts if isinstance(h, dict)} if isinstance(
        hosts, list) else set()
    named |= _dkim_secret_keys(raw.get("mail"))
    allowed = (set(SECRET_KEYS) | {k for k in named if isinstance(k, str)}) - settings
    problems = []
    for key in sorted(set(secret) - allowed):
        shown_key = f"{CONFIG_NAMESPACE}:{_name(key, as_written=True)}"
        if key in settings:
            problems.append(f"{shown_key} holds a secure value; secrets belong in keys of their own "
                            f"({_SECRET_KEYS_TEXT}): write {shown_key} in plain text")
        else:
            problems.append(f"{shown_key} is a secret that no setting reads{_suggestion(key, allowed)} (value "
                            f"{redacted(raw.get(key))}); the secret keys are {_SECRET_KEYS_TEXT}")
    if problems:
        raise ConfigError(_invalid(stack_file, problems))
    return {key: value for key, value in raw.items() if key not in allowed}


def _dkim_secret_keys(mail: Any) -> set[Any]:
    """The secret keys `mail.dkim.keys[]` name: each privateKeyConfig, or its default from the selector."""
    dkim = mail.get("dkim") if isinstance(mail, dict) else None
    keys = dkim.get("keys") if isinstance(dkim, dict) else None
    named: set[Any] = set()
    for key in keys if isinstance(keys, list) else ():
        if not isinstance(key, dict):
            continue
        name = key.get("privateKeyConfig", key.get("private_key_config"))
        if name is None and isinstance(key.get("selector"), str):
            name = default_private_key_config(key["selector"])
        if isinstance(name, str):
            named.add(name)
    return named


def load_stack_config() -> StackConfig:
    """Read every `isp:` key of the running stack into the model (inside a Pulumi program)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env, get_config_secret_keys_env, is_config_secret

    stack = pulumi.get_stack()
    stack_file = f"Pulumi.{stack}.yaml"
    prefix = f"{CONFIG_NAMESPACE}:"
    engine_secret = set(get_config_secret_keys_env())
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    # The CLI's language host sets config in-process; PULUMI_CONFIG is the older route.
    for full_key, text in {**get_config_env(), **CONFIG.get()}.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key.startswith("config:"):  # the legacy "isp:config:key" spelling
            key = key[len("config:") :]
        raw[key] = _decode(text)
        if full_key in engine_secret or is_config_secret(full_key):
            secret.add(key)
    try:
        values = split_secrets(raw, secret, stack_file)
        # zonesFrom paths are relative to the project directory (where Pulumi.yaml is).
        project_dir = pulumi.runtime.get_root_directory() or os.getcwd()
        return parse_stack_config(values, stack_file, project_dir, secret)
    except ConfigError as exc:
        # RunError is how a program tells the engine "my input is wrong": no traceback.
        raise pulumi.RunError(str(exc)) from None


def _decode(text: str) -> Any:
    """The engine passes objects and lists as JSON text and scalars as plain strings."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: `[[[[...` set by hand
        return text
