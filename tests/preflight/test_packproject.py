"""preflight.packproject: PulumiPolicy.yaml and the pack's environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight.packproject import pack_environment
from preflight.policyrun import run_policy_packs
from preflight.verdicts import PackError


def test_pack_with_another_runtime_is_refused(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: nodejs\n")
    with pytest.raises(PackError, match="runs Python packs only"):
        run_policy_packs([], project="p", stack="s", organization="o", config={}, secret_keys=[], pack_dirs=[tmp_path])


def test_pack_environment_carries_the_stack():
    base = {"PATH": "/usr/bin", "PYTHONHOME": "/x", "PULUMI_CONFIG": '{"stale": "1"}'}
    env = pack_environment(base, project="isp", stack="dev", organization="", config={"isp:a": "1"},
                           secret_keys=["isp:a"], dry_run=True, venv_dir=Path("/packs/p/venv"))
    assert json.loads(env["PULUMI_CONFIG"]) == {"isp:a": "1"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["isp:a"]
    assert (env["PULUMI_PROJECT"], env["PULUMI_STACK"], env["PULUMI_DRY_RUN"]) == ("isp", "dev", "true")
    assert "PULUMI_ORGANIZATION" not in env and "PYTHONHOME" not in env  # empty values are left out
    assert env["PATH"] == "/packs/p/venv/bin:/usr/bin" and env["VIRTUAL_ENV"] == "/packs/p/venv"
