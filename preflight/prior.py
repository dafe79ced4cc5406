"""The engine's answers against a deployed stack's checkpoint, and the checkpoint an `up` of the plan leaves.

A preview against state (`--state`): each registration whose URN the checkpoint holds gets the answer the
engine gives at a preview (pkg/resource/deploy/step_generator.go): the step `steps.diff_step` finds, then
- same or update: the old id (known, so it flows into the inputs of every resource that uses it) and the
  old outputs with the new inputs laid over them (an ignored key keeps its old value);
- create or replace: an unknown id, the inputs as outputs (as at a first preview);
- a default provider found in the checkpoint keeps its id in provider references (`<urn>::<old id>`).
After the program, every resource of the checkpoint it did not register is deleted (`steps.deletions`),
and so is every resource the checkpoint marks `delete: true`.

`--state-out FILE` runs the program once more, in a process of its own (the Pulumi runtime runs one
program per process) and as an update (`dry_run=False`): same and updated resources keep their ids,
created and replaced ones get an id derived from the URN (and the old id), so every id is known and flows
into the inputs of what uses it, as after a real `up`. That run's registrations, with their inputs and
outputs, are the checkpoint written (`state.checkpoint_document`). Policy packs see only the preview.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from preflight import steps
from preflight.model import PROVIDER_TYPE_PREFIX, UNKNOWN, Registration, is_secret
from preflight.propertypath import parse_property_path
from preflight.state import Checkpoint, checkpoint_document, derived_id, from_checkpoint, write_checkpoint

_KEPT = ("same", "update")


def _top_level(path: str) -> str | int:
    """`ignoreChanges` path -> its top-level property (`tags["a"]` -> `tags`, `a.b` -> `a`); a malformed path
    is kept whole (the step generator reports it)."""
    try:
        elements = parse_property_path(path)
    except ValueError:
        return path
    return elements[0] if elements else path


class PriorAnswers:
    """Ids, outputs and steps for a run against `checkpoint` (None: an empty stack), at preview or as an update."""

    def __init__(self, checkpoint: Checkpoint | None, *, dry_run: bool = True):
        self.checkpoint = checkpoint
        self.dry_run = dry_run
        self.steps: dict[str, Any] = {}
        self.replaced_providers: set[str] = set()  # their resources are replaced with them
        self.claimed_by_alias: set[str] = set()  # old URNs a renamed resource took over: not deleted

    def observe(self, registration: Registration) -> None:
        """The step of a registration, as it is recorded (the monitor's lock held; diff_step is fast).

        A provider registers before the resources that use it, so their steps know whether it is replaced."""
        prior = self.checkpoint.get(registration.urn) if self.checkpoint is not None else None
        if prior is None and self.checkpoint is not None:
            # step_generator.go getOldResource: not found under its URN, a resource is looked up under each
            # of its aliases in order; the first old resource found (and not already taken) is its old state.
            for alias in registration.aliases:
                found = self.checkpoint.get(alias)
                if found is not None and alias not in self.claimed_by_alias:
                    prior = found
                    registration.aliased_from = alias
                    self.claimed_by_alias.add(alias)
                    break
        step = steps.diff_step(registration, prior, registration.replace_on_changes,
                                            registration.ignore_changes, replaced_providers=self.replaced_providers)
        self.steps[registration.urn] = step
        if step.op == "replace" and registration.type.startswith(PROVIDER_TYPE_PREFIX):
            self.replaced_providers.add(registration.urn)

    def _id(self, step: Any, import_id: str = "") -> str:
        old = step.old
        if step.op in _KEPT and old is not None and old.id:
            return old.id
        if import_id:
            return import_id
        if self.dry_run:
            return ""  # created or replaced: the provider assigns the id during the update
        return derived_id(step.urn, old.id if old is not None and step.op == "replace" else "")

    def provider_id(self, registration: Registration) -> str:
        return self._id(self.steps[registration.urn])

    def resource(self, registration: Registration, import_id: str = "") -> tuple[str, dict[str, Any]]:
        """(id, outputs) the engine answers for a custom resource; "" is an unknown id."""
        step = self.steps[registration.urn]
        resource_id = self._id(step, import_id)
        if step.op not in _KEPT or step.old is None:
            return resource_id, dict(registration.inputs)
        ignored = {_top_level(path) for path in registration.ignore_changes}
        outputs = from_checkpoint(dict(step.old.outputs))
        outputs.update((key, value) for key, value in registration.inputs.items() if key not in ignored)
        return resource_id, outputs

    def finish(self, registrations: list[Registration]) -> list[Any]:
        """Every registration's step in registration order, then the deletions (dependents first)."""
        ordered = [self.steps[r.urn] for r in registrations if r.urn in self.steps]
        if self.checkpoint is None:
            return ordered
        # Resources marked `delete: true` are the engine's own business (delete-replaced, not a step shown):
        # the checkpoint's warnings say they go, and the checkpoint written no longer holds them.
        kept = {r.urn for r in registrations} | self.claimed_by_alias
        return ordered + list(steps.deletions(self.checkpoint, kept))


# ---------------------------------------------------------------------------------------------------
# The simulated up


class UpError(Exception):
    """The simulated up failed; `str()` says why (scrubbed)."""


def _kept_secret_outputs(registration: Registration, step: Any) -> dict[str, Any]:
    """Outputs of a kept resource whose old value was sealed: the old ciphertext, not a digest of an unknown."""
    if step is None or step.op not in _KEPT or step.old is None:
        return registration.outputs
    outputs = dict(registration.outputs)
    for key, old in step.old.outputs.items():
        value = outputs.get(key)
        if is_secret(old) and is_secret(value) and value.get("value") == UNKNOWN:
            outputs[key] = old
    return outputs


def after_up(run: Any) -> list[Registration]:
    """The registrations as the checkpoint after the up holds them (deleted resources are simply absent)."""
    by_urn = {step.urn: step for step in run.steps or [] if step.op != "delete"}
    kept = []
    for registration in run.registrations:
        step = by_urn.get(registration.urn)
        if step is not None and step.op in _KEPT and step.old is not None:
            registration.outputs = _kept_secret_outputs(registration, step)
        kept.append(registration)
    return kept


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def simulate_up(*, project_dir: Path, stack: str, state: Path | None, out: Path,
                invoke_results: Path | None, registered: Iterable[str]) -> list[str]:
    """Run the up in a child process and put its checkpoint at `out`; the warnings to show. UpError on failure."""
    preflight_root = str(Path(__file__).resolve().parent.parent)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [preflight_root, environment.get("PYTHONPATH")]))
    temporary = out.parent / f".{out.name}.up-{os.getpid()}"
    argv = [sys.executable, "-m", "preflight.prior", "--stack", stack, "--cwd", str(project_dir),
            "--out", str(temporary)]
    if state is not None:
        argv += ["--state", str(state)]
    if invoke_results is not None:
        argv += ["--invoke-results", str(invoke_results)]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        child = subprocess.run(argv, env=environment, cwd=preflight_root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, errors="replace", check=False)
        if child.returncode != 0 or not temporary.exists():
            said = [line[len("error: "):] for line in child.stderr.splitlines() if line.startswith("error: ")]
            raise UpError(" ".join(said) or f"the simulated up exited with {child.returncode}")
        urns = [entry["urn"] for entry in json.loads(temporary.read_text(encoding="utf-8"))["deployment"]["resources"]]
        warnings = []
        if set(urns) != set(registered):
            warnings.append(f"the program registered {len(urns)} resources as an update and {len(set(registered))} "
                            "at preview (it decides on values unknown at preview); the checkpoint written holds "
                            "what the update registered")
        os.replace(temporary, out)
        return warnings
    finally:
        temporary.unlink(missing_ok=True)


