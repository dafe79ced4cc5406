"""Read a Pulumi project and one stack's config the way the CLI hands it to the language host.

The engine passes config to a Python program as a flat map of `namespace:key` to string (objects,
lists, numbers and bools as their JSON text) plus the list of secret keys. `secure:` values are
encrypted with a key this machine does not have, so each one becomes a placeholder string that stays
marked secret: the program runs, and nothing pretends to know the real value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Keys a project-level config declaration may carry (Pulumi.yaml `config: key: {type: ..., default: ...}`).
_DECLARATION_KEYS = {"type", "description", "default", "value", "secret", "items"}


class StackConfigError(Exception):
    """A project or stack file problem, phrased for a person (file, key, what is wrong)."""


@dataclass(frozen=True)
class StackConfig:
    """What the language host needs to run one stack of a project."""

    project: str
    stack: str
    project_dir: Path
    program_dir: Path  # where the program runs: project_dir, or project_dir/main
    program_path: Path  # a directory holding __main__.py, or a .py file
    runtime_options: dict[str, Any] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def secret_placeholders(self) -> list[str]:
        """Every placeholder text standing in for a secret, for masking anything printed."""
        return _placeholders_in(self.config, self.secret_keys)


# Linux's MAX_ARG_STRLEN: exec fails (E2BIG) for a longer NAME=value; the CLI's language host puts
# the whole stack config in PULUMI_CONFIG (pulumi/pulumi#20402 for policy packs).
MAX_ENVIRONMENT_VARIABLE_BYTES = 32 * 4096

# libyaml's parser when PyYAML has it: a large ISP's stack file (hundreds of zones) parses in a
# tenth of the time; resolvers and constructors are the same Python classes either way.
_SafeLoaderBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_SafeLoaderBase):
    """YAML as Pulumi's Go parser reads it: `yes`/`no`/`on`/`off` and dates stay strings."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _bool_yaml12(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text  # yes/no/on/off are plain strings in YAML 1.2


_Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _bool_yaml12)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StackConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise StackConfigError(f"{path} is not valid YAML: {detail}") from None


def _config_text(value: Any) -> str:
    """The string the engine hands the program for one config value."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    # Go's json.Marshal sorts map keys and writes compact JSON; match it so programs see the same text.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _replace_secure(value: Any, path: str) -> tuple[Any, bool]:
    """Swap every `secure:` leaf for a placeholder; report whether any was found."""
    if _is_secure(value):
        return f"[secret placeholder for {path}]", True
    if isinstance(value, dict):
        found = False
        replaced = {}
        for key, item in value.items():
            replaced[key], item_found = _replace_secure(item, f"{path}.{key}")
            found = found or item_found
        return replaced, found
    if isinstance(value, list):
        found = False
        replaced_list = []
        for index, item in enumerate(value):
            new_item, item_found = _replace_secure(item, f"{path}[{index}]")
            replaced_list.append(new_item)
            found = found or item_found
        return replaced_list, found
    return value, False


def qualify_key(key: str, project: str) -> str:
    """`foo` -> `<project>:foo`; namespaced keys stay as they are."""
    return key if ":" in key else f"{project}:{key}"


def _placeholders_in(config: dict[str, str], secret_keys: list[str]) -> list[str]:
    found: list[str] = []
    for key in secret_keys:
        text = config.get(key, "")
        start = text.find("[secret placeholder for ")
        while start != -1:
            end = text.find("]", start)
            if end == -1:
                break
            found.append(text[start : end + 1])
            start = text.find("[secret placeholder for ", end)
    return sorted(set(found), key=len, reverse=True)


def _runtime(project_file: Path, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    runtime = document.get("runtime")
    if isinstance(runtime, dict):
        return str(runtime.get("name", "")), dict(runtime.get("options") or {})
    if isinstance(runtime, str):
        return runtime, {}
    raise StackConfigError(f"{project_file} has no `runtime:`; a Pulumi project must name its language runtime.")


def _project_declarations(
    project_file: Path, project: str, declarations: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Project-level defaults and the declarations that carry a type/secret/required contract."""
    if declarations is None:
        return {}, {}
    if not isinstance(declarations, dict):
        raise StackConfigError(f"{project_file}: `config:` must be a mapping of keys to values or declarations.")
    defaults: dict[str, Any] = {}
    contracts: dict[str, dict[str, Any]] = {}
    for raw_key, entry in declarations.items():
        key = qualify_key(str(raw_key), project)
        is_declaration = isinstance(entry, dict) and entry and set(entry) <= _DECLARATION_KEYS and not _is_secure(entry)
        if not is_declaration:
            defaults[key] = entry  # short form `key: value`
            continue
        own_namespace = key.startswith(f"{project}:")
        # The project's own keys give `default`, other namespaces `value`; accept either spelling.
        for spelling in (("default", "value") if own_namespace else ("value", "default")):
            if spelling in entry:
                defaults[key] = entry[spelling]
                break
        contracts[key] = entry
    return defaults, contracts


