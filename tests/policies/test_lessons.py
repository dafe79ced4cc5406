"""The lesson registry is the one source: the READMEs' tables and the lab's probes must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import lessons
import pytest
from rules import kit

REPO = Path(__file__).resolve().parents[2]
LEVEL = {kit.MANDATORY: "mandatory", kit.ADVISORY: "advisory"}


def _table(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header row starts with `header`, split into cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_lesson_has_a_policy_and_every_policy_a_lesson():
    numbers = [lesson.number for lesson in lessons.LESSONS]
    assert numbers[:12] == list(range(1, 13))
    for lesson in lessons.LESSONS:
        assert lesson.policies, f"lesson {lesson.number} has no policy"
    assert {d.lesson for d in kit.DECLARED} <= set(numbers)
    assert len({d.id for d in kit.DECLARED}) == len(kit.DECLARED)


def test_the_readme_lesson_table_is_the_registry():
    rows = _table((REPO / "README.md").read_text(), "| # | Lesson |")
    assert [row[0] for row in rows] == [str(n) for n in range(1, 13)]
    for row in rows:
        lesson = lessons.lesson(int(row[0]))
        assert row[1] == lesson.title
        assert set(_ticked(row[3])) == {d.id for d in lesson.policies}, row
        assert _ticked(row[4]) == list(lesson.probes), row
        for component in lesson.built_by:
            assert f"`{component}`" in row[2], (component, row)


def test_the_readme_policy_table_gives_each_policy_its_lesson_and_level():
    rows = _table((REPO / "README.md").read_text(), "| id | lesson | level |")
    declared = {d.id: d for d in lessons.declarations()}
    assert [_ticked(row[0])[0] for row in rows] == list(declared)
    for row in rows:
        declaration = declared[_ticked(row[0])[0]]
        assert row[1] == str(declaration.lesson)
        assert row[2] == LEVEL[declaration.level]


def test_the_pack_readme_gives_each_policy_its_level_lesson_and_config_defaults():
    rows = _table((REPO / "policies" / "README.md").read_text(), "| id | level |")
    declared = {d.id: d for d in lessons.declarations()}
    assert {_ticked(row[0])[0] for row in rows} == set(declared)
    for row in rows:
        declaration = declared[_ticked(row[0])[0]]
        assert row[1].startswith(LEVEL[declaration.level]), row
        assert row[3] == str(declaration.lesson), row
        schema = kit.config_schema(declaration.config)
        written = dict(re.findall(r"`(\w+)` \(([^)]*)\)", row[4]))
        assert set(written) == set(schema), row
        for key, spec in schema.items():
            default = spec["default"]
            shown = "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in default) + "]" \
                if isinstance(default, list) else (f"`{default}`" if isinstance(default, str) else str(default))
            assert written[key].replace("`", "") == shown.replace("`", ""), (key, row)


@pytest.mark.parametrize("lesson", lessons.LESSONS, ids=lambda lesson: str(lesson.number))
def test_each_probe_of_a_lesson_exists_in_the_lab_and_claims_that_lesson(lesson):
    from lab.probes import PROBES

    claimed = {name: {part.strip() for part in numbers.split(",")} for name, numbers, _claim, _run in PROBES}
    for probe in lesson.probes:
        assert probe in claimed, probe
        assert str(lesson.number) in claimed[probe], (probe, claimed[probe])


def test_the_config_schema_is_generated_from_the_typed_config():
    declaration = next(d for d in kit.DECLARED if d.id == "daily-send-limit")
    schema = kit.config_schema(declaration.config)
    assert schema["dailyLimitCeiling"]["type"] == "integer"
    assert schema["dailyLimitCeiling"]["default"] == 250
    typed = kit.typed_config(declaration.config, {"dailyLimitCeiling": 120.0, "unknownKey": 1})
    assert typed.daily_limit_ceiling == 120 and isinstance(typed.daily_limit_ceiling, int)
    assert kit.typed_config(declaration.config, {"dailyLimitCeiling": "many"}).daily_limit_ceiling == 250
