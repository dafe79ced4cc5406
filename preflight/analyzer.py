"""Drive CrossGuard policy packs through the analyzer gRPC protocol, as `pulumi preview --policy-pack` does.

What the CLI does, and what this module repeats (pulumi/pulumi sources read):
- sdk/go/common/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer: a Python pack runs through the
  shim sdk/python/dist/pulumi-analyzer-policy-python, i.e. `<python> -u -m pulumi.policy <engine> .`
  in the pack directory, where <python> is `<virtualenv>/bin/python` when PulumiPolicy.yaml names a
  virtualenv (its bin goes first on PATH, PYTHONHOME is unset) and `python3` otherwise. The env carries
  PULUMI_CONFIG, PULUMI_PROJECT, PULUMI_STACK, PULUMI_ORGANIZATION, PULUMI_DRY_RUN. The first stdout
  line is the gRPC port. Then Handshake (UNIMPLEMENTED tolerated) and ConfigureStack.
- pkg/engine/update.go, installAndLoadPolicyPlugins: GetAnalyzerInfo, then ReconcilePolicyPackConfig
  (pkg/resource/analyzer/config.go) and Configure with an explicit level for every policy.
- pkg/resource/deploy/step_generator.go: for every registration, Remediate through every pack (its
  rewritten inputs feed what follows), then Analyze through every pack; the violation is shown on the
  analysed resource whatever URN the pack gave. At the end AnalyzeStack with the outputs of every
  resource; a violation URN that names no registered resource falls back to the root stack.
- The PulumiPolicy.yaml version replaces the pack's own (Python packs always report 0.0.1), and a
  diagnostic without severity takes its policy's severity.

Deliberate differences: with no virtualenv we run this interpreter, not `python3` from PATH; with a
virtualenv that does not exist the CLI fails, we fall back to this interpreter and say so on stderr
(CI must create the pack's venv for its pinned dependencies to be used). pulumi.policy parses the
engine address but never connects to it (its Settings carry no engine; pulumi.log writes to stderr),
so no Engine service is served. Secret values (see secret_values) are replaced by "[secret]" in
everything this module reports or forwards, pack messages included.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from .marshal import analyze_request, outputs_after_remediation, root_stack_urn, stack_resource
from .model import SECRET_SIG, SIG_KEY, Registration
from .stackconfig import MAX_ENVIRONMENT_VARIABLE_BYTES, scrub

PACK_START_TIMEOUT_SECONDS = 30.0
PACK_CALL_TIMEOUT_SECONDS = 300.0
PACK_STOP_GRACE_SECONDS = 3.0
STDERR_TAIL_LINES = 30

# pulumi.policy requires an engine address argument but ignores it (see the module docstring).
_UNUSED_ENGINE_ADDRESS = "127.0.0.1:0"
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024  # what pulumi_policy allows itself
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
]
SECRET_PLACEHOLDER = "[secret]"
_SHORTEST_REDACTED_SECRET = 6  # shorter values would mangle ordinary text
_CREDENTIAL_NAME = re.compile(r"pass|secret|token|key|credential|private|auth", re.IGNORECASE)

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {name: value for value, name in _LEVEL_NAMES.items()}
_SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
_POLICY_TYPE_NAMES = {
    analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
    analyzer_pb2.POLICY_TYPE_STACK: "stack",
}
# The engine adds this property to every schema of a pack that supports config.
_ENFORCEMENT_LEVEL_SCHEMA = {"type": "string", "enum": list(ENFORCEMENT_LEVELS)}


class PackError(Exception):
    """A policy pack failed to start, crashed, or was given a configuration it rejects."""


@dataclass
class Violation:
    policy_pack: str
    policy_pack_version: str
    policy: str
    description: str
    enforcement_level: str  # "mandatory" | "advisory" | "remediate"
    severity: str  # "low" | "medium" | "high" | "critical" | ""
    urn: str
    message: str


@dataclass
class NotApplicable:
    policy_pack: str
    policy: str
    urn: str  # "" for a stack policy
    reason: str


@dataclass
class Remediation:
    """A remediate-level policy rewrote a resource's inputs before analysis."""

    policy_pack: str
    policy: str
    urn: str
    description: str


@dataclass
class PolicyReport:
    violations: list[Violation]
    not_applicable: list[NotApplicable]
    # name, version, path, sdkVersion, policies: [{name, description, enforcementLevel, severity,
    # remediationSteps, url, type}]
    packs: list[dict]
    remediations: list[Remediation] = field(default_factory=list)


@dataclass(frozen=True)
class PolicyInfo:
    """One policy as GetAnalyzerInfo describes it."""

    name: str
    description: str
    enforcement_level: str
    severity: str = ""
    config_schema: dict | None = None  # {"properties": {...}, "required": [...]}
    remediation_steps: str = ""
    url: str = ""
    policy_type: str = ""


@dataclass(frozen=True)
class PolicyConfig:
    """A policy's configuration; enforcement_level is "" when a config entry sets none."""

    enforcement_level: str
    properties: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------------
# Policy pack configuration (pkg/resource/analyzer/config.go)


