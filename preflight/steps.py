"""What a `pulumi preview` against a deployed stack would do to each resource: create, same, update,
replace or delete, with the changed input property paths, as `pulumi preview --diff` shows them.

The engine's rules (pkg/resource/deploy/step_generator.go in pulumi/pulumi), in the order it applies them:
- no old state: create;
- the old state is pending replacement: replace;
- a custom resource whose provider reference changed replaces when one side has no provider, or when the
  provider it now names is itself replaced (`providerChanged`; between two different provider resources
  the engine asks the new provider's DiffConfig, which preflight does not run: not a replacement);
- otherwise the new inputs are compared with the old inputs: `diffResource`'s own fallback, and what
  pulumi-command's provider (and, for the inputs a program sets, the bridged Cloudflare provider) reports.
  `ignore_changes` paths first take their old values (`processIgnoreChanges`, PropertyPath.Reset);
  secrets are compared by their values (`unwrapResourceSecretsAndOutputs`); null and missing are the same;
  assets compare by content hash; an unknown new value is a change.
- a change replaces when one of its paths lies under a `replace_on_changes` path (`*` too;
  `applyReplaceOnChanges`) or under a top-level key the provider replaces on (preflight.replacements);
  a component (custom=False) has no provider and is never replaced.

A checkpoint from `pulumi stack export` holds secrets as ciphertext preflight cannot read (it never holds
real secrets): such a value counts as unchanged, and `Step.not_compared` says how many there were. A
checkpoint preflight wrote holds `secret_ciphertext(value)`, which it compares exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight.model import (
    ARCHIVE_SIG,
    ASSET_SIG,
    OUTPUT_VALUE_SIG,
    PROVIDER_TYPE_PREFIX,
    RESOURCE_REF_SIG,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN,
    Registration,
    is_secret,
    provider_urn,
)
from preflight.propertypath import (
    apply_ignore_changes,
    format_property_path,
    is_object,
    open_secret,
    parse_property_path,
    path_contains,
)
from preflight.stackconfig import PLACEHOLDER_PREFIX

if TYPE_CHECKING:
    from preflight.state import Checkpoint, PriorResource

OPS = ("create", "update", "replace", "delete", "same")
# What a checkpoint preflight writes holds in place of a secret's ciphertext.
PREFLIGHT_CIPHERTEXT_PREFIX = "preflight-sha256:"


@dataclass(frozen=True)
class Step:
    """What the engine would do to one resource."""

    op: str
    urn: str
    type: str
    name: str
    keys: tuple[str, ...] = ()  # changed input property paths, as `pulumi preview --diff` names them
    replace_keys: tuple[str, ...] = ()  # those forcing the replacement (subset of keys; () unless replace)
    protect: bool = False  # the protect that governs this step (the old state's for a delete)
    old: PriorResource | None = None
    not_compared: int = 0  # secret values of the old state that could not be compared (counted unchanged)


# ---------------------------------------------------------------------------------------------------
# Comparing old inputs (checkpoint) with new inputs (wire form)


def _canonical(value: Any) -> Any:
    """Whole floats as ints, so 300 and 300.0 (both float64 to the engine) hash alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def _unwrap_all(value: Any) -> Any:
    """The value with every secret and output value unwrapped (what the engine compares)."""
    if isinstance(value, dict):
        signature = value.get(SIG_KEY)
        if signature == SECRET_SIG:
            return _unwrap_all(value.get("value"))
        if signature == OUTPUT_VALUE_SIG:
            return _unwrap_all(value.get("value", UNKNOWN))
        return {key: _unwrap_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_all(item) for item in value]
    return value


