"""The benchmark's parts at a tiny size: the generator's stacks are valid and compliant, the
measurement reports what `make bench` tabulates, a /16 pool costs no more resources than a /24,
and the floor registers exactly as many resources as asked. Behaviour only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.generate import CUSTOMER_ZONES_FILE, StackSize, customer_zones, stack_config, stack_file
from bench.projects import REPO, STACK, floor_project, our_project
from bench.run import SIZES, slope
from components.config import parse_stack_config

TINY = StackSize(zones=2, records_per_zone=8, hosts=6, pools=1)


def measure(tmp_path: Path, project: Path, *extra: str) -> dict:
    out = tmp_path / f"{project.name}-{len(extra)}.json"
    subprocess.run(
        [sys.executable, "-m", "bench.measure", str(out), "--", "preview", "--stack", STACK, "--cwd", str(project),
         "--build-dir", str(tmp_path / "build"), *extra],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("size", [TINY, *SIZES], ids=lambda s: s.label)
def test_generated_stacks_validate(size, tmp_path):
    (tmp_path / CUSTOMER_ZONES_FILE).write_text(json.dumps(customer_zones(size)))
    cfg = parse_stack_config(stack_config(size), "Pulumi.bench.yaml", str(tmp_path))
    assert len(cfg.zones) == size.zones + 1  # the primary zone comes on top
    assert all(len(zone.records) == size.records_per_zone for zone in cfg.zones[1:])
    assert len(cfg.hosts) == size.hosts
    assert [pool.prefix.prefixlen for pool in cfg.networks.customer_pools] == [16] * size.pools


@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.label)
def test_generated_stack_config_fits_one_environment_variable(size):
    # The CLI passes a program its stack config as JSON in PULUMI_CONFIG; Linux refuses one
    # variable over 128 KiB (MAX_ARG_STRLEN), so even the largest stack must stay under it.
    config = {key: value if isinstance(value, str) else json.dumps(value)
              for key, value in stack_file(size)["config"].items()}
    assert len(("PULUMI_CONFIG=" + json.dumps(config)).encode()) < 128 * 1024


def test_tiny_stack_is_previewed_and_policed_and_measured(tmp_path):
    result = measure(tmp_path, our_project(tmp_path / "ours", TINY), "--policy-pack", str(REPO / "policies"))
    assert result["exitCode"] == 0  # compliant: no mandatory violation
    assert result["registered"] > TINY.zones * TINY.records_per_zone
    assert result["seconds"] >= result["programSeconds"] > 0
    assert result["rssMb"] > 0 and result["packRssMb"] > 0 and result["packCpuSeconds"] > 0


def test_a_slash_16_pool_costs_the_resources_of_a_slash_24(tmp_path):
    counts = {}
    for prefix in ("100.64.0.0/16", "100.64.0.0/24"):
        project = our_project(tmp_path / prefix.replace("/", "_"), TINY)
        document = stack_file(TINY)
        document["config"]["isp:networks"]["customerPools"][0]["prefix"] = prefix
        (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document))
        counts[prefix] = measure(tmp_path, project)["registered"]
    assert counts["100.64.0.0/16"] == counts["100.64.0.0/24"]


def test_the_floor_registers_as_many_resources_as_asked(tmp_path):
    assert measure(tmp_path, floor_project(tmp_path / "floor", 40))["registered"] == 40


def test_slope_is_the_exponent_of_a_power_law():
    assert slope([(1_000, 2.0), (4_000, 8.0), (16_000, 32.0)]) == pytest.approx(1.0)
    assert slope([(1_000, 1.0), (4_000, 16.0), (16_000, 256.0)]) == pytest.approx(2.0)


def test_the_settled_floor_registers_the_same_resources(tmp_path):
    plain = measure(tmp_path, floor_project(tmp_path / "floor", 40))
    settled = measure(tmp_path, floor_project(tmp_path / "settled", 40, settled=True))
    assert settled["registered"] == plain["registered"] == 40


def test_a_preview_against_the_stacks_own_checkpoint_is_measured_and_changes_nothing(tmp_path):
    # What `make bench` times at 16k: the stateless preview, and one against the checkpoint an up left.
    project = our_project(tmp_path / "ours", TINY)
    state, document = tmp_path / "state.json", tmp_path / "preview.json"
    up = measure(tmp_path, project, "--state-out", str(state))
    assert up["exitCode"] == 0 and json.loads(state.read_text())["version"] == 3
    against = measure(tmp_path, project, "--state", str(state), "--json", str(document))
    assert against["exitCode"] == 0 and against["registered"] == up["registered"]
    assert against["rssMb"] > 0 and against["seconds"] >= against["programSeconds"] > 0
    summary = json.loads(document.read_text())["summary"]
    assert summary["changes"] == 0 and summary["same"] > TINY.zones * TINY.records_per_zone