def parse_policy_pack_config(text: str) -> dict[str, PolicyConfig]:
    """Parse `--policy-pack-config` JSON: each key maps to a level string or an object of properties."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PackError(f"The policy pack config is not valid JSON ({error}).") from None
    if not isinstance(document, dict):
        raise PackError("The policy pack config must be a JSON object keyed by policy name (or `all`).")
    result = {}
    for key, value in document.items():
        if isinstance(value, str):
            level, properties = _checked_level(key, value), None
        elif isinstance(value, dict):
            properties = dict(value)
            level = _checked_level(key, properties.pop("enforcementLevel")) if "enforcementLevel" in properties else ""
            properties = properties or None
        else:
            raise PackError(
                f"The policy pack config entry {key!r} must be an enforcement level or an object, "
                f"not a JSON {_json_type(value)}."
            )
        if level or properties:
            result[key] = PolicyConfig(level, properties)
    return result


def _checked_level(key: str, level: Any) -> str:
    if level not in ENFORCEMENT_LEVELS:
        raise PackError(
            f"The policy pack config entry {key!r} has enforcement level {level!r}; "
            f"valid levels are {', '.join(ENFORCEMENT_LEVELS)}."
        )
    return level


def reconcile_policy_pack_config(
    policies: Iterable[PolicyInfo],
    initial_config: dict[str, PolicyConfig] | None,
    config: dict[str, PolicyConfig] | None,
) -> dict[str, PolicyConfig]:
    """Every policy's level and properties: its own level and schema defaults, then the pack's
    initial config, then the config file (ReconcilePolicyPackConfig, before validation)."""
    result = {policy.name: PolicyConfig(policy.enforcement_level, _schema_defaults(policy)) for policy in policies}
    for layer in (initial_config, config):
        if layer:
            result = _apply_config(result, layer)
    return result


def _schema_defaults(policy: PolicyInfo) -> dict[str, Any] | None:
    schema_properties = (policy.config_schema or {}).get("properties") or {}
    defaults = {name: spec["default"] for name, spec in schema_properties.items() if "default" in spec}
    return defaults or None


def _apply_config(result: dict[str, PolicyConfig], layer: dict[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    result = dict(result)
    everything = layer.get("all")
    if everything is not None and everything.enforcement_level in ENFORCEMENT_LEVELS:
        result = {name: PolicyConfig(everything.enforcement_level, entry.properties) for name, entry in result.items()}
    # Like the engine, this also keeps an entry named "all" (and any unknown name); the pack ignores it.
    for name, given in layer.items():
        current = result.get(name, PolicyConfig("", None))
        level = given.enforcement_level if given.enforcement_level in ENFORCEMENT_LEVELS else current.enforcement_level
        properties = current.properties
        if given.properties:
            properties = {**(properties or {}), **given.properties}
        result[name] = PolicyConfig(level, properties)
    return result


def validate_policy_pack_config(policies: Iterable[PolicyInfo], config: dict[str, PolicyConfig]) -> list[str]:
    """Errors of each policy's properties against its config schema, as "<policy>: <error>"."""
    errors = []
    for policy in policies:
        if policy.config_schema is None:
            continue
        schema = {"type": "object", "properties": policy.config_schema.get("properties") or {}}
        if policy.config_schema.get("required"):
            schema["required"] = list(policy.config_schema["required"])
        entry = config.get(policy.name)
        properties = entry.properties if entry is not None and entry.properties is not None else {}
        errors.extend(f"{policy.name}: {error}" for error in schema_errors(schema, properties))
    return errors