def secret_ciphertext(value: Any) -> str:
    """What a checkpoint preflight writes in place of a secret's ciphertext: the SHA-256 of the value's
    wire-form JSON (secrets inside unwrapped, keys sorted, compact, whole floats as ints)."""
    text = json.dumps(_canonical(_unwrap_all(value)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return PREFLIGHT_CIPHERTEXT_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _contains_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, dict):
        if value.get(SIG_KEY) == OUTPUT_VALUE_SIG and "value" not in value:
            return True
        return any(_contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(item) for item in value)
    return False


def _mentions_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return PLACEHOLDER_PREFIX in value
    if isinstance(value, dict):
        return any(_mentions_placeholder(item) for item in value.values())
    if isinstance(value, list):
        return any(_mentions_placeholder(item) for item in value)
    return False


def _exactly_equal(a: Any, b: Any) -> bool:
    """After `a == b`: what Python equality conflates and the engine does not (True vs 1) and unknowns
    (an unknown new value is a change, whatever the old one)."""
    if type(a) is str:
        return a != UNKNOWN
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if type(a) is dict:
        return all(_exactly_equal(item, b[key]) for key, item in a.items())
    if type(a) is list:
        return all(map(_exactly_equal, a, b))
    return True


def _asset_hash(asset: Mapping[str, Any]) -> str | None:
    """Asset.EnsureHash: the SHA-256 of the content; a file is read from the working directory (the
    program's, as for the engine)."""
    if isinstance(asset.get("hash"), str) and asset["hash"]:
        return asset["hash"]
    if isinstance(asset.get("text"), str) and asset["text"] != UNKNOWN:
        return hashlib.sha256(asset["text"].encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(asset.get("path"), str):
        try:
            return hashlib.sha256(Path(asset["path"]).read_bytes()).hexdigest()
        except OSError:
            return None
    return None


def _assets_equal(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Asset.Equals: by content hash. Without one (a remote asset, a file preflight cannot read) the same
    path or uri counts as the same content."""
    old_hash, new_hash = _asset_hash(old), _asset_hash(new)
    if old_hash is not None and new_hash is not None:
        return old_hash == new_hash
    for key in ("path", "uri"):
        if key in old or key in new:
            return old.get(key) == new.get(key)
    return False


def _archives_equal(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    if old.get("hash") and new.get("hash"):
        return old["hash"] == new["hash"]
    if "assets" in old or "assets" in new:
        old_assets, new_assets = old.get("assets"), new.get("assets")
        if not (isinstance(old_assets, dict) and isinstance(new_assets, dict)):
            return False
        if old_assets.keys() != new_assets.keys():
            return False
        return all(not _differs(old_assets[name], new_assets[name]) for name in new_assets)
    return all(old.get(key) == new.get(key) for key in ("path", "uri"))


def _differs(old: Any, new: Any) -> bool:
    paths: list[str] = []
    _Diff(paths).value(old, new, ())
    return bool(paths)


class _Diff:
    """ObjectDiff -> detailed diff paths (NewDetailedDiffFromObjectDiff), secrets unwrapped."""

    __slots__ = ("not_compared", "paths")

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.not_compared = 0

    def changed(self, path: tuple[str | int, ...]) -> None:
        self.paths.append(format_property_path(path))

    def value(self, old: Any, new: Any, path: tuple[str | int, ...]) -> None:
        if old == new and _exactly_equal(old, new):
            return
        new = _unwrap_new(new)
        if is_secret(old):
            old, _ = open_secret(old)
            if is_secret(old):
                self.opaque(old, new, path)
                return
        if isinstance(new, str) and new == UNKNOWN:
            self.changed(path)
            return
        if old == new and _exactly_equal(old, new):
            return
        if _mentions_placeholder(new) and not _mentions_placeholder(old):
            # The real value is a secret preflight never holds: there is nothing to compare it with.
            self.not_compared += 1
            return
        if is_object(old) and is_object(new):
            self.object(old, new, path)
        elif isinstance(old, list) and isinstance(new, list):
            for index in range(min(len(old), len(new))):
                self.value(old[index], new[index], (*path, index))
            for index in range(len(old), len(new)):
                self.changed((*path, index))
            for index in range(len(new), len(old)):
                self.changed((*path, index))
        elif not _primitives_equal(old, new):
            self.changed(path)

    def object(self, old: Mapping[str, Any], new: Mapping[str, Any], path: tuple[str | int, ...]) -> None:
        for key in _keys(old, new):
            old_value, new_value = old.get(key), new.get(key)
            if old_value is None or new_value is None:
                # Null is no value: present on one side only is an add or a delete; null on both is the same.
                if (old_value is None) != (new_value is None):
                    self.changed((*path, key))
                continue
            self.value(old_value, new_value, (*path, key))

    def opaque(self, ciphertext: Mapping[str, Any], new: Any, path: tuple[str | int, ...]) -> None:
        """A secret in the state preflight cannot read."""
        if _contains_unknown(new):
            self.changed(path)
            return
        text = ciphertext.get("ciphertext")
        if isinstance(text, str) and text.startswith(PREFLIGHT_CIPHERTEXT_PREFIX):
            if text != secret_ciphertext(new):
                self.changed(path)
            return
        self.not_compared += 1


def _unwrap_new(value: Any) -> Any:
    while isinstance(value, dict):
        signature = value.get(SIG_KEY)
        if signature == SECRET_SIG and "value" in value:
            value = value["value"]
        elif signature == OUTPUT_VALUE_SIG:
            value = value.get("value", UNKNOWN)
        else:
            break
    return value


def _primitives_equal(old: Any, new: Any) -> bool:
    """DeepEquals for what is not an object or array: assets, archives, references, scalars."""
    if isinstance(old, dict) and isinstance(new, dict):
        signature = new.get(SIG_KEY)
        if signature != old.get(SIG_KEY):
            return False
        if signature == ASSET_SIG:
            return _assets_equal(old, new)
        if signature == ARCHIVE_SIG:
            return _archives_equal(old, new)
        if signature == RESOURCE_REF_SIG:
            return old.get("urn") == new.get("urn") and old.get("id") == new.get("id") \
                and not _contains_unknown(new.get("id"))
        return old == new and _exactly_equal(old, new)
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return float(old) == float(new)
    return type(old) is type(new) and old == new


def diff_inputs(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> tuple[list[str], list[str], int]:
    """(changed property paths, changed top-level keys, secret values not compared). Top-level values
    are compared first; only a key whose values differ is walked."""
    paths: list[str] = []
    top: list[str] = []
    walker = _Diff(paths)
    for key in _keys(old_inputs, new_inputs):
        old_value, new_value = old_inputs.get(key), new_inputs.get(key)
        if old_value == new_value and _exactly_equal(old_value, new_value):
            continue
        before = len(paths)
        if old_value is None or new_value is None:
            paths.append(format_property_path((key,)))
        else:
            walker.value(old_value, new_value, (key,))
        if len(paths) > before:
            top.append(key)
    return paths, top, walker.not_compared


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(set(old).union(new))


# ---------------------------------------------------------------------------------------------------
# Steps


def urn_name(urn: str) -> str:
    """The resource name, the URN's last part (a name may itself hold `::`)."""
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn


def is_default_provider(urn: str) -> bool:
    """providers.IsDefaultProvider: the engine's own default providers, internal steps the CLI neither
    shows nor counts."""
    parts = urn.split("::", 3)
    return len(parts) == 4 and parts[2].rsplit("$", 1)[-1].startswith(PROVIDER_TYPE_PREFIX) \
        and parts[3].startswith("default")


def _provider_replaces(old_ref: str, new_ref: str, replaced_providers: Container[str]) -> bool:
    if old_ref == new_ref:
        return False
    if not old_ref or not new_ref:
        return True
    # Same provider resource with another id (it is replaced, or preflight does not know its id yet):
    # a replacement exactly when that provider is replaced. Another provider resource: the engine asks
    # the new provider's DiffConfig, which preflight does not run.
    return provider_urn(new_ref) in replaced_providers


def diff_step(registration: Registration, prior: PriorResource | None, replace_on_changes: Sequence[str] = (),
              ignore_changes: Sequence[str] = (), *, replaced_providers: Container[str] = frozenset()) -> Step:
    """The step the engine would generate for `registration`, given the resource's old state.

    `replaced_providers`: URNs of provider resources whose own step is a replace (their consumers are
    replaced with them, replace key "provider")."""
    urn, kind, name = registration.urn, registration.type, registration.name
    if prior is None:
        return Step("create", urn, kind, name, protect=registration.protect)
    new_inputs: Mapping[str, Any] = registration.inputs
    if ignore_changes:
        new_inputs, _ = apply_ignore_changes(new_inputs, prior.inputs, ignore_changes)
    paths, top, not_compared = diff_inputs(prior.inputs, new_inputs)
    keys: tuple[str, ...] = tuple(paths)
    replace: tuple[str, ...] = ()
    if registration.custom:
        if _provider_replaces(prior.provider or "", registration.provider or "", replaced_providers):
            keys, replace = ("provider", *keys), ("provider",)
        elif paths:
            replace = _replace_paths(kind, paths, top, replace_on_changes)
    pending = bool(prior.raw.get("pendingReplacement")) if isinstance(prior.raw, Mapping) else False
    if replace or (pending and registration.custom):
        op = "replace"
    elif keys:
        op = "update"
    else:
        op = "same"
    return Step(op, urn, kind, name, keys, replace, registration.protect, prior, not_compared)


def _replace_paths(kind: str, paths: list[str], top: list[str], replace_on_changes: Sequence[str]) -> tuple[str, ...]:
    from preflight.replacements import replacing_keys

    provider_keys = set(replacing_keys(kind, top))
    patterns = []
    for text in replace_on_changes:
        try:
            patterns.append(parse_property_path(text))
        except ValueError:
            continue
    forcing = []
    for text in paths:
        path = parse_property_path(text)
        if path[0] in provider_keys or any(path_contains(pattern, path) for pattern in patterns):
            forcing.append(text)
    return tuple(forcing)


def deletions(checkpoint: Checkpoint, registered: Collection[str]) -> list[Step]:
    """A delete for every resource in the state the program no longer registers, dependents first
    (the checkpoint lists dependencies before dependents). Reads (external), views and leftovers of
    earlier replacements are the engine's internal business (discards, delete-replaced): not listed."""
    steps = []
    for prior in reversed(checkpoint.resources):
        raw = prior.raw if isinstance(prior.raw, Mapping) else {}
        if prior.urn in registered or raw.get("delete") or raw.get("external") or raw.get("viewOf") \
                or raw.get("pendingReplacement"):
            continue
        steps.append(Step("delete", prior.urn, prior.type, urn_name(prior.urn), protect=prior.protect, old=prior))
    return steps


def _go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote): double quotes, backslash escapes for the unprintable."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x80 else f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def protect_errors(steps: Iterable[Step]) -> list[str]:
    """The engine's errors for each protected resource a step would replace or delete, in its words:
    step_generator.go (replace: both old and new state protected) and step.go deleteProtectedError."""
    errors = []
    for step in steps:
        if step.op == "replace" and step.protect and step.old is not None and step.old.protect:
            errors.append(f"unable to replace resource {_go_quote(step.urn)}\n"
                          "as it is currently marked for protection. To unprotect the resource, "
                          "remove the `protect` flag from the resource in your Pulumi "
                          "program and run `pulumi up`")
        elif step.op == "delete" and step.protect:
            errors.append(f"resource {_go_quote(step.urn)} cannot be deleted\n"
                          "because it is protected. To unprotect the resource, "
                          "either remove the `protect` flag from the resource in your Pulumi "
                          "program and run `pulumi up`, or use the command:\n"
                          f"`pulumi state unprotect '{step.urn}'`")
    return errors


def op_counts(steps: Iterable[Step]) -> dict[str, int]:
    """Steps per op as the CLI's summary counts them: default providers are internal steps, not counted."""
    counts = dict.fromkeys(OPS, 0)
    for step in steps:
        if not is_default_provider(step.urn):
            counts[step.op] += 1
    return counts


def not_compared(steps: Iterable[Step]) -> int:
    """Secret values in the state the steps could not compare (each counted unchanged)."""
    return sum(step.not_compared for step in steps)
