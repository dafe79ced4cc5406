"""Day 2, end to end: `preflight preview --state-out` simulates an up, `--state` previews against it.

Every run is `python -m preflight preview` as a user runs it (tests/conftest.py run_preflight), on the
repository's own program and stacks, or on a copy whose config a test changes. The checkpoints are shaped
as `pulumi stack export` writes them (version 3 UntypedDeployment; see test_state.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, project_copy, run_preflight

CLOCK_DIR = Path(__file__).resolve().parent / "clock"
PLACEHOLDER = "preflight-secret-"
PROD_WWW = "urn:pulumi:prod::isp::isp:dns:DnsZone$cloudflare:index/dnsRecord:DnsRecord::example.com-a-@"
PROD_ZONE = "urn:pulumi:prod::isp::isp:dns:DnsZone$cloudflare:index/zone:Zone::example.com-zone"
PROD_DNSSEC = "urn:pulumi:prod::isp::isp:dns:DnsZone$cloudflare:index/zoneDnssec:ZoneDnssec::example.com-dnssec"


def up(project: Path, stack: str, tmp_path: Path, *extra: str) -> Path:
    """A simulated `pulumi up`: the checkpoint it leaves."""
    state = tmp_path / f"{stack}-state.json"
    result, _ = run_preflight(project, stack, tmp_path / "up", "--state-out", str(state), *extra)
    assert result.returncode == 0, result.stderr
    assert state.exists()
    return state


def preview(project: Path, stack: str, tmp_path: Path, state: Path, *extra: str):
    return run_preflight(project, stack, tmp_path / "preview", "--state", str(state), *extra)


def changes(document: dict) -> list[tuple[str, str, list[str]]]:
    return [(r["op"], r["urn"], r["diff"]) for r in document["resources"] if r["op"] != "same"]


def counted(document: dict) -> int:
    """Resources the CLI's summary counts: default providers are internal steps."""
    return sum(1 for r in document["resources"]
               if not (r["type"].startswith("pulumi:providers:") and r["name"].startswith("default")))


def ids(state: Path) -> dict[str, str]:
    return {r["urn"]: r.get("id", "") for r in json.loads(state.read_text())["deployment"]["resources"]}


def add_zone(name: str, records: int):
    def mutate(config: dict) -> None:
        config["isp:zones"].append({"name": name, "records": [
            {"name": f"host{i}", "type": "A", "content": f"203.0.113.{10 + i}"} for i in range(records)]})
    return mutate


@pytest.fixture
def clock(tmp_path, monkeypatch):
    """Moves the clock of every Python process a preflight run starts (tests/preflight/clock/sitecustomize.py)."""
    pytest.importorskip("time_machine")
    log = tmp_path / "clock.log"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(CLOCK_DIR), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PREFLIGHT_TEST_CLOCK_LOG", str(log))

    def move(moment: str) -> None:
        monkeypatch.setenv("PREFLIGHT_TEST_CLOCK", moment)
        log.write_text("")

    def seen() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    move.seen = seen  # type: ignore[attr-defined]
    return move


