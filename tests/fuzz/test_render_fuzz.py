"""Property-based, per renderer and per parameter: a value is only ever a value.

For every pure render function (render_targets.TARGETS) and every parameter that carries a
value, hypothesis builds values from that file format's own metacharacters, line separators
other programs honour, lone surrogates, NUL, very long values, lenient `ipaddress` spellings
and ipaddress objects with IPv6 scope ids (render_values). Each value is either

- refused with a RenderValueError naming the parameter, or
- rendered so that the file, read back, has the statement structure of a benign value's
  rendering and the value sits in the value's own token(s) (render_structure.Reference);
  an address renders exactly as its canonical spelling does.

Every example is read back by the policy pack's reader of that dialect; a bounded sample of
the accepted ones also by the daemon's own checker, whose printed canonical form (named-checkconf
-p, named-checkzone -D, postconf -n/-M, doveconf -n, the ruleset nft really loads, PHP's
tokens) is compared the same way. FUZZ_EXAMPLES scales both; FUZZ_REPORT=1 prints the tally.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from components.render.quoting import RenderValueError
from tests.conftest import require_tool
from tests.fuzz.conftest import fuzz_examples
from tests.fuzz.render_daemons import DAEMON_TOOLS, canonical_shape, daemon_view
from tests.fuzz.render_fields import Field, Target
from tests.fuzz.render_structure import Reference, shape
from tests.fuzz.render_targets import TARGETS

# Examples per field in CI (about 110 fields); `make fuzz` sets FUZZ_EXAMPLES for many more.
READER_EXAMPLES = 40
DAEMON_EXAMPLES = 12
SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

_references: dict[tuple[str, str, str], Reference] = {}


def _render(target: Target, field: Field, value: Any) -> str:
    kwargs = target.base()
    field.put(kwargs, value)
    return target.render(**kwargs)


def _benign_renderings(target: Target, field: Field) -> list[str]:
    texts = []
    for value in field.benign:
        try:
            texts.append(_render(target, field, value))
        except Exception as error:  # the test's own table is wrong: say which entry
            raise AssertionError(f"{target.name}: benign {field.name}={value!r} is refused: {error}") from error
    return texts


def _reader_reference(target: Target, field: Field) -> Reference:
    key = ("reader", target.name, field.name)
    if key not in _references:
        _references[key] = Reference.of([shape(target.dialect, text) for text in _benign_renderings(target, field)])
    return _references[key]


def _outcome(target: Target, field: Field, value: Any) -> tuple[str, str | None]:
    """("refused", None) or ("rendered", text); AssertionError when the property fails."""
    try:
        text = _render(target, field, value)
    except RenderValueError as error:
        named = str(error.parameter)
        assert named.startswith(field.error_names), (
            f"{target.name}: {field.name}={value!r} refused, but the error names {named!r}: {error}"
        )
        if field.secret and type(value) is str and len(value) >= 4:
            shown = f"{error} {error.value!r}"
            assert value not in shown, f"{target.name}: the refusal of {field.name} shows the secret value"
        return "refused", None
    except Exception as error:  # a crash is not a refusal: the caller gets no parameter name
        raise AssertionError(
            f"{target.name}: {field.name}={value!r} raised {type(error).__name__} instead of RenderValueError: {error}"
        ) from error
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise AssertionError(f"{target.name}: {field.name}={value!r} put a lone surrogate in the file") from error
    if field.canonical is not None:
        try:
            canonical = field.canonical(value)
        except (ValueError, TypeError) as error:
            raise AssertionError(f"{target.name}: {field.name}={value!r} accepted, but it is no address") from error
        assert text == _render(target, field, canonical), (
            f"{target.name}: {field.name}={value!r} renders otherwise than its canonical spelling {canonical!r}"
        )
    expect = field.expect(value) if field.expect else None
    mismatch = _reader_reference(target, field).mismatch(shape(target.dialect, text), expect)
    assert mismatch is None, f"{target.name}: {field.name}={value!r} accepted, but read back by the pack: {mismatch}"
    return "rendered", text


FIELDS = [(target, field) for target in TARGETS for field in target.fields]
FIELD_IDS = [f"{target.name}: {field.name}" for target, field in FIELDS]


@pytest.mark.parametrize(("target", "field"), FIELDS, ids=FIELD_IDS)
def test_value_is_refused_or_one_token_as_the_pack_reads_it(target: Target, field: Field, fuzz_tally) -> None:
    @settings(max_examples=fuzz_examples(READER_EXAMPLES), **SETTINGS)
    @given(field.values)
    def run(value: Any) -> None:
        outcome, _ = _outcome(target, field, value)
        fuzz_tally(f"render {target.name}", field.name, outcome)
        fuzz_tally("render (all fields)", target.name, outcome)

    run()


def _daemon_examples() -> int:
    # The checkers are separate processes: under FUZZ_EXAMPLES, a fifth as many as the reader gets.
    scaled = fuzz_examples(0)
    return max(DAEMON_EXAMPLES, scaled // 5) if scaled else DAEMON_EXAMPLES


def _file_name(target: Target) -> str:
    # systemd tells a unit's kind by its name; every other checker takes any name.
    return target.name if target.dialect == "systemd" else "file"


def _daemon_reference(target: Target, field: Field, workdir: Path) -> Reference | None:
    key = ("daemon", target.name, field.name)
    if key not in _references:
        shapes = []
        for index, text in enumerate(_benign_renderings(target, field)):
            view = daemon_view(target.dialect, text, workdir / f"benign-{index}", name=_file_name(target))
            assert view.ok, f"{target.name}: the checker refuses the benign {field.benign[index]!r}: {view.message}"
            shapes.append(canonical_shape(view))
        _references[key] = None if None in shapes else Reference.of(shapes)
    return _references[key]


CHECKED = [(target, field) for target, field in FIELDS if target.dialect in DAEMON_TOOLS]


@pytest.mark.parametrize(("target", "field"), CHECKED, ids=[f"{t.name}: {f.name}" for t, f in CHECKED])
def test_accepted_values_read_alike_by_the_daemons_checker(target: Target, field: Field, fuzz_tally) -> None:
    require_tool(DAEMON_TOOLS[target.dialect])

    @settings(max_examples=_daemon_examples(), **SETTINGS)
    @given(field.values)
    def run(value: Any) -> None:
        _, text = _outcome(target, field, value)
        if text is None:
            return
        with tempfile.TemporaryDirectory(prefix="render-fuzz-") as scratch:
            workdir = Path(scratch)
            reference = _daemon_reference(target, field, workdir)
            view = daemon_view(target.dialect, text, workdir / "hostile", name=_file_name(target))
            fuzz_tally(f"daemon {target.name}", field.name, "passed" if view.ok else "failed")
            assert view.ok, f"{target.name}: {field.name}={value!r} rendered, but its checker says: {view.message}"
            hostile = canonical_shape(view)
            if reference is not None and hostile is not None:
                mismatch = reference.mismatch(hostile)
                assert mismatch is None, (
                    f"{target.name}: {field.name}={value!r} rendered, but the checker reads it otherwise: {mismatch}"
                )

    run()


def test_the_tables_cover_every_render_function() -> None:
    """A new render_* function must get a target in render_targets, or it is never fuzzed."""
    import components.render as package

    defined = {
        match[1]
        for module in Path(package.__file__).parent.glob("*.py")
        for match in re.finditer(r"^def (render_\w+)\(", module.read_text(), re.M)
    }
    covered = set().union(*(target.functions for target in TARGETS))
    assert defined <= covered, f"not fuzzed: {sorted(defined - covered)}"
