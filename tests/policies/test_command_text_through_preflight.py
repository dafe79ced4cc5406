"""Files written by shell in a remote.Command reach the pack end to end (programs/commandtext): a
heredoc, and a staged file `install`ed into place, are BIND configuration like any CopyToRemote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

COMMANDTEXT = Path(__file__).parent / "programs" / "commandtext"


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "commandtext"
    shutil.copytree(COMMANDTEXT, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"commandtext:case": case}}))
    return project


@pytest.mark.parametrize(("case", "code"), [("heredoc-open", 1), ("heredoc-closed", 0), ("staged-open", 1),
                                             ("runtime-text", 0)])
def test_named_conf_written_by_a_command(tmp_path, case, code):
    status, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    assert status == code, output
    found = violations_of(document, "no-open-recursion")
    if code:
        (violation,) = found
        assert violation["enforcementLevel"] == "mandatory"
        assert "ns1.example.net (198.51.100.53): recursion open to any" in violation["message"], violation
        assert "named.conf.options" in violation["message"]
        return
    assert found == [], found
    if case == "runtime-text":
        reasons = [n["reason"] for n in document.get("notApplicable", []) if n["policy"] == "no-open-recursion"]
        assert any("$(hostname -I" in reason for reason in reasons), document.get("notApplicable")