def _up(args: argparse.Namespace) -> int:
    """The child: run the program as an update against the checkpoint and write what it leaves."""
    from preflight.runner import ProgramError, run_program
    from preflight.stackconfig import StackConfigError, load_stack_config, scrub
    from preflight.state import StateError, read_checkpoint

    try:
        stack_config = load_stack_config(Path(args.cwd), args.stack)
        checkpoint = None
        if args.state:
            checkpoint = read_checkpoint(Path(args.state), project=stack_config.project, stack=stack_config.stack)
        invoke_results = json.loads(Path(args.invoke_results).read_text()) if args.invoke_results else {}
        run = run_program(stack_config, invoke_results=invoke_results,
                          answers=PriorAnswers(checkpoint, dry_run=False), dry_run=False)
        refused = steps.protect_errors(run.steps or [])
        if refused:
            raise UpError(" ".join(refused))
        write_checkpoint(Path(args.out), checkpoint_document(after_up(run), time=_utc_now()))
    except (StackConfigError, StateError, ProgramError, UpError, OSError, ValueError) as failure:
        from preflight.plan import mask

        placeholders = stack_config.secret_placeholders if "stack_config" in locals() else []
        print(f"error: {' '.join(mask(scrub(str(failure)), placeholders).split())}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preflight.prior",
                                     description="preflight's simulated up (run by `preview --state-out`)")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--state")
    parser.add_argument("--invoke-results")
    return _up(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
