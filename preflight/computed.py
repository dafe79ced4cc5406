"""The outputs a provider computes for a resource, learnt from the provider's Python SDK.

At a first preview a provider answers a create with the resource's inputs plus an unknown for every
output it computes (pulumi/pulumi pkg/resource/deploy/step_generator.go ~3496-3620 sends those outputs
to AnalyzeStack). No provider runs here, so the names come from the generated resource class: its
`_internal_init` sets each output-only property to None in `__props__` (pulumi_cloudflare's DnsRecord:
`__props__.__dict__["created_on"] = None`), and the property's getter gives its wire name
(`@pulumi.getter(name="createdOn")`).

The class is found through the resource modules the SDK registers when the package is imported
(`pulumi.runtime.rpc.get_resource_module`; the generated `Module` keeps `mod_info` with the class per
type token). A type whose class cannot be found (dynamic providers, hand-written resources) has no
computed outputs known: only its id is unknown.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import threading
from typing import Any

_cache: dict[tuple[str, str], tuple[str, ...]] = {}
_cache_lock = threading.Lock()


def computed_output_names(token: str, version: str = "") -> tuple[str, ...]:
    """Wire names of the outputs the provider computes for resources of type `token` (cached per type)."""
    key = (token, version)
    with _cache_lock:
        names = _cache.get(key)
    if names is None:
        resource_class = _resource_class(token, version)
        names = _computed_names(resource_class) if resource_class is not None else ()
        with _cache_lock:
            _cache[key] = names
    return names


def _resource_class(token: str, version: str) -> type | None:
    """The SDK class registered for `pkg:mod:Name`, or None."""
    from pulumi.runtime.rpc import get_resource_module

    parts = token.split(":")
    if len(parts) != 3:
        return None
    package, module_name, _ = parts
    try:
        module = get_resource_module(package, module_name, version)
    except ValueError:  # an unparsable version
        module = None
    info = getattr(module, "mod_info", None)
    if not isinstance(info, dict):
        return None
    class_name = info.get("classes", {}).get(token)
    if not class_name or not info.get("fqn"):
        return None
    try:
        return getattr(importlib.import_module(info["fqn"]), class_name, None)
    except ImportError:
        return None


def _none_assigned_props(function: Any) -> list[str]:
    """Python names `function` assigns None to as `__props__.__dict__["name"] = None`."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return []
    names = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None):
            continue
        for target in node.targets:
            if (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str) and ast.unparse(target.value) == "__props__.__dict__"):
                names.append(target.slice.value)
    return names


def _computed_names(resource_class: type) -> tuple[str, ...]:
    from pulumi._types import _PULUMI_NAME

    initialiser = getattr(resource_class, "_internal_init", None)
    if initialiser is None:
        return ()
    names = []
    for python_name in _none_assigned_props(initialiser):
        getter = inspect.getattr_static(resource_class, python_name, None)
        fget = getattr(getter, "fget", None)
        wire_name = getattr(fget, _PULUMI_NAME, None)
        if isinstance(wire_name, str) and wire_name not in names:
            names.append(wire_name)
    return tuple(names)
