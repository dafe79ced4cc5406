"""A stack's deployment checkpoint: what `pulumi stack export` writes, read and (for preflight's own loop) written.

The format is pulumi/pulumi's apitype (sdk/go/common/apitype/core.go), `UntypedDeployment` version 3:

    {"version": 3, "deployment": {"manifest": {...}, "secrets_providers": {...},
                                  "resources": [ResourceV3, ...], "pending_operations": [OperationV2, ...]}}

Resource properties are in the engine's serialized form (pkg/resource/stack/deployment.go): an unknown is
the computed placeholder, a secret `{SIG_KEY: SECRET_SIG, "ciphertext": ...}` (`"plaintext": "<json>"` with
`--show-secrets`), an asset `{SIG_KEY: ASSET_SIG, "hash": ..., "text"|"path"|"uri": ...}`.

Reading refuses, with one paragraph naming the file and what is wrong (never a value from it): text that is
not JSON, another format version, the checkpoint of another stack or project, malformed resources.
Resources marked `delete: true` (left by an interrupted replacement) are kept apart: the next update deletes
them. Resources read with `.get()` (`external: true`) are not the program's registrations and are kept
apart too. Pending operations give the warning the CLI gives before an update.

Writing (`checkpoint_document`) gives the same shape for the state an `up` of the previewed plan would
leave. preflight holds no real secret, so a secret is stored as
`{SIG_KEY: SECRET_SIG, "ciphertext": "preflight-sha256:<hex>"}`, the SHA-256 of the value's wire-form JSON:
never in clear, and comparable by preflight's next preview. Such a file is for preflight's own loop, not
for `pulumi stack import` (its secrets provider type, `preflight`, makes the CLI refuse it).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preflight.model import ARCHIVE_SIG, ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN
from preflight.steps import secret_ciphertext

VERSION = 3
PREFLIGHT_SECRETS_PROVIDER = "preflight"
PREFLIGHT_ENGINE_VERSION = "preflight"
# Deployment features of version 4 (pkg/resource/stack/deployment.go); named when refusing one.
_KNOWN_FEATURES = ("refreshBeforeUpdate", "views", "hooks", "taint", "replaceWith", "snippets-prototype",
                   "extensionParameterization", "byteString")
_OPERATION_TYPES = ("creating", "updating", "deleting", "reading")
_EXPORT_HINT = "give the file `pulumi stack export --file state.json` writes"


class StateError(Exception):
    """A checkpoint that cannot be used; `str()` is one paragraph naming the file and what is wrong."""


@dataclass(frozen=True)
class PriorResource:
    """One resource of the checkpoint; `inputs` and `outputs` in the checkpoint's serialized form."""

    urn: str
    type: str
    custom: bool
    id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    parent: str | None
    protect: bool
    provider: str | None
    dependencies: tuple[str, ...]
    delete_before_replace: bool
    retain_on_delete: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    delete: bool = False  # pending deletion: the next update deletes it


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint's live resources in checkpoint order, and what the next update must know besides."""

    resources: tuple[PriorResource, ...]
    pending_deletion: tuple[PriorResource, ...] = ()  # `delete: true`: deleted by the next update
    external: tuple[PriorResource, ...] = ()  # read with `.get()`: not registrations
    warnings: tuple[str, ...] = ()  # what the CLI warns of (pending operations)
    source: str = ""  # the file it was read from
    _by_urn: dict[str, PriorResource] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_urn:
            self._by_urn.update((resource.urn, resource) for resource in self.resources)

    def get(self, urn: str) -> PriorResource | None:
        return self._by_urn.get(urn)


