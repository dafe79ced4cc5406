"""Dovecot settings the mailbox lesson needs: `mail_location` (2.3) and `mail_driver` (2.4).

Dovecot's config is `key = value` lines inside nested `section {}` blocks, with `#`
comments and `!include`. Every assignment of the keys asked for is returned, with the
section it sits in, so a namespace's own mbox location is seen too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    section: str  # "" at top level, else e.g. "namespace inbox"
    line: int


_ASSIGN = re.compile(r"^([A-Za-z0-9_/]+)\s*=\s*(.*)$")


def settings(text: str, keys: set[str]) -> list[Setting]:
    found: list[Setting] = []
    stack: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("!") else ""
        if not line:
            continue
        if line.endswith("{"):
            stack.append(line[:-1].strip())
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        match = _ASSIGN.match(line)
        if match and match.group(1) in keys:
            found.append(Setting(match.group(1), match.group(2).strip().strip('"'), " / ".join(stack), number))
    return found


def mbox_settings(text: str) -> list[Setting]:
    """Assignments that select mbox storage."""
    hits = []
    for setting in settings(text, {"mail_location", "mail_driver"}):
        value = setting.value.strip().lower()
        if (setting.key == "mail_location" and value.startswith("mbox:")) or (
                setting.key == "mail_driver" and value == "mbox"):
            hits.append(setting)
    return hits