def schema_errors(schema: dict, value: Any, where: str = "") -> list[str]:
    """Validate `value` against a JSON schema: the common keywords only (the `jsonschema` package is
    not installed); unknown keywords are ignored."""
    label = where or "(root)"
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_is_json_type(value, name) for name in types):
            return [f"{label}: Invalid type. Expected: {' or '.join(types)}, given: {_json_type(value)}"]
    errors = []
    if "enum" in schema and not any(_json_equal(value, option) for option in schema["enum"]):
        errors.append(f"{label}: must be one of {json.dumps(schema['enum'])}")
    if "const" in schema and not _json_equal(value, schema["const"]):
        errors.append(f"{label}: does not match {json.dumps(schema['const'])}")
    if _is_json_type(value, "number"):
        errors.extend(_number_errors(schema, value, label))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{label}: String length must be greater than or equal to {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{label}: String length must be less than or equal to {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{label}: Does not match pattern '{schema['pattern']}'")
    if isinstance(value, list):
        errors.extend(_array_errors(schema, value, where))
    if isinstance(value, dict):
        errors.extend(_object_errors(schema, value, where))
    return errors


def _number_errors(schema: dict, value: float, label: str) -> list[str]:
    errors = []
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    exclusive_minimum, exclusive_maximum = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if exclusive_minimum is True:  # draft 4 spelling
        exclusive_minimum, minimum = minimum, None
    if exclusive_maximum is True:
        exclusive_maximum, maximum = maximum, None
    if _is_json_type(minimum, "number") and value < minimum:
        errors.append(f"{label}: Must be greater than or equal to {minimum}")
    if _is_json_type(maximum, "number") and value > maximum:
        errors.append(f"{label}: Must be less than or equal to {maximum}")
    if _is_json_type(exclusive_minimum, "number") and value <= exclusive_minimum:
        errors.append(f"{label}: Must be greater than {exclusive_minimum}")
    if _is_json_type(exclusive_maximum, "number") and value >= exclusive_maximum:
        errors.append(f"{label}: Must be less than {exclusive_maximum}")
    multiple = schema.get("multipleOf")
    quotient = value / multiple if _is_json_type(multiple, "number") and multiple > 0 else 0
    if not math.isclose(quotient, round(quotient)):
        errors.append(f"{label}: Must be a multiple of {multiple}")
    return errors


def _array_errors(schema: dict, value: list, where: str) -> list[str]:
    label = where or "(root)"
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{label}: Array must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{label}: Array must have at most {schema['maxItems']} items")
    if schema.get("uniqueItems"):
        canonical = [json.dumps(item, sort_keys=True) for item in value]
        if len(set(canonical)) != len(canonical):
            errors.append(f"{label}: Array items must be unique")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            errors.extend(schema_errors(items, item, f"{where}.{index}" if where else str(index)))
    return errors


def _object_errors(schema: dict, value: dict, where: str) -> list[str]:
    label = where or "(root)"
    errors = [f"{label}: {name} is required" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties", True)
    for name, item in value.items():
        path = f"{where}.{name}" if where else name
        if name in properties:
            errors.extend(schema_errors(properties[name], item, path))
        elif additional is False:
            errors.append(f"{label}: Additional property {name} is not allowed")
        elif isinstance(additional, dict):
            errors.extend(schema_errors(additional, item, path))
    return errors


def _is_json_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        return _is_json_type(value, "number") and float(value).is_integer()
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return False


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_json_type(value, name):
            return name
    return type(value).__name__


def _json_equal(left: Any, right: Any) -> bool:
    if _is_json_type(left, "number") and _is_json_type(right, "number"):
        return left == right
    return _json_type(left) == _json_type(right) and left == right  # in JSON true is not 1


# ---------------------------------------------------------------------------------------------------
# Secrets


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


def _collect_secret_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
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
        if value.get(SIG_KEY) == SECRET_SIG:
            _collect_secret_strings(value, found)
            return
        for key, item in value.items():
            credential = named_as_credential or bool(_CREDENTIAL_NAME.search(str(key)))
            _collect_credentials(item, found, named_as_credential=credential)
    elif isinstance(value, list):
        for item in value:
            _collect_credentials(item, found, named_as_credential=named_as_credential)


def registration_secrets(registration: Registration) -> set[str]:
    """The secret strings one registration carries (see secret_values), short ones included."""
    found: set[str] = set()
    _collect_secret_strings(registration.inputs, found)
    _collect_secret_strings(registration.outputs, found)
    return found


class _Redactor:
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
        return pattern.sub(SECRET_PLACEHOLDER, text) if pattern and text else text


# ---------------------------------------------------------------------------------------------------
# Starting a pack


@dataclass(frozen=True)
class PackProject:
    """What PulumiPolicy.yaml says about a pack."""

    directory: Path
    runtime: str
    runtime_options: dict
    version: str = ""
    description: str = ""


def read_pack_project(pack_dir: Path) -> PackProject:
    project_file = pack_dir / "PulumiPolicy.yaml"
    try:
        document = yaml.safe_load(project_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PackError(f"Policy pack {pack_dir} cannot be loaded: {project_file} is unreadable ({error}).") from None
    if not isinstance(document, dict):
        raise PackError(f"Policy pack {pack_dir} cannot be loaded: {project_file} is not a YAML mapping.")
    runtime = document.get("runtime")
    options: dict = {}
    if isinstance(runtime, dict):
        options = runtime.get("options") or {}
        runtime = runtime.get("name")
    if runtime != "python":
        raise PackError(
            f"Policy pack {pack_dir} has runtime {runtime!r}; preflight runs Python packs only (runtime: python)."
        )
    version = document.get("version")
    return PackProject(
        directory=pack_dir,
        runtime=runtime,
        runtime_options=options,
        version="" if version is None else str(version),
        description=str(document.get("description") or ""),
    )


def pack_interpreter(project: PackProject) -> tuple[Path, Path | None]:
    """The interpreter for a pack and the virtualenv it belongs to (None when running this one)."""
    virtualenv = project.runtime_options.get("virtualenv")
    if not virtualenv:
        return Path(sys.executable), None
    venv_dir = Path(virtualenv)
    if not venv_dir.is_absolute():
        venv_dir = project.directory / venv_dir
    python = venv_dir / "bin" / "python"
    if python.is_file():
        return python, venv_dir
    print(
        f"preflight: policy pack {project.directory}: virtualenv {venv_dir} does not exist, so the pack runs "
        f"with {sys.executable} (the Pulumi CLI would refuse; create the venv, as CI does, to use the pack's "
        "own dependencies)",
        file=sys.stderr,
    )
    return Path(sys.executable), None


def pack_environment(
    base: dict[str, str],
    *,
    project: str,
    stack: str,
    organization: str,
    config: dict[str, str],
    secret_keys: list[str],
    dry_run: bool,
    venv_dir: Path | None,
) -> dict[str, str]:
    """The pack's environment: ours plus what the CLI's constructEnv adds (empty values are left out)."""
    env = dict(base)
    settings = {
        "PULUMI_CONFIG": json.dumps(config) if config else "",
        # Not set by the CLI (it sends them in ConfigureStack), but harmless and useful to pulumi.Config.
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(secret_keys)) if secret_keys else "",
        "PULUMI_ORGANIZATION": organization,
        "PULUMI_PROJECT": project,
        "PULUMI_STACK": stack,
        "PULUMI_DRY_RUN": "true" if dry_run else "false",
    }
    for name, value in settings.items():
        env.pop(name, None)
        if value:
            env[name] = value
    if venv_dir is not None:
        env["PATH"] = os.pathsep.join(filter(None, [str(venv_dir / "bin"), env.get("PATH", "")]))
        env.pop("PYTHONHOME", None)
    return env


def fits_in_environment(name: str, value: str) -> bool:
    """Whether NAME=value can be passed to a new process (exec fails with E2BIG otherwise)."""
    return len(name.encode()) + 1 + len(value.encode()) + 1 <= MAX_ENVIRONMENT_VARIABLE_BYTES


class _PackSession:
    """One running policy pack: its process, its gRPC stub and what it told us about itself."""

    def __init__(self, pack_dir: Path, *, env_settings: dict, redact: _Redactor) -> None:
        pack_dir = pack_dir.resolve()  # the pack runs in its own directory
        self.project = read_pack_project(pack_dir)
        self.directory = pack_dir
        self.label = f"policy pack {pack_dir}"
        self._env_settings = env_settings
        self._redact = redact
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._config_file: str | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.name = pack_dir.name
        self.version = self.project.version
        self.plugin_version = ""
        self.supports_config = False
        self.policies: list[PolicyInfo] = []
        self.initial_config: dict[str, PolicyConfig] = {}
        self.effective_config: dict[str, PolicyConfig] = {}
        self._severity_by_policy: dict[str, str] = {}

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> _PackSession:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def _start(self) -> None:
        python, venv_dir = pack_interpreter(self.project)
        env = pack_environment(dict(os.environ), venv_dir=venv_dir, **self._env_settings)
        command = [str(python), "-u", "-m", "pulumi.policy", _UNUSED_ENGINE_ADDRESS, str(self.directory)]
        config_text = env.get("PULUMI_CONFIG", "")
        if not fits_in_environment("PULUMI_CONFIG", config_text):
            command = self._config_from_file(python, env.pop("PULUMI_CONFIG"))
        self.process = subprocess.Popen(
            command,
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        first_stdout_line: queue.Queue[str | None] = queue.Queue(maxsize=1)
        self._spawn_thread(self._drain_stderr)
        self._spawn_thread(self._drain_stdout, first_stdout_line)
        try:
            line = first_stdout_line.get(timeout=PACK_START_TIMEOUT_SECONDS)
        except queue.Empty:
            raise self._error(f"did not print its gRPC port within {PACK_START_TIMEOUT_SECONDS:g} s") from None
        if line is None:
            raise self._error("exited before printing its gRPC port")
        if not line.strip().isdigit():
            shown = self._redact(line.strip())[:200]
            raise self._error(f"printed {shown!r} where its gRPC port was expected (first stdout line)")
        self.port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=PACK_START_TIMEOUT_SECONDS)
        except grpc.FutureTimeoutError:
            raise self._error(f"did not accept a gRPC connection on port {int(line)}") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _config_from_file(self, python: Path, config_text: str) -> list[str]:
        """The command that hands the pack a stack config too large for one environment variable.

        Linux refuses to exec with a variable over 128 KiB (E2BIG), and the CLI fails here
        (pulumi/pulumi#20402). The pack gets the same PULUMI_CONFIG all the same: a bootstrap sets
        it from a private file, then runs `pulumi.policy` exactly as the command line would.
        """
        handle, path = tempfile.mkstemp(prefix="preflight-config-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(config_text)
        self._config_file = path
        print(
            f"preflight: note: policy pack {self.directory}: the stack config is {len(config_text)} bytes, more than "
            "one environment variable may hold, so the pack reads PULUMI_CONFIG from a file (the Pulumi CLI fails "
            "to start a pack here: pulumi/pulumi#20402)",
            file=sys.stderr,
        )
        bootstrap = (
            "import os, runpy, sys; "
            "os.environ['PULUMI_CONFIG'] = open(sys.argv[1], encoding='utf-8').read(); "
            "sys.argv = ['pulumi.policy', *sys.argv[2:]]; "
            "runpy.run_module('pulumi.policy', run_name='__main__', alter_sys=True)"
        )
        return [str(python), "-u", "-c", bootstrap, path, _UNUSED_ENGINE_ADDRESS, str(self.directory)]

    def _spawn_thread(self, target, *args) -> None:
        name = f"{target.__name__}:{self.directory.name}"
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _drain_stderr(self) -> None:
        for raw in iter(self.process.stderr.readline, b""):
            # A pack's traceback may quote what a policy read: known secrets masked, secret-looking text redacted.
            line = scrub(self._redact(raw.decode("utf-8", "replace").rstrip("\r\n")))
            self._stderr_tail.append(line)
            print(f"[{self.name}] {line}", file=sys.stderr)

    def _drain_stdout(self, first_line: queue.Queue) -> None:
        # The first line is the port; what a pack prints later is shown like its logs. Draining keeps a
        # chatty pack from blocking on a full pipe.
        port_line = self.process.stdout.readline()
        first_line.put(port_line.decode("utf-8", "replace") if port_line else None)
        for raw in iter(self.process.stdout.readline, b""):
            print(f"[{self.name}] {scrub(self._redact(raw.decode('utf-8', 'replace').rstrip()))}", file=sys.stderr)

    def stop(self) -> None:
        """Cancel, close the channel, end the process (SIGTERM, then SIGKILL after a grace period)."""
        if self.stub is not None:
            with contextlib.suppress(grpc.RpcError):  # Python packs answer UNIMPLEMENTED
                self.stub.Cancel(empty_pb2.Empty(), timeout=PACK_STOP_GRACE_SECONDS)
            self.stub = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=PACK_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for thread in self._threads:
            thread.join(timeout=PACK_STOP_GRACE_SECONDS)
        if self._config_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._config_file)
            self._config_file = None
        # A grandchild may hold the pipes open; closing one under a blocked reader would hang us.
        if self.process is not None and not any(thread.is_alive() for thread in self._threads):
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def _error(self, what: str) -> PackError:
        """A PackError saying what went wrong, with the pack's exit status and stderr tail."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.5)  # a crashing pack may be a moment from exiting
        status = ""
        if self.process is not None and self.process.poll() is not None:
            status = f" The pack process exited with code {self.process.returncode}."
            for thread in self._threads:
                thread.join(timeout=PACK_STOP_GRACE_SECONDS)  # collect the last stderr lines
        tail = "\n".join(f"    {line}" for line in self._stderr_tail).rstrip()
        stderr = f" Its stderr ended with:\n{tail}" if tail else " It wrote nothing to stderr."
        return PackError(self._redact(f"The {self.label} {what}.{status}{stderr}"))

    def call(self, method: str, request, *, tolerate_unimplemented: bool = False):
        try:
            return getattr(self.stub, method)(request, timeout=PACK_CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            if tolerate_unimplemented and error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise self._error(f"failed in {method}: {error.code().name}: {error.details()}") from None

    # -- introduction and configuration ---------------------------------------------------------------

    def introduce(self, stack_request: analyzer_pb2.AnalyzerStackConfigureRequest) -> None:
        """Handshake, ConfigureStack, GetPluginInfo, GetAnalyzerInfo."""
        directory = str(self.directory)
        handshake = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=_UNUSED_ENGINE_ADDRESS, root_directory=directory, program_directory=directory
        )
        self.call("Handshake", handshake, tolerate_unimplemented=True)
        self.call("ConfigureStack", stack_request, tolerate_unimplemented=True)
        self.plugin_version = self.call("GetPluginInfo", empty_pb2.Empty()).version
        info = self.call("GetAnalyzerInfo", empty_pb2.Empty())
        self.name = info.name or self.name
        self.label = f"policy pack {self.name!r} ({self.directory})"
        self.version = self.project.version or info.version
        self.supports_config = info.supportsConfig
        self.policies = sorted((self._policy_info(policy) for policy in info.policies), key=lambda p: p.name)
        self._severity_by_policy = {policy.name: policy.severity for policy in self.policies}
        self.initial_config = {
            name: PolicyConfig(
                self._level_name(entry.enforcementLevel), json_format.MessageToDict(entry.properties) or None
            )
            for name, entry in info.initialConfig.items()
        }

    def _policy_info(self, policy: analyzer_pb2.PolicyInfo) -> PolicyInfo:
        schema = None
        if self.supports_config:
            properties = json_format.MessageToDict(policy.configSchema.properties)
            schema = {
                "properties": {**properties, "enforcementLevel": _ENFORCEMENT_LEVEL_SCHEMA},
                "required": list(policy.configSchema.required),
            }
        return PolicyInfo(
            name=policy.name,
            description=policy.description,
            enforcement_level=self._level_name(policy.enforcementLevel),
            severity=_SEVERITY_NAMES.get(policy.severity, ""),
            config_schema=schema,
            remediation_steps=policy.remediation_steps,
            url=policy.url,
            policy_type=_POLICY_TYPE_NAMES.get(policy.policy_type, ""),
        )

    def _level_name(self, value: int) -> str:
        if value not in _LEVEL_NAMES:
            raise self._error(f"sent the invalid enforcement level {value}")
        return _LEVEL_NAMES[value]

    @property
    def remediates(self) -> bool:
        """Whether any policy is configured at "remediate" (only those run in the SDK's Remediate)."""
        return any(entry.enforcement_level == "remediate" for entry in self.effective_config.values())

    def severity_of(self, policy: str) -> str:
        return self._severity_by_policy.get(policy, "")

    def policy_names(self) -> set[str]:
        return {policy.name for policy in self.policies}

    def configure(self, file_config: dict[str, PolicyConfig] | None) -> None:
        """Reconcile, validate and send the configuration, with an explicit level for every policy."""
        if not self.supports_config:
            if file_config:
                raise PackError(f"The {self.label} does not support configuration, but a config file was given.")
            self.effective_config = {p.name: PolicyConfig(p.enforcement_level) for p in self.policies}
            return
        own_levels = {policy.name: policy.enforcement_level for policy in self.policies}
        for name, entry in self.initial_config.items():
            downgraded = entry.enforcement_level == "advisory" and own_levels.get(name, "advisory") != "advisory"
            if entry.properties and downgraded:
                # GetAnalyzerInfo cannot say "no level": an entry with only properties reads as advisory.
                print(
                    f"preflight: note: the initial config of {self.label} makes {name!r} advisory (its own level "
                    f"is {own_levels[name]}); an entry without enforcementLevel reads as advisory, as in the CLI",
                    file=sys.stderr,
                )
        config = reconcile_policy_pack_config(self.policies, self.initial_config, file_config)
        errors = validate_policy_pack_config(self.policies, config)
        if errors:
            listed = "; ".join(sorted(errors))
            raise PackError(f"The policy config of {self.label} version {self.version} is invalid: {listed}.")
        for name, entry in config.items():
            if entry.enforcement_level not in ENFORCEMENT_LEVELS:
                raise PackError(
                    f"The policy pack config sets properties for {name!r}, which is not a policy of {self.label}, "
                    "and no enforcement level; the Pulumi CLI fails on this with 'invalid enforcement level'."
                )
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            policy_config = request.policyConfig[name]
            policy_config.enforcementLevel = _LEVEL_VALUES[entry.enforcement_level]
            policy_config.properties.update(entry.properties or {})
        self.call("Configure", request)
        self.effective_config = config

    def summary(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.directory),
            "sdkVersion": self.plugin_version,  # the pulumi-policy SDK the pack runs with (GetPluginInfo)
            "policies": [
                {
                    "name": policy.name,
                    "description": policy.description,
                    "enforcementLevel": self.effective_config.get(
                        policy.name, PolicyConfig(policy.enforcement_level)
                    ).enforcement_level,
                    "severity": policy.severity,
                    "remediationSteps": policy.remediation_steps,
                    "url": policy.url,
                    "type": policy.policy_type,
                }
                for policy in self.policies
            ],
        }

    # -- analysis -------------------------------------------------------------------------------------

    def violation(self, diagnostic: analyzer_pb2.AnalyzeDiagnostic, urn: str) -> Violation | None:
        level = self._level_name(diagnostic.enforcementLevel)
        if level == "disabled":
            return None
        if level == "remediate":  # a remediated resource still failing validation counts as mandatory
            level = "mandatory"
        severity = _SEVERITY_NAMES.get(diagnostic.severity, "") or self.severity_of(diagnostic.policyName)
        return Violation(
            policy_pack=diagnostic.policyPackName or self.name,
            policy_pack_version=self.version or diagnostic.policyPackVersion,
            policy=diagnostic.policyName,
            description=self._redact(diagnostic.description),
            enforcement_level=level,
            severity=severity,
            urn=urn,
            message=self._redact(diagnostic.message),
        )


# ---------------------------------------------------------------------------------------------------
# The run


class _ReportBuilder:
    def __init__(self) -> None:
        self.report = PolicyReport(violations=[], not_applicable=[], packs=[])
        self._seen_not_applicable: set[tuple[str, str, str]] = set()

    def add_violation(self, violation: Violation | None) -> None:
        if violation is not None:
            self.report.violations.append(violation)

    def add_not_applicable(self, pack: str, entries, urn: str, redact: _Redactor) -> None:
        for entry in entries:
            key = (pack, entry.policy_name, urn)
            if key not in self._seen_not_applicable:  # Remediate and Analyze may both say so
                self._seen_not_applicable.add(key)
                self.report.not_applicable.append(NotApplicable(pack, entry.policy_name, urn, redact(entry.reason)))


def run_policy_packs(
    registrations: list[Registration],
    *,
    project: str,
    stack: str,
    organization: str,
    config: dict[str, str],
    secret_keys: list[str],
    pack_dirs: list[Path],
    pack_config_file: Path | None = None,
    dry_run: bool = True,
) -> PolicyReport:
    """Run every policy pack over the registrations as `pulumi preview --policy-pack` would.

    `pack_config_file` (JSON, as `--policy-pack-config`) applies to every pack: its `all` key to each,
    a policy's entry to the pack that has the policy. Raises PackError when a pack cannot start,
    fails a call or rejects its configuration; every pack started is stopped in all cases.
    """
    with PolicyRun(project=project, stack=stack, organization=organization, config=config,
                   secret_keys=secret_keys, pack_dirs=pack_dirs, pack_config_file=pack_config_file,
                   dry_run=dry_run) as policy_run:
        for registration in registrations:
            policy_run.submit(registration)
        return policy_run.finish(registrations)


@dataclass
class _Outcome:
    """What the packs answered for one registration, kept until the report is built in engine order."""

    registration: Registration
    remediated_inputs: dict[str, Any] | None
    # ("remediate" | "analyze", session, response), in the order the calls were made
    answers: list[tuple[str, Any, Any]]


_END = object()


class _AnalyzeRelay:
    """One pack's Analyze calls, made in order by a relay process (see preflight.relay)."""

    def __init__(self, session: _PackSession) -> None:
        from preflight import relay

        self._relay = relay
        self.session = session
        self.sent = 0
        self.answers: list[tuple[int, bytes]] = []
        self._buffer = bytearray()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
        preflight_root = str(Path(__file__).resolve().parent.parent)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [preflight_root, environment.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "preflight.relay", f"127.0.0.1:{session.port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
        )
        self._threads = [threading.Thread(target=self._read_answers, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_answers(self) -> None:
        # Large reads: one wake-up of this thread takes every answer that arrived meanwhile.
        while chunk := self.process.stdout.read1(1 << 20):
            self._buffer += chunk
            self.answers.extend(self._relay.split_answers(self._buffer))

    def _read_stderr(self) -> None:
        for raw in iter(self.process.stderr.readline, b""):
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip())

    def send(self, requests: list[bytes]) -> None:
        """Queue requests with the relay, one pipe write for the batch."""
        try:
            self.process.stdin.write(b"".join(self._relay.request_frame(r) for r in requests))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the relay stopped: collect() says why
        self.sent += len(requests)

    def collect(self) -> list[Any]:
        """Every answer, in order, once the relay has made all its calls; PackError if one failed."""
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.process.stdin.write(self._relay.request_frame(b""))
            self.process.stdin.close()
        self.process.wait()
        for thread in self._threads:
            thread.join()
        responses = []
        for status, payload in self.answers:
            if status != self._relay.OK:
                code, _, details = payload.decode("utf-8", "replace").partition("\t")
                raise self.session._error(f"failed in Analyze: {code}: {details}")
            responses.append(analyzer_pb2.AnalyzeResponse.FromString(payload))
        if len(responses) != self.sent:
            tail = " | ".join(self._stderr_tail) or "no stderr"
            raise self.session._error(f"answered {len(responses)} of {self.sent} Analyze calls through preflight's "
                                      f"relay, which exited with code {self.process.returncode} ({tail})")
        return responses

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


class PolicyRun:
    """Policy packs analysing a preview while its program still runs, as the engine does.

    The engine loads the packs before the program starts and sends Remediate and Analyze for each
    resource as it registers; only AnalyzeStack waits for the end. Here, too: `submit` queues each
    registration (the runner calls it as it records them) and a worker thread starts the packs and
    drives them, so the packs work on the other core while the program registers. `finish` builds
    the report in the final registration order, exactly as analysing them one after the other
    would, then sends AnalyzeStack. Errors of the worker surface in `finish`; `close` stops every
    pack started, in all cases.
    """

    def __init__(
        self,
        *,
        project: str,
        stack: str,
        organization: str,
        config: dict[str, str],
        secret_keys: list[str],
        pack_dirs: list[Path],
        pack_config_file: Path | None = None,
        dry_run: bool = True,
    ) -> None:
        self._project = project
        self._stack = stack
        self._config = dict(config)
        self._secret_keys = list(secret_keys)
        self._pack_dirs = [Path(d) for d in pack_dirs]
        self._pack_config_file = pack_config_file
        # Config secrets are known now; a registration's secrets are added before it is sent.
        self._redact = _Redactor(secret_values(config, secret_keys, []))
        self._env_settings = {
            "project": project,
            "stack": stack,
            "organization": organization,
            "config": dict(config),
            "secret_keys": list(secret_keys),
            "dry_run": dry_run,
        }
        self._stack_configuration = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack,
            project=project,
            organization=organization,
            dry_run=dry_run,
            config=dict(config),
            config_secret_keys=list(secret_keys),
        )
        self._running = contextlib.ExitStack()
        self._sessions: list[_PackSession] = []
        self._packs: list[dict] = []
        self._by_urn: dict[str, Registration] = {}
        self._outcomes: dict[int, _Outcome] = {}
        self._relays: list[_AnalyzeRelay] = []
        self._providers: dict[str, Any] = {}  # provider URN -> AnalyzerProviderResource, built once
        self._relayed: list[_Outcome] = []  # in the order their requests went to the relays
        self._error: BaseException | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="preflight-policy-packs", daemon=True)
        self._worker.start()

    def __enter__(self) -> PolicyRun:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    # -- the worker -----------------------------------------------------------------------------------

    def submit(self, registration: Registration) -> None:
        """Queue one registration for Remediate and Analyze (thread-safe, returns at once)."""
        self._queue.put(registration)

    def _work(self) -> None:
        try:
            self._open()
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self._error = error
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while batch[-1] is not _END:
                    batch.append(self._queue.get_nowait())
            ended = batch[-1] is _END
            registrations = batch[:-1] if ended else batch
            if self._error is None:
                try:
                    if self._relays:
                        self._relay(registrations)
                    else:
                        for registration in registrations:
                            self._analyze(registration)
                except BaseException as error:  # noqa: BLE001 - reported by finish()
                    self._error = error
            if ended:
                return

    def _open(self) -> None:
        file_config = _read_config_file(self._pack_config_file) if self._pack_config_file is not None else None
        for pack_dir in self._pack_dirs:
            session = self._running.enter_context(
                _PackSession(pack_dir, env_settings=self._env_settings, redact=self._redact))
            session.introduce(self._stack_configuration)
            self._sessions.append(session)
        for session, layer in zip(self._sessions, _config_per_pack(file_config, self._sessions), strict=True):
            session.configure(layer)
            self._packs.append(session.summary())
        if self._sessions and not any(session.remediates for session in self._sessions):
            # Without remediations each resource is one Analyze per pack, which relays make in order.
            self._relays = [_AnalyzeRelay(session) for session in self._sessions]

    def _relay(self, registrations: list[Registration]) -> None:
        """Send a batch of registrations' Analyze requests through the relays (answers come at finish)."""
        requests = []
        for registration in registrations:
            self._redact.add(registration_secrets(registration))
            self._by_urn.setdefault(registration.urn, registration)
            request = analyze_request(registration, registration.inputs, self._by_urn, providers=self._providers)
            requests.append(request.SerializeToString())
            outcome = _Outcome(registration, None, [])
            self._outcomes[id(registration)] = outcome
            self._relayed.append(outcome)
        for relay in self._relays:
            relay.send(requests)

    def _analyze(self, registration: Registration) -> _Outcome:
        """Remediate through every pack (its rewritten inputs feed what follows), then Analyze."""
        self._redact.add(registration_secrets(registration))
        self._by_urn.setdefault(registration.urn, registration)
        answers: list[tuple[str, Any, Any]] = []
        inputs = registration.inputs
        for session in self._sessions:
            inputs = _remediate(session, registration, inputs, self._by_urn, answers)
        request = analyze_request(registration, inputs, self._by_urn) if self._sessions else None
        for session in self._sessions:
            answers.append(("analyze", session, session.call("Analyze", request)))
        outcome = _Outcome(registration, inputs if inputs is not registration.inputs else None, answers)
        self._outcomes[id(registration)] = outcome
        return outcome

    # -- the end --------------------------------------------------------------------------------------

    def finish(self, registrations: list[Registration]) -> PolicyReport:
        """Wait for the queued analyses, build the report in `registrations` order, run AnalyzeStack."""
        stack_request = None
        if self._relays:
            # No pack remediates, so every output is final: the AnalyzeStack request is built while
            # the packs finish the last Analyze calls.
            stack_request = self._build_stack_request(registrations, {}, {r.urn: r for r in registrations})
        self._stop_worker()
        if self._error is not None:
            raise self._error
        relays, self._relays = self._relays, []
        try:
            for relay in relays:
                for outcome, response in zip(self._relayed, relay.collect(), strict=True):
                    outcome.answers.append(("analyze", relay.session, response))
        finally:
            for relay in relays:
                relay.stop()
        self._redact.add(secret_values(self._config, self._secret_keys, registrations))
        self._by_urn = {registration.urn: registration for registration in registrations}
        builder = _ReportBuilder()
        builder.report.packs.extend(self._packs)
        remediated: dict[str, dict[str, Any]] = {}
        for registration in registrations:
            outcome = self._outcomes.get(id(registration))
            if outcome is None or outcome.registration is not registration:
                outcome = self._analyze(registration)  # never submitted: analysed now, in order
            if outcome.remediated_inputs is not None:
                remediated[registration.urn] = outcome.remediated_inputs
            for kind, session, response in outcome.answers:
                _record_answer(kind, session, response, registration, builder, self._redact)
        if self._sessions:
            if stack_request is None:
                stack_request = self._build_stack_request(registrations, remediated, self._by_urn)
            self._analyze_stack(stack_request, registrations, builder)
        return builder.report

    @staticmethod
    def _build_stack_request(registrations: list[Registration], remediated: dict[str, dict[str, Any]],
                       by_urn: dict[str, Registration]) -> analyzer_pb2.AnalyzeStackRequest:
        request = analyzer_pb2.AnalyzeStackRequest()
        providers: dict[str, Any] = {}
        for registration in registrations:
            stack_resource(registration, outputs_after_remediation(registration, remediated.get(registration.urn)),
                           by_urn, providers, into=request.resources.add())
        return request

    def _analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest, registrations: list[Registration],
                       builder: _ReportBuilder) -> None:
        fallback_urn = root_stack_urn(registrations, project=self._project, stack=self._stack)
        for session in self._sessions:
            response = session.call("AnalyzeStack", request, tolerate_unimplemented=True)
            if response is None:
                continue
            for diagnostic in response.diagnostics:
                urn = diagnostic.urn if diagnostic.urn in self._by_urn else fallback_urn
                builder.add_violation(session.violation(diagnostic, urn))
            builder.add_not_applicable(session.name, response.not_applicable, "", self._redact)

    def _stop_worker(self) -> None:
        if self._worker.is_alive():
            self._queue.put(_END)
            self._worker.join()

    def close(self) -> None:
        """Stop the worker, the relays and every pack started (cancel, then terminate)."""
        self._stop_worker()
        for relay in self._relays:
            relay.stop()
        self._running.close()


def _read_config_file(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise PackError(f"The policy pack config file {path} cannot be read ({error.strerror}).") from None
    return parse_policy_pack_config(text)


def _config_per_pack(
    file_config: dict[str, PolicyConfig] | None, sessions: list[_PackSession]
) -> list[dict[str, PolicyConfig] | None]:
    """Split one config file between packs; warn about keys that name no policy of any pack."""
    if file_config is None:
        return [None] * len(sessions)
    known = set().union(*(session.policy_names() for session in sessions)) if sessions else set()
    unknown = sorted(set(file_config) - known - {"all"})
    if unknown:
        names = ", ".join(unknown)
        print(f"preflight: warning: the policy pack config names no policy called {names}", file=sys.stderr)
    layers = []
    for session in sessions:
        mine = session.policy_names()
        # An unknown key goes to every pack, as the CLI would send it (and fail on it when it has no level).
        layers.append({key: entry for key, entry in file_config.items() if key in mine or key not in known})
    return layers


def _remediate(
    session: _PackSession,
    registration: Registration,
    inputs: dict[str, Any],
    by_urn: dict[str, Registration],
    answers: list[tuple[str, Any, Any]],
) -> dict[str, Any]:
    if not session.remediates:
        # The SDK's Remediate runs only policies configured at "remediate"; with none it can only
        # answer nothing, so the round trip (two per resource with Analyze) is saved.
        return inputs
    request = analyze_request(registration, inputs, by_urn, for_remediate=True)
    response = session.call("Remediate", request, tolerate_unimplemented=True)
    if response is None:
        return inputs
    answers.append(("remediate", session, response))
    for remediation in response.remediations:
        if not remediation.diagnostic and remediation.HasField("properties"):
            inputs = json_format.MessageToDict(remediation.properties)
    return inputs


def _record_answer(kind: str, session: _PackSession, response: Any, registration: Registration,
                   builder: _ReportBuilder, redact: _Redactor) -> None:
    """One pack's answer to Remediate or Analyze, as violations, remediations and not-applicables."""
    if kind == "analyze":
        for diagnostic in response.diagnostics:
            # The engine shows a resource policy's violation on the analysed resource.
            builder.add_violation(session.violation(diagnostic, registration.urn))
        builder.add_not_applicable(session.name, response.not_applicable, registration.urn, redact)
        return
    for remediation in response.remediations:
        if remediation.diagnostic:  # the remediation could not run (e.g. an unknown value at preview)
            builder.add_violation(
                Violation(
                    policy_pack=remediation.policyPackName or session.name,
                    policy_pack_version=session.version or remediation.policyPackVersion,
                    policy=remediation.policyName,
                    description=redact(remediation.description),
                    enforcement_level="advisory",
                    severity=session.severity_of(remediation.policyName),
                    urn=registration.urn,
                    message=redact(remediation.diagnostic),
                )
            )
        elif remediation.HasField("properties"):
            builder.report.remediations.append(
                Remediation(session.name, remediation.policyName, registration.urn, redact(remediation.description))
            )
    builder.add_not_applicable(session.name, response.not_applicable, registration.urn, redact)
