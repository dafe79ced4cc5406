"""`zonesFrom`: zones kept in files beside the stack config (hundreds of customer zones).

Each file holds a list of zones as `isp:zones` does, in YAML, or in JSON when its name ends
in .json. Zones read here follow the inline ones; an error in one names its file and index.

A file is read only if it is a regular file inside the project directory (`paths`), within
the bounds below, and read as plain data: YAML as Pulumi reads its own stack files (YAML 1.2:
`yes`, `on`, dates and `1:20` stay text), without anchors and aliases (a "billion laughs" file
expands a thousand-fold per level, `&a [*a]` never ends), merge keys, explicit tags
(`!!binary`, `!!python/...`) or duplicate keys; JSON without NaN or Infinity.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from components.config.keys import CONFIG_NAMESPACE
from components.config.paths import PathRuleError, open_project_file

MAX_FILES = 100
MAX_FILE_BYTES = 16 * 1024 * 1024  # 400 zones of 35 records are about 1 MB of YAML
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_ZONES = 10_000


class ZoneListError(ValueError):
    """A zonesFrom problem, one line naming the key, the file and the rule."""


def listed_zones(files: Any, project_dir: str) -> tuple[list[Any], list[tuple[str, int] | None]]:
    """The zones of every `zonesFrom` file in order, with (file, index in file) for each."""
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        shown = json.dumps(files, default=str)[:120]
        raise ZoneListError(f"{CONFIG_NAMESPACE}:zonesFrom = {shown}: must be a list of file paths "
                            "(relative to the project directory)")
    if len(files) > MAX_FILES:
        raise ZoneListError(f"{CONFIG_NAMESPACE}:zonesFrom lists {len(files)} files; at most {MAX_FILES} "
                            "(rule: bounded-count): merge them")
    zones: list[Any] = []
    sources: list[tuple[str, int] | None] = []
    seen: dict[str, int] = {}
    total = 0
    for i, name in enumerate(files):
        key = f"{CONFIG_NAMESPACE}:zonesFrom[{i}] = {json.dumps(name[:200])}"
        try:
            real, content = open_project_file(name, project_dir, MAX_FILE_BYTES)
        except PathRuleError as exc:
            raise ZoneListError(f"{key}: {exc}") from None
        if real in seen:
            raise ZoneListError(f"{key}: is the file zonesFrom[{seen[real]}] already lists (rule: listed-once)")
        seen[real] = i
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise ZoneListError(f"{key}: the zonesFrom files hold more than {MAX_TOTAL_BYTES} bytes together "
                                "(rule: bounded-size)")
        problem, listed = _zone_list(content, json_file=name.endswith(".json"))
        if problem:
            raise ZoneListError(f"{key}: {problem}")
        if len(zones) + len(listed) > MAX_ZONES:
            raise ZoneListError(f"{key}: the zonesFrom files list more than {MAX_ZONES} zones together "
                                "(rule: bounded-count)")
        zones.extend(listed)
        sources.extend((name, j) for j in range(len(listed)))
    return zones, sources


def _zone_list(content: bytes, *, json_file: bool) -> tuple[str | None, list[Any]]:
    """(problem, zones) of one zonesFrom file's bytes: a list of zones as `zones` would hold them, in YAML,
    or in JSON when the name ends in .json (a list generated from a customer database: 100x faster to read)."""
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return "is not UTF-8 text", []
    try:
        document = _read_json(text) if json_file else yaml.load(text, Loader=_ZoneFileLoader)  # noqa: S506
    except json.JSONDecodeError as exc:
        return f"is not valid JSON at line {exc.lineno} ({exc.msg})", []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"is not valid YAML{where} ({getattr(exc, 'problem', None) or 'unreadable'})", []
    except _Refused as exc:
        return str(exc), []
    except RecursionError:
        return "nests lists or objects too deeply", []
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        return f"holds a value that cannot be read ({str(exc).split(':')[0][:80]}) (rule: plain-data)", []
    if not isinstance(document, list):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        return f"must hold a list of zones (name, records, ...) as isp:zones does, found {found}", []
    return None, document


class _Refused(ValueError):
    """Data a zone list never needs and a hostile file could use; the message names the line."""


def _read_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            twice = next(k for k in keys if keys.count(k) > 1)
            raise _Refused(f"holds the key {json.dumps(twice)} twice in one object (rule: no-duplicate-keys)")
        return dict(items)

    def constant(name: str) -> Any:
        raise _Refused(f"holds {name}, which is not JSON (rule: plain-data)")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


# ---------------------------------------------------------------------------------------
# YAML as plain data

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml also caps nesting at 1000 levels
_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map")}


class _ZoneFileLoader(_Base):
    """A SafeLoader that builds plain data only (see the module's docstring)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Without aliases every node is built exactly once: a second visit is an alias (*name).
        if node in self.constructed_objects or node in self.recursive_objects:
            raise _refused("an alias (*name) repeats the node anchored at", node, "no-anchors-or-aliases",
                           "anchors and aliases are not allowed in a zonesFrom file: write each value out")
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace(_TAG, "!!")
            raise _refused(f"the tag {tag[:60]} at", node, "plain-data",
                           "a zonesFrom file holds text, numbers, true/false, lists and mappings only")
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == _TAG + "merge":
                    raise _refused("a merge key (<<) at", key_node, "no-anchors-or-aliases",
                                   "write each zone's settings out")
        mapping = super().construct_mapping(node, deep=deep)
        if isinstance(node, yaml.MappingNode) and len(mapping) != len(node.value):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = key_node.value if isinstance(key_node.value, str) else id(key_node)
                if key in seen:
                    raise _refused(f"the key {key[:60]!r} is given twice; again at", key_node,
                                   "no-duplicate-keys", "each key once per mapping")
                seen.add(key)
            raise _refused("two keys that mean the same value (such as true and True) in the mapping at", node,
                           "no-duplicate-keys", "each key once per mapping")
        return mapping


def _refused(what: str, node: yaml.Node, rule: str, advice: str) -> _Refused:
    return _Refused(f"{what} line {node.start_mark.line + 1}: {advice} (rule: {rule})")


def _yaml12_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    return text.lower() == "true" if text.lower() in ("true", "false") else text  # yes/no/on/off: text


def _yaml12_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    return text if ":" in text else yaml.SafeLoader.construct_yaml_int(loader, node)  # 1:20 is not 80


# YAML 1.1's timestamps and `=` are text in YAML 1.2 (and in Pulumi's own stack files).
_ZoneFileLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TAG + "timestamp", _TAG + "value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ZoneFileLoader.add_constructor(_TAG + "bool", _yaml12_bool)
_ZoneFileLoader.add_constructor(_TAG + "int", _yaml12_int)

