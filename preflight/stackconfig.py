"""Read a Pulumi project and one stack's config the way the CLI hands it to the language host.

The engine passes config to a Python program as a flat map of `namespace:key` to string (objects,
lists, numbers and bools as their JSON text) plus the list of secret keys. `secure:` values are
encrypted with a key this machine does not have, so each one becomes a placeholder string that stays
marked secret: the program runs, and nothing pretends to know the real value.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import importlib.util
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The one redaction of the program's (components/config/redaction.py, standard library only), loaded by
# path: importing `components` here would hand the program we run our copy of its own package.
_REDACTION_FILE = Path(__file__).resolve().parent.parent / "components" / "config" / "redaction.py"


@functools.cache
def _redaction() -> Any:
    spec = importlib.util.spec_from_file_location("preflight._redaction", _REDACTION_FILE)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scrub(text: str) -> str:
    """`text` fit to print: PEM blocks, values of secret-looking names and random-looking strings
    redacted, control characters escaped (see components/config/redaction.py)."""
    try:
        module = _redaction()
    except OSError:  # preflight without this project beside it
        module = None
    return module.scrub(text) if module is not None else text


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
    placeholders: list[str] = field(default_factory=list)  # longest first

    @property
    def secret_placeholders(self) -> list[str]:
        """Every placeholder text standing in for a secret, for masking anything printed."""
        return list(self.placeholders)


# Linux's MAX_ARG_STRLEN: exec fails (E2BIG) for a longer NAME=value; the CLI's language host puts
# the whole stack config in PULUMI_CONFIG (pulumi/pulumi#20402 for policy packs).
MAX_ENVIRONMENT_VARIABLE_BYTES = 32 * 4096
# Bounds on what a project or stack file may be: far above any real one, far below what would
# exhaust the machine (a huge file, or a few lines of aliases that expand to billions of values).
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_VALUES = 1_000_000  # scalars, lists and mappings, each alias counted as what it expands to
MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 100

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

_TAG = "tag:yaml.org,2002:"
# What a config value can be (Pulumi's own YAML reading turns anything else into an error or garbage).
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_KEY_TAGS = {_TAG + t for t in ("str", "int", "bool")}
_MERGE_TAG = _TAG + "merge"


def _where(path: Path, mark: Any) -> str:
    """`file, line L, column C`: where a person finds the problem (never the line's text, which may hold a secret)."""
    if mark is None:
        return str(path)
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _check_node(path: Path, node: Any) -> None:
    """One node's own rules: plain tags only, finite and bounded numbers, text keys given once."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise StackConfigError(
                f"{_where(path, node.start_mark)}: the tag {_short_tag(node.tag)} is not a config value; stack and "
                "project files hold text, numbers, booleans, lists and mappings only (quote the value if it is text)."
            )
        text = str(node.value).lstrip("+-").lower()
        if node.tag == _TAG + "int" and len(text) > MAX_INTEGER_DIGITS:
            raise StackConfigError(f"{_where(path, node.start_mark)}: a number of {len(text)} digits; quote it if it "
                                   "is text.")
        if node.tag == _TAG + "float" and text in (".nan", ".inf"):
            raise StackConfigError(f"{_where(path, node.start_mark)}: {node.value} is not a finite number; quote it "
                                   "if it is text.")
        return
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise StackConfigError(f"{_where(path, node.start_mark)}: the tag {_short_tag(node.tag)} is not a "
                                   "config value; write a plain list.")
        return
    if node.tag != _TAG + "map":
        raise StackConfigError(f"{_where(path, node.start_mark)}: the tag {_short_tag(node.tag)} is not a config "
                               "value; write a plain mapping.")
    seen: dict[str, Any] = {}
    for key, _ in node.value:
        if key.tag == _MERGE_TAG:
            continue  # `<<: *defaults`: later keys override merged ones, as YAML means
        if not isinstance(key, yaml.ScalarNode) or key.tag not in _KEY_TAGS:
            raise StackConfigError(f"{_where(path, key.start_mark)}: a key must be text (a name such as "
                                   "isp:hosts), not a list, a mapping, a number with a fraction or null.")
        if key.value in seen:
            first = seen[key.value].line + 1
            raise StackConfigError(f"{_where(path, key.start_mark)}: the key {json.dumps(key.value)} is given twice "
                                   f"(first at line {first}); YAML keeps only one, so say it once.")
        seen[key.value] = key.start_mark


def _check_document(path: Path, root: Any) -> None:
    """The node graph before anything is built from it: no alias loop, a bounded expansion, a bounded depth.

    Aliases make the graph a DAG (or a loop, `&a [*a]`); each node's expanded size is counted once,
    so a few lines of nested aliases cannot make us walk billions of values.
    """
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    pending: list[tuple[Any, int, bool]] = [(root, 0, False)]
    while pending:
        node, depth, finished = pending.pop()
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if finished:
            ancestors.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_VALUES:
                raise StackConfigError(
                    f"{_where(path, node.start_mark)}: this value expands to more than {MAX_VALUES:,} values "
                    "(through aliases); a stack config is far smaller: write it out, or keep large data in files.")
            continue
        if id(node) in sizes:
            continue
        if id(node) in ancestors:
            raise StackConfigError(f"{_where(path, node.start_mark)}: an alias that contains itself (an endless "
                                   "value); an alias may only repeat a value defined before it.")
        if depth > MAX_DEPTH:
            raise StackConfigError(f"{_where(path, node.start_mark)}: values nested more than {MAX_DEPTH} levels "
                                   "deep; a config value is never that deep.")
        _check_node(path, node)
        ancestors.add(id(node))
        pending.append((node, depth, True))
        pending.extend((child, depth + 1, False) for child in children)


def _decoded_text(path: Path, data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # a UTF-8 byte order mark is allowed at the start (YAML 1.2, Go's yaml)
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise StackConfigError(f"{path} is UTF-16 or UTF-32 text (it starts with that byte order mark); save it as "
                               "UTF-8.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise StackConfigError(f"{path}, line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text; save the "
                               "file as UTF-8.") from None


def _read_bytes(path: Path) -> bytes:
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise StackConfigError(f"{path} is not a regular file (a directory, device or pipe); it must be a YAML "
                                   "file.")
        if status.st_size > MAX_FILE_BYTES:
            raise StackConfigError(f"{path} is {status.st_size:,} bytes, over the {MAX_FILE_BYTES // 2**20} MiB a "
                                   "project or stack file may be; keep large data in files of its own.")
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise StackConfigError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise StackConfigError(f"{path} is over the {MAX_FILE_BYTES // 2**20} MiB a project or stack file may be.")
    return data


def _yaml_problem(path: Path, text: str, error: yaml.YAMLError) -> str:
    """One line naming the file, line and column and what is wrong, never the offending text itself."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        return f"{path}, line {line}: the character {code:#06x} is not allowed in YAML"
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = " ".join(str(getattr(error, "problem", None) or "").split())
    context = " ".join(str(getattr(error, "context", None) or "").split())
    detail = ", ".join(part for part in (context, problem) if part) or "unreadable"
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t":
        detail += " (a tab: YAML indents with spaces only)"
    return f"{_where(path, mark)}: not valid YAML: {detail}"


def _read_yaml(path: Path) -> Any:
    text = _decoded_text(path, _read_bytes(path))
    loader = _Yaml12Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_document(path, root)
        return loader.construct_document(root)
    except yaml.YAMLError as error:
        raise StackConfigError(_yaml_problem(path, text, error)) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as error:  # a constructor's own refusal
        raise StackConfigError(f"{path} cannot be read as YAML ({type(error).__name__}).") from None
    finally:
        loader.dispose()


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


# Every stand-in for a `secure:` value begins so (steps and guard recognise them by it).
PLACEHOLDER_PREFIX = "preflight-secret-"


def placeholder_for(path: str) -> str:
    """The stand-in for the secret at `path` (`isp:acmeCloudflareToken`, `shop:db.password`).

    Letters, digits and `-` only, 30 to 80 characters: it passes the checks a program makes of a
    token or a password (as the real secret would at a `pulumi preview`), and is unique per path.
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")[:48]
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{PLACEHOLDER_PREFIX}{slug}-{digest}"


def _replace_secure(value: Any, path: str, found: list[str]) -> Any:
    """Swap every `secure:` leaf for a placeholder, adding each placeholder to `found`."""
    if _is_secure(value):
        found.append(placeholder_for(path))
        return found[-1]
    if isinstance(value, dict):
        return {key: _replace_secure(item, f"{path}.{key}", found) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_secure(item, f"{path}[{index}]", found) for index, item in enumerate(value)]
    return value


def qualify_key(key: str, project: str) -> str:
    """`foo` -> `<project>:foo`; namespaced keys stay as they are."""
    return key if ":" in key else f"{project}:{key}"


def _runtime(project_file: Path, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    runtime = document.get("runtime")
    if isinstance(runtime, dict):
        options = runtime.get("options") or {}
        if not isinstance(options, dict):
            raise StackConfigError(f"{project_file}: `runtime: options:` must be a mapping (toolchain, virtualenv).")
        return str(runtime.get("name", "")), dict(options)
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


# Pulumi's rule for a stack name (the last part of org/project/stack): it also names Pulumi.<stack>.yaml
# and build/<stack>/, so nothing else may reach a path.
_STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def check_stack_name(stack: str) -> None:
    if not _STACK_NAME_RE.fullmatch(stack) or stack in (".", ".."):
        raise StackConfigError(
            f"{json.dumps(stack)} is not a stack name: it may hold only letters, digits, `-`, `_` and `.` "
            "(at most 100), as Pulumi's stack names do."
        )


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` under `project_dir`; stack values override the project's."""
    check_stack_name(stack)
    project_dir = project_dir.resolve()
    project_file = project_dir / "Pulumi.yaml"
    if not project_file.exists():
        alternative = project_dir / "Pulumi.yml"
        if alternative.exists():
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
    if not stack_file.exists():
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
    placeholders: list[str] = []
    for key, value in merged.items():
        found: list[str] = []
        config[key] = _config_text(_replace_secure(value, key, found))
        if found:  # a nested `secure:` makes the whole key secret, as in the engine
            secret_keys.append(key)
            placeholders.extend(found)

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
        placeholders=sorted(set(placeholders), key=len, reverse=True),
    )