# ---------------------------------------------------------------------------------------------------
# Reading


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def split_urn(urn: str) -> tuple[str, str, str, str] | None:
    """`urn:pulumi:<stack>::<project>::<qualified type>::<name>` -> its four parts (None if it is not one)."""
    if not urn.startswith("urn:pulumi:"):
        return None
    parts = urn[len("urn:pulumi:"):].split("::", 3)
    if len(parts) != 4 or not all(parts[:3]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


class _Reader:
    """Checks one deployment's resources in one pass; every refusal names the file and the resource."""

    def __init__(self, path: Path, project: str, stack: str):
        self.path = path
        self.project = project
        self.stack = stack

    def fail(self, where: str, problem: str) -> StateError:
        return StateError(f"{self.path}: {where}{problem}")

    def _urn(self, where: str, key: str, value: Any, *, own: bool) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"`{key}` must be a URN string, not {_json_type(value)}.")
        parts = split_urn(value)
        if parts is None:
            raise self.fail(where, f"`{key}` is not a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>).")
        stack, project = parts[0], parts[1]
        if own and (stack, project) != (self.stack, self.project):
            raise self.fail(where, f"this is a checkpoint of stack '{stack}' of project '{project}', not of stack "
                                   f"'{self.stack}' of project '{self.project}'; export the stack you preview "
                                   f"(`pulumi stack export --stack {self.stack} --file state.json`).")
        return value

    def _flag(self, where: str, entry: Mapping[str, Any], key: str) -> bool:
        value = entry.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(where, f"`{key}` must be true or false, not {_json_type(value)}.")
        return value

    def _object(self, where: str, entry: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = entry.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"`{key}` must be an object, not {_json_type(value)}.")
        return value

    def _strings(self, where: str, entry: Mapping[str, Any], key: str) -> list[str]:
        value = entry.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(where, f"`{key}` must be a list of strings.")
        return value

    def resource(self, index: int, entry: Any, label: str = "resource") -> PriorResource:
        where = f"{label} #{index + 1}: "
        if not isinstance(entry, dict):
            raise self.fail(where, f"must be an object, not {_json_type(entry)}.")
        urn = self._urn(where, "urn", entry.get("urn"), own=True)
        where = f"{label} #{index + 1} ({urn}): "
        resource_type = entry.get("type")
        if not isinstance(resource_type, str) or not resource_type:
            raise self.fail(where, "`type` must be the resource's type token.")
        qualified = split_urn(urn)[2]  # type: ignore[index]
        if qualified.rsplit("$", 1)[-1] != resource_type:
            raise self.fail(where, f"`type` {resource_type} is not the type its URN names.")
        custom = self._flag(where, entry, "custom")
        resource_id = entry.get("id", "")
        if resource_id is None:
            resource_id = ""
        if not isinstance(resource_id, str):
            raise self.fail(where, f"`id` must be a string, not {_json_type(resource_id)}.")
        parent = entry.get("parent") or None
        if parent is not None:
            self._urn(where, "parent", parent, own=True)
        provider = entry.get("provider") or None
        if provider is not None:
            if not isinstance(provider, str) or "::" not in provider:
                raise self.fail(where, "`provider` must be a provider reference `<provider urn>::<id>`.")
            self._urn(where, "provider", provider.rsplit("::", 1)[0], own=True)
        dependencies = self._strings(where, entry, "dependencies")
        dependencies_by_key = self._object(where, entry, "propertyDependencies")
        for deps in dependencies_by_key.values():
            if deps is not None and (not isinstance(deps, list) or not all(isinstance(d, str) for d in deps)):
                raise self.fail(where, "`propertyDependencies` must map each property to a list of URNs.")
        for key in ("ignoreChanges", "replaceOnChanges", "additionalSecretOutputs", "aliases"):
            self._strings(where, entry, key)
        return PriorResource(
            urn=urn,
            type=resource_type,
            custom=custom,
            id=resource_id,
            inputs=self._object(where, entry, "inputs"),
            outputs=self._object(where, entry, "outputs"),
            parent=parent,
            protect=self._flag(where, entry, "protect"),
            provider=provider,
            dependencies=tuple(dependencies),
            # ResourceV3 has no such field today; read it should a later CLI write it.
            delete_before_replace=self._flag(where, entry, "deleteBeforeReplace"),
            retain_on_delete=self._flag(where, entry, "retainOnDelete"),
            raw=entry,
            delete=self._flag(where, entry, "delete"),
        )

    def external(self, where: str, entry: Mapping[str, Any]) -> bool:
        return self._flag(where, entry, "external")


