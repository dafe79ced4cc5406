"""Run a Pulumi Python program in this process, under Pulumi's mocks, as a first `pulumi preview` would.

The Python runtime keeps global state (settings, root stack, config), so a process runs one program:
`run_program` is meant to be called once, by the CLI, in a process of its own.

What the language host does is emulated here: the program's environment (PULUMI_CONFIG, PULUMI_PROJECT,
PULUMI_STACK, PULUMI_DRY_RUN), its config set in the SDK, the root Stack created around the program and its
outputs registered after it, `pulumi.log` diagnostics kept (an error fails the preview). The engine's side,
the resource monitor the program registers with, is preflight/monitor.py.

With `answers` (preflight/prior.py) the ids and outputs are the engine's answers against a deployed
stack's checkpoint (a preview of a change), or those of an update (`dry_run=False`, ids known).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2

from preflight.model import STACK_TYPE, Registration
from preflight.monitor import PreviewMocks, make_monitor_class
from preflight.stackconfig import StackConfig, scrub


class ProgramError(Exception):
    """The program failed; `str()` is one paragraph naming what the program said."""

    def __init__(self, message: str, messages: list[EngineMessage] | None = None):
        super().__init__(message)
        self.messages = list(messages or [])  # diagnostics logged before the failure


@dataclass(frozen=True)
class EngineMessage:
    """A diagnostic the program logged through `pulumi.log` (severity: debug/info/warning/error)."""

    severity: str
    message: str
    urn: str = ""


@dataclass
class PreviewRun:
    """Everything a preview learned: registrations in engine order, reads, diagnostics."""

    project: str
    stack: str
    registrations: list[Registration]
    reads: list[str] = field(default_factory=list)
    messages: list[EngineMessage] = field(default_factory=list)
    steps: list[Any] | None = None  # with a checkpoint: one step per registration, then the deletions

    @property
    def stack_registration(self) -> Registration:
        return next(r for r in self.registrations if r.type == STACK_TYPE)


class RecordingEngine:
    """The engine's Log endpoint: keeps diagnostics for the CLI to show (and to fail on errors)."""

    _SEVERITIES = {0: "debug", 1: "info", 2: "warning", 3: "error"}

    def __init__(self) -> None:
        self.messages: list[EngineMessage] = []
        self.lock = threading.Lock()

    def Log(self, request: Any) -> None:  # noqa: N802 - gRPC method name
        severity = self._SEVERITIES.get(int(request.severity), "info")
        if severity == "debug":
            return  # the SDK's own chatter, thousands of lines for a large program
        with self.lock:
            self.messages.append(EngineMessage(severity, request.message, request.urn))

    def RequirePulumiVersion(self, request: Any) -> Any:  # noqa: N802 - no CLI: any version range is met
        return empty_pb2.Empty()


def _program_frame(error: BaseException, program_dir: Path) -> str:
    """`file:line` of the deepest traceback frame inside the program directory (not its venv)."""
    located = ""
    root = str(program_dir.resolve())
    for frame in traceback.extract_tb(error.__traceback__):
        filename = os.path.abspath(frame.filename)
        if filename.startswith(root + os.sep) and os.sep + "site-packages" + os.sep not in filename:
            located = f"{os.path.relpath(filename, root)}:{frame.lineno}"
    return located


def describe_program_error(error: BaseException, program_dir: Path) -> str:
    """One paragraph: the exception type (unless a RunError), what it said, where in the program.

    Scrubbed: under the CLI a program holds decrypted secrets, and an exception (a renderer's refusal,
    a library's parse error) may quote one."""
    from pulumi.errors import RunError

    if isinstance(error, SystemExit):
        text = f"the program called sys.exit({error.code!r})"
    else:
        lines = [line.rstrip() for line in str(error).splitlines() if line.strip()]
        message = "\n  ".join(lines) if lines else "(no message)"
        text = message if isinstance(error, RunError) else f"{type(error).__name__}: {message}"
    # A RunError is the program saying its input is wrong (the CLI prints it without a location);
    # anything else is a bug, and where it happened helps.
    where = "" if isinstance(error, RunError) else _program_frame(error, program_dir)
    return scrub(f"{text} (at {where})" if where else text)


