"""`zonesFrom`: zones kept in files beside the stack config (hundreds of customer zones).

Each file holds a list of zones as `isp:zones` does, in YAML, or in JSON when its name ends
in .json. Zones read here follow the inline ones; an error in one names its file and index.
"""

from __future__ import annotations

import json
import os
from typing import Any

from components.config.keys import CONFIG_NAMESPACE


class ZoneListError(ValueError):
    """A zonesFrom problem, one line naming the key, the file and the rule."""


def listed_zones(files: Any, project_dir: str) -> tuple[list[Any], list[tuple[str, int] | None]]:
    """The zones of every `zonesFrom` file in order, with (file, index in file) for each."""
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        shown = json.dumps(files, default=str)[:120]
        raise ZoneListError(f"{CONFIG_NAMESPACE}:zonesFrom = {shown}: must be a list of file paths "
                            "(relative to the project directory)")
    zones: list[Any] = []
    sources: list[tuple[str, int] | None] = []
    for i, name in enumerate(files):
        problem, listed = _read_zone_list(os.path.join(project_dir, name))
        if problem:
            key = f"{CONFIG_NAMESPACE}:zonesFrom[{i}]"
            raise ZoneListError(f"{key} = {json.dumps(name)}: {problem}")
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