def ran(seen: list[dict], module: str) -> set[str]:
    """The days the processes running `module` saw."""
    return {entry["today"] for entry in seen if module in entry["argv"]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_same_config_after_an_up_changes_nothing_on_the_same_day_and_on_another(stack, tmp_path, clock):
    clock("2026-03-01T09:00:00Z")
    state = up(REPO, stack, tmp_path)
    # After an up every id is known, and provider references name the provider's id.
    known = ids(state)
    for entry in json.loads(state.read_text())["deployment"]["resources"]:
        assert not entry["custom"] or known[entry["urn"]]
        if "provider" in entry:
            provider_urn, provider_id = entry["provider"].rsplit("::", 1)
            assert known[provider_urn] == provider_id
    # The up ran the program twice (the preview, then the simulated up in its own process), both on that day.
    assert ran(clock.seen(), "preflight") == {"2026-03-01"} and ran(clock.seen(), "preflight.prior") == {"2026-03-01"}
    for moment, day in (("2026-03-01T17:30:00Z", "2026-03-01"), ("2027-11-14T03:00:00Z", "2027-11-14")):
        clock(moment)
        result, document = preview(REPO, stack, tmp_path, state)
        assert ran(clock.seen(), "preflight") == {day}
        assert result.returncode == 0, result.stderr
        assert changes(document) == []
        summary = document["summary"]
        assert summary["changes"] == 0 and summary["same"] == counted(document) > 30
        assert f"Resources:\n    {summary['same']} unchanged\n" in result.stdout
        assert document["massChange"]["status"] == "ok"


def test_a_program_reading_the_date_changes_on_another_day(tmp_path, clock):
    # The clock test can fail: the same flow on a program that puts the date into one input shows it.
    project = project_copy(tmp_path, "dev")
    with (project / "__main__.py").open("a") as program:
        program.write("\nimport datetime\nfrom pulumi_command import local\n"
                      "local.Command('today', create=f'echo {datetime.date.today()}')\n")
    clock("2026-03-01T09:00:00Z")
    state = up(project, "dev", tmp_path)
    clock("2026-03-02T09:00:00Z")
    result, document = preview(project, "dev", tmp_path, state)
    assert result.returncode == 0, result.stderr
    assert changes(document) == [("update", "urn:pulumi:dev::isp::command:local:Command::today", ["create"])]


def test_changing_one_cloudflare_record_is_exactly_one_update_of_that_key(tmp_path):
    state = up(REPO, "prod", tmp_path)

    def move_www(config: dict) -> None:
        (record,) = [r for r in config["isp:zones"][1]["records"] if r["type"] == "A"]
        record["content"] = "198.51.100.81"

    after = tmp_path / "after.json"
    result, document = preview(project_copy(tmp_path, "prod", move_www), "prod", tmp_path, state,
                               "--state-out", str(after))
    assert result.returncode == 0, result.stderr
    assert changes(document) == [("update", PROD_WWW, ["content"])]
    # The up updates the record in place: same id, the new content in its inputs and its outputs.
    (record,) = [r for r in json.loads(after.read_text())["deployment"]["resources"] if r["urn"] == PROD_WWW]
    assert record["id"] == ids(state)[PROD_WWW]
    assert record["inputs"]["content"] == record["outputs"]["content"] == "198.51.100.81"
    assert document["summary"]["update"] == 1 and document["summary"]["changes"] == 1
    assert "~ 1 to update" in result.stdout
    # The zone's id is known against state: the record's zoneId is the zone's, not an unknown.
    (www,) = [r for r in document["resources"] if r["urn"] == PROD_WWW]
    assert www["inputs"]["zoneId"] == ids(state)[PROD_ZONE] != "[unknown]"


def test_removing_a_zone_in_dev_deletes_its_records(tmp_path):
    state = up(project_copy(tmp_path / "before", "dev", add_zone("example.com", 1)), "dev", tmp_path)
    result, document = preview(REPO, "dev", tmp_path, state)
    assert result.returncode == 0, result.stderr
    deleted = {urn.rsplit("::", 1)[-1] for op, urn, _ in changes(document) if op == "delete"}
    assert deleted == {"example.com", "example.com-zone", "example.com-dnssec", "example.com-a-host0",
                       "example.com-mx-@", "example.com-txt-@", "example.com-txt-_dmarc",
                       "example.org-txt-example.com._report._dmarc"}
    assert {op for op, _, _ in changes(document)} == {"delete"}
    assert "- 8 to delete" in result.stdout


def test_removing_a_zone_in_prod_is_refused_by_protect(tmp_path):
    state = up(REPO, "prod", tmp_path)
    out = tmp_path / "next.json"

    def drop_example_com(config: dict) -> None:
        config["isp:zones"] = [zone for zone in config["isp:zones"] if zone["name"] != "example.com"]

    project = project_copy(tmp_path, "prod", drop_example_com)
    result, document = preview(project, "prod", tmp_path, state, "--state-out", str(out))
    assert result.returncode == 2
    # The engine's words (pkg/resource/deploy/step.go deleteProtectedError), for the zone and its DNSSEC.
    for urn in (PROD_ZONE, PROD_DNSSEC):
        assert (f'error: resource "{urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, '
                "either remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`, or "
                f"use the command:\n`pulumi state unprotect '{urn}'`") in result.stderr
    assert "Traceback" not in result.stderr
    assert len(document["stepErrors"]) == 2 and "cannot be deleted" in document["error"]
    assert not out.exists() and not (tmp_path / "preview" / "build" / "prod" / "hosts").exists()


def test_the_mass_change_guard_fires_and_is_overridden(tmp_path):
    state = up(project_copy(tmp_path / "before", "dev", lambda c: [add_zone(n, 3)(c) for n in ("a.test", "b.test")]),
               "dev", tmp_path)
    out = tmp_path / "next.json"
    result, document = preview(REPO, "dev", tmp_path, state, "--state-out", str(out))
    assert result.returncode == 1, result.stderr
    guard = document["massChange"]
    # 2 zones x (3 records + the null MX and the TXT at @ and _dmarc the program adds, and each zone's RFC 7489 §7.1
    # report authorization in example.org): 14 of the records and the zone files.
    assert guard["status"] == "fired" and guard["deleted"] == 14 and guard["existing"] > 20
    assert (f"Too many deletes and replacements of DNS records and zone files, {guard['percent']:.2f}% is over "
            f"30.00% (14/{guard['existing']}: 14 deleted, 0 replaced), force required") in result.stdout
    assert "urn:pulumi:dev::isp::isp:dns:DnsZone$cloudflare:index/dnsRecord:DnsRecord::b.test-txt-_dmarc" in \
        result.stdout
    assert not out.exists()  # an up would not run

    result, document = preview(REPO, "dev", tmp_path, state, "--allow-mass-change", "--state-out", str(out))
    assert result.returncode == 0, result.stderr
    assert document["massChange"]["status"] == "overridden" and out.exists()

    for key, value in (("preflight:massChangePercent", 60), ("preflight:massChangeMinimum", 100)):
        result, document = preview(project_copy(tmp_path / key, "dev", lambda c, k=key, v=value: c.update({k: v})),
                                   "dev", tmp_path, state)
        assert result.returncode == 0, (key, result.stdout[-2000:])
        assert document["massChange"]["status"] == "ok"
    result, _ = preview(project_copy(tmp_path / "bad", "dev", lambda c: c.update({"preflight:massChangePercent": "x"})),
                        "dev", tmp_path, state)
    assert result.returncode == 2 and "preflight:massChangePercent must be a number from 0 to 100" in result.stderr


def test_secrets_are_never_in_clear_and_opaque_ciphertext_counts_unchanged(tmp_path):
    state = up(REPO, "dev", tmp_path)
    text = state.read_text()
    assert PLACEHOLDER not in text and "preflight-sha256:" in text
    # What `pulumi stack export` (without --show-secrets) holds instead: ciphertext preflight cannot open.
    exported = tmp_path / "exported.json"
    sealed = 0
    document = json.loads(text)

    def reseal(value):
        nonlocal sealed
        if isinstance(value, dict):
            if isinstance(value.get("ciphertext"), str):
                sealed += 1
                return {**value, "ciphertext": "v1:AAAAbm90LXJlYWxseS1hLWNpcGhlcnRleHQ="}
            return {key: reseal(item) for key, item in value.items()}
        return [reseal(item) for item in value] if isinstance(value, list) else value

    exported.write_text(json.dumps(reseal(document)))
    result, preview_document = preview(REPO, "dev", tmp_path, exported, "--state-out", str(tmp_path / "next.json"))
    assert result.returncode == 0, result.stderr
    assert changes(preview_document) == []
    assert preview_document["summary"]["notCompared"] > 0
    assert "secret value(s) in the state not compared" in result.stdout
    for produced in (result.stdout, result.stderr, json.dumps(preview_document), (tmp_path / "next.json").read_text()):
        assert PLACEHOLDER not in produced
    assert sealed > 0


def test_a_checkpoint_of_another_stack_is_refused_and_leaves_no_result(tmp_path):
    state = up(REPO, "dev", tmp_path)
    out = tmp_path / "next.json"
    out.write_text("a previous run's checkpoint")
    result, document = preview(REPO, "prod", tmp_path, state, "--state-out", str(out))
    assert result.returncode == 2
    assert f"{state}: resource #1: this is a checkpoint of stack 'dev' of project 'isp', not of stack 'prod'" in \
        result.stderr
    assert "Traceback" not in result.stderr and "error" in document
    assert not out.exists()  # results are never stale
    result, _ = preview(REPO, "dev", tmp_path, state, "--state-out", str(state))
    assert result.returncode == 2 and "is the --state file" in result.stderr and state.exists()


def test_the_policy_pack_passes_a_preview_against_state(tmp_path):
    if not (REPO / "policies" / ".venv" / "bin" / "python").exists():
        pytest.skip("the pack's virtualenv is missing (make pack-venv)")
    state = up(REPO, "prod", tmp_path)
    result, document = preview(REPO, "prod", tmp_path, state, "--policy-pack", str(REPO / "policies"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert changes(document) == [] and not [v for v in document["violations"] if v["enforcementLevel"] == "mandatory"]