def _language_host_environment(stack_config: StackConfig, dry_run: bool = True) -> None:
    """What the language host exports to the program process, for code that reads the environment."""
    os.environ["PULUMI_CONFIG"] = json.dumps(stack_config.config)
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(stack_config.secret_keys)
    os.environ["PULUMI_PROJECT"] = stack_config.project
    os.environ["PULUMI_STACK"] = stack_config.stack
    os.environ["PULUMI_DRY_RUN"] = "true" if dry_run else "false"


@contextlib.contextmanager
def cyclic_gc_paused():
    """No cyclic garbage collection while the program runs; what it leaves is frozen afterwards.

    The SDK keeps about 180 objects alive per registered resource (outputs, futures, tasks) until
    the program ends, and CPython's collector traverses all of them again each time enough new ones
    survive: two thirds of a preview's time (19 of 28 s for 4,000 resources). Reference counting
    still frees everything outside a cycle; the few cycles a run leaves go with the process. Frozen,
    the program's objects are not traversed again by collections in the steps that follow.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def run_program(stack_config: StackConfig, *, organization: str = "organization",
                invoke_results: dict[str, dict[str, Any]] | None = None,
                on_registration: Callable[[Registration], None] | None = None,
                answers: Any = None, dry_run: bool = True) -> PreviewRun:
    """Run the program once, as `pulumi-language-python-exec` would at preview; raise ProgramError if it fails.

    `on_registration` is called with each registration as it is recorded (from the monitor's threads;
    it must return quickly): policy packs analyse resources while the program still runs.
    `answers` (prior.PriorAnswers) answers registrations against a checkpoint and gives the run's steps;
    `dry_run=False` runs the program as an update would.
    """
    # grpc's core logs connection chatter (GOAWAY at shutdown) at info level unless told otherwise.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import pulumi.runtime
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings as pulumi_settings
    from pulumi.runtime.stack import run_in_stack

    program_dir = stack_config.program_dir
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    sys.argv = [str(stack_config.program_path)]
    _language_host_environment(stack_config, dry_run)
    pulumi.runtime.set_all_config(stack_config.config, stack_config.secret_keys)

    mocks = PreviewMocks(invoke_results)
    engine = RecordingEngine()
    monitor = make_monitor_class()(mocks, project=stack_config.project, stack=stack_config.stack,
                                   config=stack_config.config, secret_keys=stack_config.secret_keys,
                                   answers=answers, engine=engine)
    monitor.on_registration = on_registration
    # This is set_mocks() without its eager root Stack: set_mocks registers the Stack and its (empty)
    # outputs at once, which would lose `pulumi.export`s. run_in_stack creates the Stack and registers
    # its outputs after the program, as the language host does.
    pulumi_settings.ROOT.set(None)
    pulumi_settings.configure(pulumi_mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=engine,
        project=stack_config.project,
        stack=stack_config.stack,
        dry_run=dry_run,
        organization=organization,
        root_directory=str(stack_config.project_dir),
        callbacks=None,
    ))

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The language host silences asyncio: an abandoned future after a failure is expected, not news.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    program = str(stack_config.program_path)
    try:
        with cyclic_gc_paused():
            loop.run_until_complete(run_in_stack(lambda: runpy.run_path(program, run_name="__main__")))
    except SystemExit as exit_request:
        if exit_request.code not in (None, 0):
            raise ProgramError(describe_program_error(exit_request, program_dir), engine.messages) from exit_request
    except Exception as error:  # noqa: BLE001 - any program failure is reported, not re-raised
        raise ProgramError(describe_program_error(error, program_dir), engine.messages) from error
    finally:
        monitor.close_callback_channels()
        sys.stdout.flush()
        sys.stderr.flush()

    # An error diagnostic fails a preview even when the program itself finishes.
    errors = [m.message for m in engine.messages if m.severity == "error"]
    if errors:
        raise ProgramError(scrub("the program logged an error: " + " | ".join(" ".join(e.split()) for e in errors)),
                           [m for m in engine.messages if m.severity != "error"])

    with monitor.lock:
        # An invoke made while the Stack's own registration is still in flight can register a default
        # provider first; the Stack always heads the list, as the engine's first registration.
        registrations = sorted(monitor.registrations, key=lambda r: r.type != STACK_TYPE)
        reads = list(monitor.reads)
    steps = answers.finish(registrations) if answers is not None else None
    return PreviewRun(project=stack_config.project, stack=stack_config.stack, registrations=registrations,
                      reads=reads, messages=list(engine.messages), steps=steps)