def _load_json(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise StateError(f"{path} is a directory; {_EXPORT_HINT}.") from None
    except OSError as error:
        raise StateError(f"cannot read the checkpoint {path}: {error.strerror or error}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StateError(f"{path} is not UTF-8 text (byte {error.start}); {_EXPORT_HINT}.") from None
    if not text.strip():
        raise StateError(f"{path} is empty; {_EXPORT_HINT}.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        # The decoder's own words name the rule and the place, never the text.
        raise StateError(f"{path} is not JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                         f"{_EXPORT_HINT}.") from None
    except RecursionError:
        raise StateError(f"{path} nests values too deeply to be a checkpoint; {_EXPORT_HINT}.") from None


def _check_version(path: Path, document: Any) -> dict[str, Any]:
    """The `deployment` object of a version 3 export ({} for a stack never deployed)."""
    if not isinstance(document, dict):
        raise StateError(f"{path} holds {_json_type(document)}, not a deployment object; {_EXPORT_HINT}.")
    if "checkpoint" in document and "deployment" not in document:
        raise StateError(f"{path} is a backend checkpoint file (it has `checkpoint`, not `deployment`); "
                         f"{_EXPORT_HINT}.")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise StateError(f"{path} has no deployment `version` number; {_EXPORT_HINT}.")
    if version == 4:
        features = document.get("features")
        named = ", ".join(str(f) for f in features) if isinstance(features, list) and features else "none named"
        raise StateError(f"{path} is a version 4 deployment (features: {named}); preflight reads version 3, "
                         "and does not emulate what these features change in an update.")
    if version != VERSION:
        older = "an older format: export it with a current Pulumi CLI" if 0 < version < VERSION else \
            "a format preflight does not know"
        raise StateError(f"{path} is a version {version} deployment, {older}; preflight reads version {VERSION}.")
    deployment = document.get("deployment")
    if deployment is None:
        return {}
    if not isinstance(deployment, dict):
        raise StateError(f"{path}: `deployment` must be an object, not {_json_type(deployment)}.")
    return deployment


def pending_operations_warning(operations: list[tuple[str, str]]) -> str:
    """The warning the CLI prints before an update (pkg/resource/deploy/deployment_executor.go)."""
    listed = "".join(f"  * {urn}, interrupted while {kind}\n" for urn, kind in operations)
    return (
        "Attempting to deploy or update resources "
        f"with {len(operations)} pending operations from previous deployment.\n" + listed
        + "These resources are in an unknown state because the Pulumi CLI was interrupted while waiting for "
        "changes to these resources to complete. You should confirm whether or not the operations listed "
        "completed successfully by checking the state of the appropriate provider. For example, if you are "
        "using AWS, you can confirm using the AWS Console.\n\nOnce you have confirmed the status of the "
        "interrupted operations, you can repair your stack using `pulumi refresh` which will refresh the "
        "state from the provider you are using and clear the pending operations if there are any.\n\n"
        "Note that `pulumi refresh` will need to be run interactively to clear pending CREATE operations."
    )


def read_checkpoint(path: Path, *, project: str, stack: str) -> Checkpoint:
    """The checkpoint `pulumi stack export` wrote for `stack` of `project`; StateError if it is not usable."""
    path = Path(path)
    deployment = _check_version(path, _load_json(path))
    reader = _Reader(path, project, stack)
    entries = deployment.get("resources")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise StateError(f"{path}: `deployment.resources` must be a list, not {_json_type(entries)}.")
    live: list[PriorResource] = []
    pending: list[PriorResource] = []
    external: list[PriorResource] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        resource = reader.resource(index, entry)
        if resource.delete:
            pending.append(resource)
            continue
        if reader.external(f"resource #{index + 1}: ", entry):
            external.append(resource)
            continue
        if resource.urn in seen:
            raise StateError(f"{path}: resource #{index + 1} ({resource.urn}): this URN is already the URN of an "
                             "earlier resource; a checkpoint holds each live resource once.")
        seen.add(resource.urn)
        live.append(resource)

    operations = deployment.get("pending_operations")
    if operations is None:
        operations = []
    if not isinstance(operations, list):
        raise StateError(f"{path}: `deployment.pending_operations` must be a list, not {_json_type(operations)}.")
    interrupted: list[tuple[str, str]] = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or operation.get("type") not in _OPERATION_TYPES:
            raise StateError(f"{path}: pending operation #{index + 1} must be an object whose `type` is one of "
                             f"{', '.join(_OPERATION_TYPES)}.")
        resource = reader.resource(index, operation.get("resource"), label="pending operation")
        interrupted.append((resource.urn, operation["type"]))
    warnings = (pending_operations_warning(interrupted),) if interrupted else ()
    if pending:
        shown = ", ".join(resource.urn for resource in pending[:5]) + (", ..." if len(pending) > 5 else "")
        warnings += (f"{len(pending)} resource(s) of the checkpoint are marked for deletion (left by an interrupted "
                     f"replacement); the next update deletes them: {shown}",)
    return Checkpoint(resources=tuple(live), pending_deletion=tuple(pending), external=tuple(external),
                      warnings=warnings, source=str(path))


# ---------------------------------------------------------------------------------------------------
# Secrets and the wire form


def _asset_hash(value: Mapping[str, Any]) -> str | None:
    """The hash the engine records for a text asset (hex SHA-256 of its bytes)."""
    text = value.get("text")
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if isinstance(text, str) else None


def to_checkpoint(value: Any) -> Any:
    """A wire-form value as a checkpoint stores it: secrets sealed, whole numbers as ints, text assets hashed."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [to_checkpoint(item) for item in value]
    if not isinstance(value, dict):
        return value
    signature = value.get(SIG_KEY)
    if signature == SECRET_SIG:
        if "value" in value:
            # The digest the diff compares (steps.secret_ciphertext), never the value.
            return {SIG_KEY: SECRET_SIG, "ciphertext": secret_ciphertext(value["value"])}
        return dict(value)  # already sealed (an old output kept as it was)
    converted = {key: to_checkpoint(item) for key, item in value.items()}
    if signature == ASSET_SIG and "hash" not in converted:
        digest = _asset_hash(value)
        if digest is not None:
            converted["hash"] = digest
    return converted


def from_checkpoint(value: Any) -> Any:
    """A checkpoint value as a program would receive it at a preview: plaintext secrets opened, sealed ones
    an unknown inside a secret (their value cannot be known offline)."""
    if isinstance(value, list):
        return [from_checkpoint(item) for item in value]
    if not isinstance(value, dict):
        return value
    signature = value.get(SIG_KEY)
    if signature == SECRET_SIG:
        plaintext = value.get("plaintext")
        if isinstance(plaintext, str) and plaintext:
            try:
                return {SIG_KEY: SECRET_SIG, "value": from_checkpoint(json.loads(plaintext))}
            except ValueError:
                pass
        return {SIG_KEY: SECRET_SIG, "value": UNKNOWN}
    if signature in (ASSET_SIG, ARCHIVE_SIG):
        return {key: item for key, item in value.items() if key != "hash"}
    return {key: from_checkpoint(item) for key, item in value.items()}


# ---------------------------------------------------------------------------------------------------
# Writing


def derived_id(urn: str, old_id: str = "") -> str:
    """The id a created (or, with its old id, replaced) resource gets in a simulated up: stable per URN."""
    return hashlib.sha256(f"{urn}\n{old_id}".encode()).hexdigest()[:32]


def resource_entry(registration: Any, *, protect: bool | None = None) -> dict[str, Any]:
    """One ResourceV3 for a registration of an up run (ids known), in the order the engine writes fields."""
    entry: dict[str, Any] = {"urn": registration.urn, "custom": registration.custom}
    if registration.custom and registration.id:
        entry["id"] = registration.id
    entry["type"] = registration.type
    if registration.inputs:
        entry["inputs"] = to_checkpoint(registration.inputs)
    if registration.outputs:
        entry["outputs"] = to_checkpoint(registration.outputs)
    if registration.parent:
        entry["parent"] = registration.parent
    if registration.protect if protect is None else protect:
        entry["protect"] = True
    if registration.dependencies:
        entry["dependencies"] = list(registration.dependencies)
    if registration.provider:
        entry["provider"] = registration.provider
    if registration.property_dependencies:
        entry["propertyDependencies"] = {key: list(deps) for key, deps in registration.property_dependencies.items()}
    optional = (("additionalSecretOutputs", "additional_secret_outputs"), ("retainOnDelete", "retain_on_delete"),
                ("ignoreChanges", "ignore_changes"), ("replaceOnChanges", "replace_on_changes"))
    for key, attribute in optional:
        value = getattr(registration, attribute, None)
        if value:
            entry[key] = list(value) if isinstance(value, (list, tuple)) else value
    return entry


def checkpoint_document(registrations: Iterable[Any], *, time: str) -> dict[str, Any]:
    """The UntypedDeployment (version 3) holding `registrations`, as `pulumi stack export` would write it."""
    return {
        "version": VERSION,
        "deployment": {
            "manifest": {
                "time": time,
                "magic": hashlib.sha256(PREFLIGHT_ENGINE_VERSION.encode()).hexdigest(),
                "version": PREFLIGHT_ENGINE_VERSION,
            },
            # Not a provider the CLI knows: `pulumi stack import` of this file fails instead of importing
            # digests as if they were ciphertext.
            "secrets_providers": {"type": PREFLIGHT_SECRETS_PROVIDER, "state": {
                "note": "written by preflight; secrets are SHA-256 digests, not ciphertext; not for pulumi stack "
                        "import"}},
            "resources": [resource_entry(registration) for registration in registrations],
        },
    }


def write_checkpoint(path: Path, document: Mapping[str, Any]) -> None:
    """Write beside `path` and rename: never half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=4, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
