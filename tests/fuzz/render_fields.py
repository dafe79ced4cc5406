"""The vocabulary of the renderer fuzz's tables (render_targets): a `Target` is one render
function with benign arguments; a `Field` is one parameter that carries a value.

A `Field` places one value into a copy of its target's benign arguments (`put`). Its `benign`
values are rendered too: grouped by structure, they show where the value goes in the file
(`render_structure.Reference`), so give at least two per kind of value that shapes the file
differently (an IPv4 and an IPv6 network, a unix socket and a TCP address...). `names`: the
parameter names (prefixes) a refusal may give; `expect`: the text that must then sit inside one
of the value's tokens; `canonical`: for addresses, the canonical spelling, which must render
exactly the same file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.render_values import address_values, int_values, text_values

Put = Callable[[dict, Any], None]


@dataclass(frozen=True)
class Field:
    name: str
    values: st.SearchStrategy
    put: Put
    benign: tuple
    names: tuple[str, ...] = ()
    expect: Callable[[Any], str | None] | None = None
    canonical: Callable[[Any], Any] | None = None
    secret: bool = False  # a refusal must not print the value

    def __repr__(self) -> str:  # hypothesis prints the drawn field: its name says enough
        return f"Field({self.name!r})"

    @property
    def error_names(self) -> tuple[str, ...]:
        return self.names or (self.name.split("[")[0].split(".")[0],)


@dataclass(frozen=True)
class Target:
    name: str
    dialect: str
    render: Callable[..., str]
    base: Callable[[], dict]
    fields: tuple[Field, ...]
    covers: tuple[str, ...] = ()  # the render functions a wrapper `render` calls

    @property
    def functions(self) -> set[str]:
        return {*self.covers, getattr(self.render, "__name__", "")}


# ---------------------------------------------------------------------------------------
# Placing a value


def at(key: str) -> Put:
    def put(kwargs: dict, value: Any) -> None:
        kwargs[key] = value
    return put


def item(key: str, index: int = 0) -> Put:
    def put(kwargs: dict, value: Any) -> None:
        items = list(kwargs[key])
        items[index] = value
        kwargs[key] = items
    return put


def member(key: str, index: int, position: int) -> Put:
    """Position `position` of the tuple at `kwargs[key][index]`."""
    def put(kwargs: dict, value: Any) -> None:
        items = list(kwargs[key])
        row = list(items[index])
        row[position] = value
        items[index] = tuple(row)
        kwargs[key] = items
    return put


def attribute(key: str, index: int, name: str) -> Put:
    """Attribute `name` of the dataclass at `kwargs[key][index]`."""
    def put(kwargs: dict, value: Any) -> None:
        items = list(kwargs[key])
        items[index] = dataclasses.replace(items[index], **{name: value})
        kwargs[key] = items
    return put


def verbatim(value: Any) -> str | None:
    return value.rstrip(".") if type(value) is str else None


def canonical_address(value: Any) -> str:
    """The canonical text of an address, scope id dropped (ValueError: not an address at all)."""
    return str(ipaddress.ip_address(str(value).split("%")[0]))


def canonical_network(value: Any) -> str:
    address, slash, length = str(value).partition("/")
    address = address.split("%")[0]
    return str(ipaddress.ip_network(f"{address}/{length}" if slash else address, strict=True))


def canonical_acl(value: Any) -> str:
    return value if value in ("any", "none", "localhost", "localnets") else canonical_network(value)


def address_text(value: Any) -> str | None:
    """The address part of a value's canonical text, which must appear in the file."""
    if value is None:
        return None
    try:
        return canonical_network(value).split("/")[0]
    except ValueError:
        return canonical_address(value)


def text_field(name: str, put: Put, benign: tuple, dialect: str, **extra: Any) -> Field:
    return Field(name, text_values(list(benign), dialect), put, benign, expect=extra.pop("expect", verbatim), **extra)


def address_field(name: str, put: Put, benign: tuple, dialect: str, *, network: bool, version: int | None = None,
                  **extra: Any) -> Field:
    canonical = extra.pop("canonical", canonical_network if network else canonical_address)
    expect = extra.pop("expect", address_text)
    return Field(name, address_values(list(benign), dialect, version), put, benign, expect=expect,
                 canonical=canonical, **extra)


def int_field(name: str, put: Put, benign: tuple, **extra: Any) -> Field:
    return Field(name, int_values(list(benign)), put, benign, expect=None, **extra)


def whole_list(name: str, benign: tuple, element: st.SearchStrategy, **extra: Any) -> Field:
    """The whole list replaced: a bare value (a string, iterated, would yield characters) or a list
    as long as a benign one (a longer list has more tokens, rightly)."""
    sizes = sorted({len(b) for b in benign})
    values = st.one_of(element, *(st.lists(element, min_size=n, max_size=n) for n in sizes), st.sampled_from(benign))
    return Field(name, values, at(name), benign, expect=None, **extra)
