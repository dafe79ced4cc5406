"""Secrets kept out of everything preflight reports about policy packs, pack messages included.

Which strings are secret (see secret_values) and the redactor that replaces them by "[secret]" in
text: diagnostics, not-applicable reasons, a pack's stderr and error messages.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from typing import Any

from .model import SECRET_TEXT, Registration, is_secret

_SHORTEST_REDACTED_SECRET = 6  # shorter values would mangle ordinary text
_CREDENTIAL_NAME = re.compile(r"pass|secret|token|key|credential|private|auth", re.IGNORECASE)


def is_credential_name(name: str) -> bool:
    """Whether a field of a secret object is named like a credential (its value is hidden too)."""
    return bool(_CREDENTIAL_NAME.search(name))


def secret_values(
    config: dict[str, str], secret_keys: Iterable[str], registrations: Iterable[Registration]
) -> set[str]:
    """Strings that must never be shown: secret config values (and their credential-named fields when
    they hold JSON), secret-wrapped strings, and credential-named fields of secret-wrapped objects.

    A secret object's other fields stay readable: pulumi-command makes a whole `connection` secret,
    and hiding its host address and user everywhere would make policy messages useless."""
    found: set[str] = set()
    for key in secret_keys:
        if key in config:
            found.add(config[key])
            with contextlib.suppress(ValueError, TypeError):
                _collect_credentials(json.loads(config[key]), found)
    for registration in registrations:
        _collect_secret_strings(registration.inputs, found)
        _collect_secret_strings(registration.outputs, found)
    return {value for value in found if isinstance(value, str) and len(value) >= _SHORTEST_REDACTED_SECRET}


def registration_secrets(registration: Registration) -> set[str]:
    """The secret strings one registration carries (see secret_values), short ones included."""
    found: set[str] = set()
    _collect_secret_strings(registration.inputs, found)
    _collect_secret_strings(registration.outputs, found)
    return found


def _collect_secret_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if is_secret(value):
            secret = value.get("value")
            if isinstance(secret, str):
                found.add(secret)
            else:
                _collect_credentials(secret, found)
            return
        for item in value.values():
            _collect_secret_strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_secret_strings(item, found)


def _collect_credentials(value: Any, found: set[str], *, named_as_credential: bool = False) -> None:
    if isinstance(value, str):
        if named_as_credential:
            found.add(value)
    elif isinstance(value, dict):
        if is_secret(value):
            _collect_secret_strings(value, found)
            return
        for key, item in value.items():
            credential = named_as_credential or is_credential_name(str(key))
            _collect_credentials(item, found, named_as_credential=credential)
    elif isinstance(value, list):
        for item in value:
            _collect_credentials(item, found, named_as_credential=named_as_credential)


class Redactor:
    """Replaces known secrets in text; more can be added while packs run (registrations still arrive)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= _SHORTEST_REDACTED_SECRET} - self._secrets
        if not new:
            return
        self._secrets |= new
        ordered = sorted(self._secrets, key=len, reverse=True)  # longest first: one secret may contain another
        self._pattern = re.compile("|".join(re.escape(secret) for secret in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(SECRET_TEXT, text) if pattern and text else text
