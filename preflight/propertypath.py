"""Property paths as the engine reads them (sdk/go/common/resource/properties_path.go): parsing, printing,
containment (for `replace_on_changes`), and PropertyPath.Reset (for `ignore_changes`:
pkg/resource/deploy/step_generator.go processIgnoreChanges), on values in the engine's wire form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from preflight.model import SIG_KEY, is_secret

# ---------------------------------------------------------------------------------------------------
# Property paths (sdk/go/common/resource/properties_path.go)


def parse_property_path(text: str) -> tuple[str | int, ...]:
    """ParsePropertyPath (not strict): `a.b[0]["c.d"]`, `*` and `[*]` wildcards; ValueError if malformed."""
    elements: list[str | int] = []
    if text.startswith("."):
        raise ValueError("expected property path to start with a name or index")
    rest = text
    while rest:
        head = rest[0]
        if head == ".":
            rest = rest[1:]
            if not rest:
                raise ValueError("expected property path to end with a name or index")
        elif head == "[":
            if len(rest) > 1 and rest[1] == '"':
                key, i = [], 2
                while True:
                    if i >= len(rest):
                        raise ValueError("missing closing quote in property name")
                    if rest[i] == '"':
                        i += 1
                        break
                    if rest[i] == "\\" and i + 1 < len(rest) and rest[i + 1] == '"':
                        key.append('"')
                        i += 2
                    else:
                        key.append(rest[i])
                        i += 1
                if i >= len(rest) or rest[i] != "]":
                    raise ValueError("missing closing bracket in property access")
                elements.append("".join(key))
                rest = rest[i + 1:]
            else:
                close = rest.find("]")
                if close == -1:
                    raise ValueError("missing closing bracket in array index")
                segment = rest[1:close]
                if segment == "*":
                    elements.append("*")
                else:
                    try:
                        elements.append(int(segment, 10))
                    except ValueError:
                        raise ValueError(f"invalid array index: {segment!r}") from None
                rest = rest[close + 1:]
        else:
            end = len(rest)
            for stop in (".", "["):
                found = rest.find(stop)
                if found != -1:
                    end = min(end, found)
            elements.append(rest[:end])
            rest = rest[end:]
    return tuple(elements)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


def format_property_path(path: Sequence[str | int]) -> str:
    """PropertyPath.String: `connection.privateKey`, `triggers[1]`, `["key-with-dash"]`."""
    parts: list[str] = []
    for index, element in enumerate(path):
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif _PLAIN_KEY.fullmatch(element):
            parts.append(element if index == 0 else "." + element)
        else:
            escaped = element.replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts)


def path_contains(outer: Sequence[str | int], inner: Sequence[str | int]) -> bool:
    """PropertyPath.Contains: `inner` is `outer` or lies below it; `*` matches any key or index."""
    if len(inner) < len(outer):
        return False
    for mine, theirs in zip(outer, inner, strict=False):
        if mine == "*":
            continue
        if type(mine) is not type(theirs) or mine != theirs:
            return False
    return True


# ---------------------------------------------------------------------------------------------------
# ignore_changes (processIgnoreChanges: PropertyPath.Reset), copying only along each path


def open_secret(value: Any) -> tuple[Any, bool]:
    """A wire-form secret's value, unwrapped; (value, False) for anything else or an opaque ciphertext."""
    opened = False
    while is_secret(value):
        if "value" in value:
            value = value["value"]
        elif isinstance(value.get("plaintext"), str):
            try:
                value = json.loads(value["plaintext"])
            except ValueError:
                return value, opened
        else:
            return value, opened
        opened = True
    return value, opened


def is_object(value: Any) -> bool:
    return isinstance(value, dict) and SIG_KEY not in value


def _reset(path: tuple[str | int, ...], old: Any, new: Any) -> tuple[bool, Any]:
    """(path valid, new with the value at `path` taken from old). Like the engine, a path that turns out
    invalid half-way keeps what it already reset."""
    old, _ = open_secret(old)
    wrapped = is_secret(new) and "value" in new
    inner = new["value"] if wrapped else new
    ok, inner = _reset_inner(path, old, inner)
    return ok, ({**new, "value": inner} if wrapped else inner)


def _reset_inner(path: tuple[str | int, ...], old: Any, new: Any) -> tuple[bool, Any]:
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        if key < 0:
            return False, new
        both = isinstance(old, list) and isinstance(new, list)
        if not both:
            return (not isinstance(old, list) and not isinstance(new, list)), new
        if key >= len(old) or key >= len(new):
            return (not rest and key >= len(old) and key >= len(new)), new
        copy = list(new)
        if not rest:
            copy[key] = old[key]
            return True, copy
        ok, copy[key] = _reset(rest, old[key], new[key])
        return ok, copy
    if key == "*":
        if not rest:
            if is_object(new):
                return True, (dict(old) if is_object(old) else new)
            if isinstance(new, list):
                if not isinstance(old, list):
                    return True, new
                copy = list(new)
                for index in range(min(len(old), len(new))):
                    copy[index] = old[index]
                return len(old) == len(new), copy
            return False, new
        if is_object(old) and is_object(new):
            copy = dict(new)
            for name in old:
                if name not in copy:
                    return False, copy
                ok, copy[name] = _reset(rest, old[name], copy[name])
                if not ok:
                    return False, copy
            return True, copy
        if isinstance(old, list) and isinstance(new, list):
            copy = list(new)
            for index in range(min(len(old), len(new))):
                ok, copy[index] = _reset(rest, old[index], copy[index])
                if not ok:
                    return False, copy
            return len(old) == len(new), copy
        return False, new
    if not rest:
        if is_object(old) and key in old:
            if not is_object(new):
                return False, new
            return True, {**new, key: old[key]}
        if is_object(new) and key in new:
            return True, {name: value for name, value in new.items() if name != key}
        return True, new
    if not is_object(old) or not is_object(new):
        return (not is_object(old) and not is_object(new)), new
    if key not in new:
        return key not in old, new
    ok, value = _reset(rest, old.get(key), new[key])
    return ok, {**new, key: value}


def apply_ignore_changes(new_inputs: Mapping[str, Any], old_inputs: Mapping[str, Any],
                         ignore_changes: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """(the new inputs with each ignored path reset to its old value, the paths the engine reports as
    invalid: "cannot ignore changes in added or removed elements of the path"). Unparsable paths are
    skipped, as the engine skips them."""
    result: dict[str, Any] = dict(new_inputs)
    invalid: list[str] = []
    for text in ignore_changes:
        try:
            path = parse_property_path(text)
        except ValueError:
            continue
        if not path:
            continue
        ok, result = _reset_inner(path, dict(old_inputs), result)
        if not ok:
            invalid.append(text)
    return result, invalid
