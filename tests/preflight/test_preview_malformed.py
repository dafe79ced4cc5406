"""Malformed project and stack files, and malformed config values, through `python -m preflight preview`.

Each exits 2 (1 is only ever a mandatory violation) with one paragraph naming the file and, where
there is one, the line; never a traceback, never a raw control character, never a hang.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, project_copy, run_preflight

STACK = "dev"
GOOD = (REPO / "Pulumi.dev.yaml").read_bytes()


def alias_bomb() -> bytes:
    """The "billion laughs" of YAML: nine aliases of nine aliases ... (9**9 values from 10 lines)."""
    lines = ["config:", "  isp:a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  isp:{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def nested(levels: int) -> bytes:
    text = "config:\n  isp:deep:\n"
    for level in range(levels):
        text += "  " * (level + 2) + f"k{level}:\n"
    return (text + "  " * (levels + 2) + "v\n").encode()


# (case, bytes of Pulumi.dev.yaml, what the message must say)
STACK_FILES = [
    ("alias loop", b"config:\n  isp:hosts: &a [*a]\n", ["line 2", "contains itself"]),
    ("alias loop in a mapping", b"config:\n  isp:dns: &d {x: *d}\n", ["line 2", "contains itself"]),
    ("alias bomb", alias_bomb(), ["expands to more than 1,000,000 values"]),
    ("undefined alias", b"config:\n  isp:hosts: *nowhere\n", ["line 2", "not valid YAML"]),
    ("binary tag", b"config:\n  isp:sshPrivateKey: !!binary aGVsbG8=\n", ["line 2", "!!binary"]),
    ("python object tag", b"config:\n  isp:x: !!python/object/apply:os.system [id]\n", ["line 2", "python/object"]),
    ("python name tag", b"config:\n  isp:x: !!python/name:os.system\n", ["line 2", "python/name"]),
    ("set tag", b"config:\n  isp:x: !!set {a, b}\n", ["line 2", "!!set"]),
    ("omap tag", b"config:\n  isp:x: !!omap [a: 1]\n", ["line 2", "!!omap"]),
    ("explicit timestamp", b"config:\n  isp:x: !!timestamp 2001-12-14\n", ["line 2", "!!timestamp"]),
    ("local tag", b"config:\n  isp:x: !vault secret\n", ["line 2", "!vault"]),
    ("duplicate key", b"config:\n  isp:protect: true\n  isp:protect: false\n", ["line 3", "given twice",
                                                                             "first at line 2"]),
    ("duplicate nested key", b"config:\n  isp:dns:\n    rateLimitPerSecond: 5\n    rateLimitPerSecond: 50\n",
     ["line 4", "rateLimitPerSecond", "given twice"]),
    ("null key", b"config:\n  null: 1\n", ["line 2", "a key must be text"]),
    ("list key", b"config:\n  ? [a, b]\n  : 1\n", ["line 2", "a key must be text"]),
    ("latin-1 byte", b"config:\n  isp:x: caf\xe9\n", ["line 2", "0xe9", "not UTF-8"]),
    ("utf-16", "config:\n  isp:x: 1\n".encode("utf-16"), ["UTF-16"]),
    ("tab indentation", b"config:\n\tisp:protect: true\n", ["line 2", "tab"]),
    ("a list", b"- isp:protect\n- true\n", ["must be a YAML mapping"]),
    ("a scalar", b"just text\n", ["must be a YAML mapping"]),
    ("config is a list", b"config:\n  - isp:protect\n", ["`config:` must be a mapping"]),
    ("two documents", b"config: {}\n---\nconfig: {}\n", ["line 2", "single document"]),
    ("NUL byte", b"config:\n  isp:x: a\x00b\n", ["line 2", "0x0000"]),
    ("escape byte", b"config:\n  isp:x: a\x1b[2Jb\n", ["line 2", "0x001b"]),
    ("lone surrogate escape", b'config:\n  isp:x: "\\ud800"\n', ["line 2", "not valid YAML"]),
    ("unclosed list", b"config:\n  isp:hosts: [a, b\n", ["not valid YAML"]),
    ("flow nesting", b"config:\n  isp:x: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["line 2", "not valid YAML"]),
    ("block nesting", nested(70), ["nested more than 64 levels"]),
    ("huge integer", b"config:\n  isp:x: " + b"9" * 5000 + b"\n", ["line 2", "5000 digits"]),
    ("not a number", b"config:\n  isp:x: .nan\n", ["line 2", "not a finite number"]),
    ("infinity", b"config:\n  isp:x: -.inf\n", ["line 2", "not a finite number"]),
    ("huge file", b"config:\n  isp:x: '" + b"x" * (9 * 1024 * 1024) + b"'\n", ["over the 8 MiB"]),
]


def _check_one_paragraph(result: subprocess.CompletedProcess, document: dict, expected: list[str],
                         file_name: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output and 'File "' not in output
    error = result.stderr.strip()
    assert error.startswith("error: ") and error.count("error: ") == 1, error
    assert "\n\n" not in error
    assert file_name in error, error
    for fragment in expected:
        assert fragment in error, error
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]", output)
    assert document.get("error") and file_name in document["error"]  # the --json file says why
    assert document.get("resources") == []


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return project_copy(tmp_path_factory.mktemp("malformed"), STACK)


@pytest.mark.parametrize(("case", "content", "expected"), STACK_FILES, ids=[c[0] for c in STACK_FILES])
def test_a_malformed_stack_file_exits_2_with_one_paragraph(project, tmp_path, case, content, expected):
    (project / f"Pulumi.{STACK}.yaml").write_bytes(content)
    try:
        result, document = run_preflight(project, STACK, tmp_path)
    finally:
        (project / f"Pulumi.{STACK}.yaml").write_bytes(GOOD)
    _check_one_paragraph(result, document, expected, f"Pulumi.{STACK}.yaml")


PROJECT_FILES = [
    ("a list", b"- name: isp\n", ["must be a YAML mapping"]),
    ("binary name", b"name: !!binary aXNw\nruntime: python\n", ["line 1", "!!binary"]),
    ("options not a mapping", b"name: isp\nruntime:\n  name: python\n  options: .venv\n", ["options:", "mapping"]),
    ("duplicate runtime", b"name: isp\nruntime: python\nruntime: nodejs\n", ["line 3", "given twice"]),
    ("not UTF-8", b"name: isp\ndescription: \xff\xfe\nruntime: python\n", ["line 2", "0xff"]),
]


@pytest.mark.parametrize(("case", "content", "expected"), PROJECT_FILES, ids=[c[0] for c in PROJECT_FILES])
def test_a_malformed_project_file_exits_2_with_one_paragraph(project, tmp_path, case, content, expected):
    good = (project / "Pulumi.yaml").read_bytes()
    (project / "Pulumi.yaml").write_bytes(content)
    try:
        result, document = run_preflight(project, STACK, tmp_path)
    finally:
        (project / "Pulumi.yaml").write_bytes(good)
    _check_one_paragraph(result, document, expected, "Pulumi.yaml")


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_stack_file_that_is_not_a_regular_file_is_refused_without_waiting(project, tmp_path, kind):
    stack_file = project / "Pulumi.odd.yaml"
    os.mkfifo(stack_file) if kind == "fifo" else stack_file.mkdir()  # a FIFO would block a plain read
    try:
        result, document = run_preflight(project, "odd", tmp_path)
    finally:
        stack_file.unlink() if kind == "fifo" else stack_file.rmdir()
    _check_one_paragraph(result, document, ["not a regular file"], "Pulumi.odd.yaml")


@pytest.mark.parametrize("stack", ["../../etc/passwd", "a/b", "..", "x" * 101, "dev\nerror: forged"])
def test_a_stack_name_that_is_a_path_is_refused(tmp_path, stack):
    result = subprocess.run([sys.executable, "-m", "preflight", "preview", "--stack", stack, "--cwd", str(REPO),
                             "--build-dir", str(tmp_path / "build")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "is not a stack name" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "build").exists()


def test_a_utf8_byte_order_mark_is_read_as_pulumi_reads_it(project, tmp_path):
    """YAML 1.2 and Go's yaml.v3 both allow a leading UTF-8 BOM (Windows editors write one)."""
    (project / f"Pulumi.{STACK}.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD)
    try:
        result, document = run_preflight(project, STACK, tmp_path)
    finally:
        (project / f"Pulumi.{STACK}.yaml").write_bytes(GOOD)
    assert result.returncode == 0, result.stderr
    assert len(document["resources"]) > 20


def _host(config: dict, name: str) -> dict:
    return next(h for h in config["isp:hosts"] if h["name"] == name)


# Malformed config values: the program's own model refuses them, naming the key.
VALUES = [
    ("hosts is text", lambda c: c.update({"isp:hosts": "gw, ns1"}), ["isp:hosts"]),
    ("a list where a name goes", lambda c: _host(c, "ns1").update(name=[[["ns1"]]]), ["isp:hosts[1].name"]),
    ("line separator", lambda c: _host(c, "ns1").update(name="ns1\u2028error: forged"), ["isp:hosts[1].name"]),
    ("terminal escape", lambda c: _host(c, "ns1").update(sshUser="deploy\x1b[2J"), ["isp:hosts[1].sshUser"]),
    ("NUL", lambda c: c["isp:organization"].update(contactEmail="a\x00@example.org"),
     ["isp:organization.contactEmail"]),
    ("very long", lambda c: _host(c, "ns1").update(name="a" * 100_000), ["isp:hosts[1].name"]),
    ("zonesFrom a mapping", lambda c: c.update({"isp:zonesFrom": {"file": "zones.yaml"}}), ["isp:zonesFrom"]),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), VALUES, ids=[c[0] for c in VALUES])
def test_a_malformed_config_value_exits_2_naming_its_key(tmp_path, case, mutate, expected):
    project = project_copy(tmp_path, STACK, mutate)
    result, document = run_preflight(project, STACK, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "components/" not in result.stderr
    assert f"Pulumi.{STACK}.yaml: invalid stack config" in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]", output)
    assert len(result.stderr) < 4000
    assert document["error"] and [r["type"] for r in document["resources"]] in ([], ["pulumi:pulumi:Stack"])
