"""preflight.runner: running a program as the language host does (environment, Stack, diagnostics, failures)."""

from __future__ import annotations

from pathlib import Path

from program_helpers import run_recorded, write_program
from pulumi.errors import RunError

from preflight.runner import describe_program_error

STACK_FILES = {"Pulumi.yaml": "name: hostrun\nruntime: python\n",
               "Pulumi.dev.yaml": "config:\n  hostrun:colour: blue\n"}


def test_the_stack_heads_the_registrations_with_the_exports_as_outputs(tmp_path):
    program = write_program(tmp_path, {**STACK_FILES, "__main__.py": """\
        import os
        import pulumi
        pulumi.export("project", os.environ["PULUMI_PROJECT"])
        pulumi.export("stack", os.environ["PULUMI_STACK"])
        pulumi.export("dryRun", os.environ["PULUMI_DRY_RUN"])
        pulumi.export("colour", pulumi.Config().require("colour"))
        pulumi.log.warn("careful")
    """})
    run = run_recorded(program)
    stack = run["registrations"][0]
    assert stack["urn"] == "urn:pulumi:dev::hostrun::pulumi:pulumi:Stack::hostrun-dev"
    assert stack["outputs"] == {"project": "hostrun", "stack": "dev", "dryRun": "true", "colour": "blue"}
    assert [(m["severity"], m["message"]) for m in run["messages"]] == [("warning", "careful")]


def test_a_failing_program_is_reported_with_its_location(tmp_path):
    program = write_program(tmp_path, {**STACK_FILES, "__main__.py": """\
        import pulumi
        pulumi.log.info("starting")
        raise ValueError("no such colour")
    """})
    run = run_recorded(program)
    assert run["error"] == "ValueError: no such colour (at __main__.py:3)"
    assert [m["message"] for m in run["messages"]] == ["starting"]


def test_an_error_diagnostic_fails_a_program_that_finishes(tmp_path):
    program = write_program(tmp_path, {**STACK_FILES, "__main__.py": """\
        import pulumi
        pulumi.log.error("the zone is missing")
    """})
    assert run_recorded(program)["error"] == "the program logged an error: the zone is missing"


def test_a_run_error_is_the_program_speaking_and_has_no_location(tmp_path):
    assert describe_program_error(RunError("colour must be set"), Path(tmp_path)) == "colour must be set"
    assert describe_program_error(SystemExit(3), Path(tmp_path)) == "the program called sys.exit(3)"