def _stack_file(project_dir: Path, document: dict[str, Any], stack: str) -> Path:
    config_dir = document.get("stackConfigDir")
    base = project_dir / str(config_dir) if config_dir else project_dir
    return base / f"Pulumi.{stack}.yaml"


def _program_location(project_file: Path, project_dir: Path, main: Any) -> tuple[Path, Path]:
    """(working directory, path runpy runs) as the Python language host picks them."""
    if not main:
        program_dir = project_dir
        program_path = project_dir
    else:
        target = (project_dir / str(main)).resolve()
        if target.is_dir():
            program_dir, program_path = target, target
        elif target.is_file():
            program_dir, program_path = target.parent, target
        else:
            raise StackConfigError(f"{project_file}: `main: {main}` does not exist ({target}).")
    if program_path.is_dir() and not (program_path / "__main__.py").is_file():
        raise StackConfigError(
            f"{program_path} has no __main__.py; a Pulumi Python program needs one (or a `main:` entry in "
            f"{project_file.name} naming the program file)."
        )
    return program_dir, program_path


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` under `project_dir`; stack values override the project's."""
    project_dir = project_dir.resolve()
    project_file = project_dir / "Pulumi.yaml"
    if not project_file.is_file():
        alternative = project_dir / "Pulumi.yml"
        if alternative.is_file():
            project_file = alternative
        else:
            raise StackConfigError(
                f"no Pulumi project in {project_dir}: Pulumi.yaml is missing. Pass --cwd with the directory "
                "that holds the project's Pulumi.yaml."
            )
    document = _read_yaml(project_file)
    if not isinstance(document, dict):
        raise StackConfigError(f"{project_file} must be a YAML mapping with at least `name:` and `runtime:`.")
    project = document.get("name")
    if not isinstance(project, str) or not project:
        raise StackConfigError(f"{project_file} has no project `name:`.")
    runtime_name, runtime_options = _runtime(project_file, document)
    if runtime_name != "python":
        raise StackConfigError(
            f"{project_file} declares runtime `{runtime_name}`; preflight runs Pulumi Python programs only."
        )
    defaults, contracts = _project_declarations(project_file, project, document.get("config"))

    stack_file = _stack_file(project_dir, document, stack)
    if not stack_file.is_file():
        raise StackConfigError(
            f"stack '{stack}' has no config file: {stack_file} is missing. Create it (it may hold just "
            "`config: {}`) or pick another stack with --stack."
        )
    stack_document = _read_yaml(stack_file) or {}
    if not isinstance(stack_document, dict):
        raise StackConfigError(f"{stack_file} must be a YAML mapping with a `config:` section.")
    stack_values = stack_document.get("config") or {}
    if not isinstance(stack_values, dict):
        raise StackConfigError(f"{stack_file}: `config:` must be a mapping of keys to values.")
    warnings = []
    if stack_document.get("environment"):
        warnings.append(
            f"{stack_file.name} imports ESC environments; they cannot be opened offline, so their values are missing."
        )

    merged: dict[str, Any] = dict(defaults)
    for raw_key, value in stack_values.items():
        merged[qualify_key(str(raw_key), project)] = value

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in merged.items():
        replaced, is_secret = _replace_secure(value, key)
        config[key] = _config_text(replaced)
        if is_secret:
            secret_keys.append(key)

    for key, contract in contracts.items():
        if key not in config:
            raise StackConfigError(
                f"stack '{stack}' is missing configuration value '{key}', which {project_file.name} declares "
                f"without a default; set it in {stack_file.name}."
            )
        if contract.get("secret") is True and key not in secret_keys:
            raise StackConfigError(
                f"configuration value '{key}' must be a secret ({project_file.name} declares `secret: true`) but "
                f"{stack_file.name} holds it in plain text; set it with `pulumi config set --secret`."
            )

    environment_bytes = len(b"PULUMI_CONFIG=") + len(json.dumps(config).encode()) + 1
    if environment_bytes > MAX_ENVIRONMENT_VARIABLE_BYTES:
        warnings.append(
            f"the stack config is {environment_bytes:,} bytes as the language host's PULUMI_CONFIG, over the "
            f"{MAX_ENVIRONMENT_VARIABLE_BYTES // 1024} KiB Linux allows one environment variable: the Pulumi CLI "
            "cannot start this program (or a policy pack) on Linux; keep large data out of stack config"
        )

    program_dir, program_path = _program_location(project_file, project_dir, document.get("main"))
    return StackConfig(
        project=project,
        stack=stack,
        project_dir=project_dir,
        program_dir=program_dir,
        program_path=program_path,
        runtime_options=runtime_options,
        config=config,
        secret_keys=sorted(secret_keys),
        warnings=warnings,
    )
