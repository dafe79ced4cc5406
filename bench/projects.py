"""Throw-away Pulumi project directories for the benchmark: our program at a size, and the floor.

Our program is linked, not copied (`__main__.py`, `components/`, `Pulumi.yaml` and the `.venv`
the project names), so the benchmark measures the code in this checkout; only the stack file and
its customer zones file are generated. The floor is `bench/floor_program` with the number of
records to register (and, for the settled floor, `floor:settled`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from bench.generate import CUSTOMER_ZONES_FILE, StackSize, customer_zones, stack_file

REPO = Path(__file__).resolve().parent.parent
FLOOR_PROGRAM = Path(__file__).resolve().parent / "floor_program"
STACK = "bench"
# Registrations of the floor that are not DNS records: the Stack, the default provider, the zone.
FLOOR_FIXED_REGISTRATIONS = 3


def our_project(directory: Path, size: StackSize) -> Path:
    """A project dir running this checkout's program on a synthetic stack of `size`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("__main__.py", "components", "Pulumi.yaml", ".venv"):
        link = directory / name
        if not link.exists() and (REPO / name).exists():
            link.symlink_to(REPO / name)
    (directory / f"Pulumi.{STACK}.yaml").write_text(yaml.dump(stack_file(size), Dumper=_dumper(), sort_keys=False))
    (directory / CUSTOMER_ZONES_FILE).write_text(json.dumps(customer_zones(size), indent=1))
    return directory


def floor_project(directory: Path, registrations: int, *, settled: bool = False) -> Path:
    """A project dir registering `registrations` resources in all: one zone and its DNS records.

    `settled`: the floor also waits for its registrations in one gather, as our program does.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copyfile(FLOOR_PROGRAM / name, directory / name)
    records = max(1, registrations - FLOOR_FIXED_REGISTRATIONS)
    config = {"floor:records": str(records)} | ({"floor:settled": "true"} if settled else {})
    (directory / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def _dumper() -> type:
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)
