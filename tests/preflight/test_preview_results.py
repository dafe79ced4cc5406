"""No stale result: after a failed or interrupted preview, nothing of the previous run looks current.

A run removes the previous results first (host files, --json, --sarif, --junit), writes each new one
beside its place and renames it in; host files, SARIF and JUnit are published only when the preview
succeeds. After exit 2 only the --json document remains, holding the error.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

PROGRAM = """\
    import os
    import time

    import pulumi
    from pulumi_command import local, remote

    cfg = pulumi.Config()
    connection = remote.ConnectionArgs(host="web1.example.net", user="deploy")
    remote.CopyToRemote("conf", connection=connection, source=pulumi.StringAsset(cfg.get("conf") or "a\\n"),
                        remote_path="/etc/app/app.conf")
    local.Command("cleanup", create="rm -rf /var/tmp/cache")
    if cfg.get("fail"):
        raise ValueError(cfg.get("fail"))
    if cfg.get("hang"):
        open(cfg.get("hang"), "w").close()
        time.sleep(120)
"""

PACK = """\
    from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


    def no_rm(args, report_violation):
        if args.resource_type == "command:local:Command" and "rm -rf" in (args.props.get("create") or ""):
            report_violation("this command deletes files recursively")


    PolicyPack(name="guard", enforcement_level=EnforcementLevel.ADVISORY,
               policies=[ResourceValidationPolicy(name="no-rm", description="No recursive deletes.",
                                                  validate=no_rm)])
"""


class Run:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.program = tmp_path / "program"
        self.pack = tmp_path / "pack"
        for directory, files in ((self.program, {"Pulumi.yaml": "name: app\nruntime: python\n",
                                                 "__main__.py": PROGRAM}),
                                 (self.pack, {"PulumiPolicy.yaml": "runtime: python\n", "__main__.py": PACK})):
            directory.mkdir()
            for name, text in files.items():
                (directory / name).write_text(textwrap.dedent(text))
        self.build = tmp_path / "build"
        self.hosts = self.build / "dev" / "hosts"
        self.json, self.sarif, self.junit = (tmp_path / "out" / n for n in ("preview.json", "p.sarif", "p.xml"))

    def argv(self, pack: Path | None = None) -> list[str]:
        return [sys.executable, "-m", "preflight", "preview", "--stack", "dev", "--cwd", str(self.program),
                "--build-dir", str(self.build), "--json", str(self.json), "--policy-pack", str(pack or self.pack),
                "--sarif", str(self.sarif), "--junit", str(self.junit)]

    def __call__(self, config: dict | str, pack: Path | None = None) -> subprocess.CompletedProcess:
        text = config if isinstance(config, str) else json.dumps({"config": config})
        (self.program / "Pulumi.dev.yaml").write_text(text)
        return subprocess.run(self.argv(pack), cwd=REPO, capture_output=True, text=True, timeout=180)

    def succeeded(self, content: str) -> None:
        assert (self.hosts / "web1.example.net/etc/app/app.conf").read_text() == content
        document = json.loads(self.json.read_text())
        assert "error" not in document and document["violations"]
        assert json.loads(self.sarif.read_text())["runs"] and "<testsuites" in self.junit.read_text()

    def failed(self, why: str) -> None:
        assert not self.hosts.exists() and not self.sarif.exists() and not self.junit.exists()
        assert why in json.loads(self.json.read_text())["error"]
        self.no_leftovers()

    def no_leftovers(self) -> None:
        # Nothing half-written or staged remains beside the results.
        leftovers = [p for d in (self.build / "dev", self.json.parent) if d.exists() for p in d.iterdir()
                     if p.name.startswith(".")]
        assert leftovers == []


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path)


def test_each_kind_of_failure_leaves_no_previous_result(run, tmp_path):
    first = run({"app:conf": "first\n"})
    assert first.returncode == 0, first.stderr
    run.succeeded("first\n")
    run.no_leftovers()

    broken = run("config:\n  app:conf: [unclosed\n")  # a stack file that is not YAML
    assert broken.returncode == 2
    run.failed("not valid YAML")

    assert run({"app:conf": "second\n"}).returncode == 0
    run.succeeded("second\n")
    failing = run({"app:conf": "third\n", "app:fail": "the program gave up"})  # the program fails
    assert failing.returncode == 2
    run.failed("the program gave up")

    assert run({"app:conf": "fourth\n"}).returncode == 0
    crashed = run({"app:conf": "fifth\n"}, pack=REPO / "tests/preflight/packs/crashing")  # the pack fails
    assert crashed.returncode == 2
    run.failed("policy pack error")
    assert "hostFiles" not in json.loads(run.json.read_text())  # none were published

    assert run({"app:conf": "sixth\n"}).returncode == 0
    run.succeeded("sixth\n")


def test_an_interrupted_run_leaves_no_previous_result(run, tmp_path):
    assert run({"app:conf": "first\n"}).returncode == 0
    marker = tmp_path / "program-is-running"
    (run.program / "Pulumi.dev.yaml").write_text(json.dumps({"config": {"app:hang": str(marker)}}))
    process = subprocess.Popen(run.argv(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the program never started"
        process.send_signal(signal.SIGKILL)  # CI's timeout, or the OOM killer: no cleanup runs
    finally:
        process.kill()
        process.wait()
    assert not run.hosts.exists() and not run.json.exists() and not run.sarif.exists() and not run.junit.exists()


def test_a_result_path_that_is_a_directory_is_refused_not_removed(run, tmp_path):
    run.json.mkdir(parents=True)
    (run.json / "keep").write_text("mine")
    result = run({"app:conf": "first\n"})
    assert result.returncode == 2 and "is a directory" in result.stderr
    assert (run.json / "keep").read_text() == "mine"
