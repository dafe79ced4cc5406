"""Run a Pulumi Python program in this process, under Pulumi's mocks, as a first `pulumi preview` would.

The Python runtime keeps global state (settings, root stack, config), so a process runs one program:
`run_program` is meant to be called once, by the CLI, in a process of its own.

What a real engine does at a first preview and is emulated here:
- URNs: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, the qualified type being the parent's
  qualified type + `$` + the type; children of the Stack get no prefix.
- A custom resource being created has an unknown id and unknown provider-computed outputs; its known
  inputs come back as outputs. So `zone.id` passed into a record arrives as the UNKNOWN sentinel.
- Each package used without an explicit provider gets a default provider resource
  (`pulumi:providers:<pkg>::default_<version>`) whose inputs are the package's config and version, and
  every such resource refers to it as `<provider urn>::<UNKNOWN>`.
- Resource transforms (the resource's, its ancestors', then the stack's) run through the program's
  callback server over gRPC, as resmon calls them; an unset `protect` is inherited from the parent.
- Invokes return {} (nothing is asked of a real provider) unless `invoke_results` says otherwise;
  invoke transforms are not run. Reads (`Resource.get`) are not registrations. StackReference
  outputs are unknown (no backend to read them from).

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
import re
import runpy
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from preflight.model import PROVIDER_TYPE_PREFIX, SECRET_SIG, SIG_KEY, STACK_TYPE, UNKNOWN, Registration
from preflight.stackconfig import StackConfig, scrub

# Packages whose resources the engine serves itself (StackReference, getResource...): no default provider.
_BUILTIN_PACKAGES = {"pulumi"}
# Dynamic providers receive the whole config, namespaces kept (pkg/resource/deploy/target.go).
_DYNAMIC_PACKAGES = {"pulumi-python", "pulumi-nodejs"}
_NAME_FIRST = re.compile(r"[A-Za-z_.]")
_NAME_REST = re.compile(r"[A-Za-z0-9_.-]")


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


def engine_urn(stack: str, project: str, parent_urn: str, type_: str, name: str) -> str:
    """The URN the engine assigns (resource.NewURN): parent qualified type + `$` + type, Stack parents elided."""
    qualified = type_
    if parent_urn:
        parent_qualified = parent_urn.split("::", 3)[2]
        if parent_qualified != STACK_TYPE:
            qualified = f"{parent_qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def package_of(token: str) -> str:
    """`cloudflare:index/zone:Zone` -> `cloudflare`."""
    return token.split(":", 1)[0]


def _into_qname(text: str) -> str:
    """tokens.IntoQName: each `/`-separated segment made a legal Name, illegal characters as `_`."""
    segments = []
    for segment in text.split("/"):
        if not segment:
            continue
        chars = ["_" if not _NAME_FIRST.match(segment[0]) else segment[0]]
        chars += [c if _NAME_REST.match(c) else "_" for c in segment[1:]]
        segments.append("".join(chars))
    return "/".join(segments) or "_"


def default_provider_name(version: str, plugin_download_url: str = "") -> str:
    """ProviderRequest.DefaultName: `default_6_23_0`, pre-release and build parts appended with `_`."""
    name = "default"
    if version:
        core, _, build = version.partition("+")
        core, _, pre = core.partition("-")
        major_minor_patch = (core.split(".") + ["0", "0", "0"])[:3]
        name += "_" + "_".join(str(int(part)) if part.isdigit() else part for part in major_minor_patch)
        for part in pre.split(".") if pre else []:
            name += "_" + part
        for part in build.split(".") if build else []:
            name += "_" + part
    if plugin_download_url:
        name += "_" + _into_qname(plugin_download_url)
    return name


def _secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


class PreviewMocks:
    """The `pulumi.runtime.Mocks` of a first preview: ids unknown, outputs = the inputs (wire form)."""

    def __init__(self, invoke_results: dict[str, dict[str, Any]] | None = None):
        self.invoke_results = invoke_results or {}

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        # An empty id is what providers send for a resource being created at preview; the SDK
        # (runtime/resource.py: `is_known = bool(resp.id)`) turns it into an unknown Output.
        # Imports and reads know their id.
        return (args.resource_id or "", dict(args.inputs))

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return dict(self.invoke_results.get(args.token, {})), []

    def register_transform(self, transform: Any) -> None:  # the Mocks interface; nothing to keep
        pass

    def register_invoke_transform(self, transform: Any) -> None:
        pass


def _make_monitor_class() -> type:
    # pulumi.runtime.mocks is imported lazily so `preflight --help` stays fast.
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.proto import resource_pb2

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        """MockMonitor that answers like the engine at a first preview and records every registration."""

        def __init__(self, mocks: PreviewMocks, *, project: str, stack: str, config: dict[str, str],
                     secret_keys: list[str], answers: Any = None):
            super().__init__(mocks)  # type: ignore[arg-type]
            self.answers = answers  # ids and outputs against a checkpoint, or of an update (prior.py)
            self.project = project
            self.stack = stack
            self.config = config
            self.secret_keys = set(secret_keys)
            self.lock = threading.Lock()
            self.registrations: list[Registration] = []
            self.by_urn: dict[str, Registration] = {}
            self.default_providers: dict[tuple[str, str, str], str] = {}
            self.reads: list[str] = []
            self.parents: dict[str, str] = {}
            self.resource_transforms: dict[str, list[Any]] = {}
            self.stack_transform_callbacks: list[Any] = []
            self.callback_stubs: dict[str, Any] = {}
            self.callback_channels: list[Any] = []
            # Told of each registration as it is recorded (its inputs are final by then).
            self.on_registration: Callable[[Registration], None] | None = None

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            return engine_urn(self.stack, self.project, parent, type_, name)

        def _package_config(self, package: str) -> dict[str, Any]:
            """Target.GetPackageConfig: the package's config as strings, secrets wrapped."""
            inputs: dict[str, Any] = {}
            for key, value in sorted(self.config.items()):
                namespace, _, name = key.partition(":")
                if package in _DYNAMIC_PACKAGES:
                    name = key
                elif namespace != package:
                    continue
                inputs[name] = _secret(value) if key in self.secret_keys else value
            return inputs

        def _default_provider_ref(self, package: str, version: str, download_url: str) -> str:
            """The reference of the package's default provider, registering it on first use (lock held)."""
            request_key = (package, version, download_url)
            ref = self.default_providers.get(request_key)
            if ref is not None:
                return ref
            provider_type = PROVIDER_TYPE_PREFIX + package
            name = default_provider_name(version, download_url)
            urn = engine_urn(self.stack, self.project, "", provider_type, name)
            inputs = self._package_config(package)
            if version:
                inputs["version"] = version
            if download_url:
                inputs["pluginDownloadURL"] = download_url
            registration = Registration(urn=urn, type=provider_type, name=name, custom=True, inputs=inputs)
            self._record(registration)
            registration.id = self.answers.provider_id(registration) if self.answers is not None else ""
            registration.outputs = {**inputs, "id": registration.id or UNKNOWN}
            ref = f"{urn}::{registration.id or UNKNOWN}"
            self.default_providers[request_key] = ref
            return ref

        def _needs_default_provider(self, token: str, custom: bool, provider: str) -> bool:
            return (custom and not provider and not token.startswith(PROVIDER_TYPE_PREFIX)
                    and package_of(token) not in _BUILTIN_PACKAGES)

        def _record(self, registration: Registration) -> None:
            self.registrations.append(registration)
            self.by_urn[registration.urn] = registration
            if self.answers is not None:
                self.answers.observe(registration)
            if self.on_registration is not None:
                self.on_registration(registration)

        def _transform_options(self, request: Any) -> Any:
            """The TransformResourceOptions resmon builds from a registration request."""
            options = resource_pb2.TransformResourceOptions(
                depends_on=list(request.dependencies),
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                version=request.version,
                aliases=list(request.aliases),
                provider=request.provider,
                providers=dict(request.providers),
                plugin_download_url=request.pluginDownloadURL,
                deleted_with=request.deletedWith,
                additional_secret_outputs=list(request.additionalSecretOutputs),
            )
            if request.HasField("protect"):
                options.protect = request.protect
            if request.HasField("retainOnDelete"):
                options.retain_on_delete = request.retainOnDelete
            if request.deleteBeforeReplaceDefined:
                options.delete_before_replace = request.deleteBeforeReplace
            if request.HasField("customTimeouts"):
                options.custom_timeouts.CopyFrom(request.customTimeouts)
            return options

        def _invoke_callback(self, callback: Any, payload: bytes) -> bytes:
            """Call back into the program's callback server, as the engine does, over gRPC."""
            import grpc
            from pulumi.runtime.proto import callback_pb2, callback_pb2_grpc

            with self.lock:
                stub = self.callback_stubs.get(callback.target)
                if stub is None:
                    channel = grpc.insecure_channel(callback.target)
                    self.callback_channels.append(channel)
                    stub = callback_pb2_grpc.CallbacksStub(channel)
                    self.callback_stubs[callback.target] = stub
            try:
                answer = stub.Invoke(callback_pb2.CallbackInvokeRequest(token=callback.token, request=payload))
            except grpc.RpcError as failure:
                raise Exception(failure.details() or str(failure)) from None
            return answer.response

        def _run_transforms(self, request: Any) -> tuple[Any, Any]:
            """Resource transforms, then each ancestor's, then the stack's (resmon.RegisterResource order)."""
            with self.lock:
                transforms = list(request.transforms)
                ancestor = request.parent
                while ancestor:
                    transforms += self.resource_transforms.get(ancestor, [])
                    ancestor = self.parents.get(ancestor, "")
                transforms += self.stack_transform_callbacks
            properties, options = request.object, self._transform_options(request)
            for callback in transforms:
                transform_request = resource_pb2.TransformRequest(
                    type=request.type, name=request.name, custom=request.custom, parent=request.parent,
                    properties=properties, options=options)
                response = resource_pb2.TransformResponse.FromString(
                    self._invoke_callback(callback, transform_request.SerializeToString()))
                properties = response.properties
                if response.HasField("options"):
                    options = response.options
            return properties, options

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            urn = self.make_urn(request.parent, request.type, request.name)
            properties, options = self._run_transforms(request)
            inputs = MessageToDict(properties)
            if request.type.startswith(PROVIDER_TYPE_PREFIX):
                # resmon.RegisterResource puts the requested plugin version into provider inputs.
                if options.version:
                    inputs["version"] = options.version
                if options.plugin_download_url:
                    inputs["pluginDownloadURL"] = options.plugin_download_url
            with self.lock:
                self.parents[urn] = request.parent
                if request.transforms:
                    self.resource_transforms[urn] = list(request.transforms)
                provider = options.provider
                if self._needs_default_provider(request.type, request.custom, provider):
                    provider = self._default_provider_ref(package_of(request.type), options.version,
                                                          options.plugin_download_url)
                parent = self.by_urn.get(request.parent)
                # inheritFromParent: an unset protect takes the parent's.
                protect = options.protect if options.HasField("protect") else bool(parent and parent.protect)
                registration = Registration(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent or None,
                    dependencies=list(options.depends_on),
                    property_dependencies={key: list(deps.urns)
                                           for key, deps in request.propertyDependencies.items() if key in inputs},
                    protect=protect,
                    provider=provider or None,
                    inputs=inputs,
                    replace_on_changes=list(options.replace_on_changes),
                    ignore_changes=list(options.ignore_changes),
                    delete_before_replace=options.HasField("delete_before_replace") and options.delete_before_replace,
                    retain_on_delete=options.HasField("retain_on_delete") and options.retain_on_delete,
                    additional_secret_outputs=list(options.additional_secret_outputs),
                )
                self._record(registration)
            if request.type == STACK_TYPE:
                return resource_pb2.RegisterResourceResponse(urn=urn)

            resource_id, state = "", inputs
            if request.custom:
                resource_args = pulumi_mocks.MockResourceArgs(
                    typ=request.type, name=request.name, inputs=inputs, provider=provider,
                    resource_id=request.importId, custom=True)
                if self.answers is not None:
                    resource_id, state = self.answers.resource(registration, request.importId)
                else:
                    resource_id, state = self.mocks.new_resource(resource_args)  # type: ignore[misc]
                resource_id = resource_id or ""
                registration.id = resource_id
                outputs = {**state, "id": resource_id or UNKNOWN}
                # The engine marks additionalSecretOutputs secret in the resource's state.
                for key in options.additional_secret_outputs:
                    if key in outputs and not _is_secret(outputs[key]):
                        outputs[key] = _secret(outputs[key])
                registration.outputs = outputs
            else:
                # A component's outputs are its inputs until it calls register_outputs.
                registration.outputs = dict(inputs)
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
            return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id,
                                                         object=ParseDict(state, struct_pb2.Struct()))

        def close_callback_channels(self) -> None:
            with self.lock:
                for channel in self.callback_channels:
                    channel.close()
                self.callback_channels.clear()
                self.callback_stubs.clear()

        def SignalAndWaitForShutdown(self, request: Any) -> Any:  # noqa: N802
            # The program is done; let go of its callback server before the SDK stops it.
            self.close_callback_channels()
            return empty_pb2.Empty()

        def RegisterStackTransform(self, request: Any) -> Any:  # noqa: N802
            with self.lock:
                self.stack_transform_callbacks.append(request)
            return super().RegisterStackTransform(request)

        def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
            outputs = MessageToDict(request.outputs)
            with self.lock:
                registration = self.by_urn.get(request.urn)
                if registration is not None:
                    registration.outputs = outputs
            return empty_pb2.Empty()

        def ReadResource(self, request: Any) -> Any:  # noqa: N802
            # Reads (`Resource.get`) are not registrations: the engine does not send them to policy packs.
            # Their default provider is registered all the same.
            urn = self.make_urn(request.parent, request.type, request.name)
            with self.lock:
                if self._needs_default_provider(request.type, True, request.provider):
                    self._default_provider_ref(package_of(request.type), request.version,
                                               request.pluginDownloadURL)
                self.reads.append(urn)
            state = MessageToDict(request.properties)
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, request.id, state)
            return resource_pb2.ReadResourceResponse(urn=urn, properties=request.properties)

        def Invoke(self, request: Any) -> Any:  # noqa: N802
            if request.tok == "pulumi:pulumi:getResource":
                urn = MessageToDict(request.args).get("urn", "")
                known = self.resources.get(urn)
                if known is None:
                    raise Exception(f"unknown resource {urn}")
                answer = {"urn": known.urn, "id": known.id or UNKNOWN, "state": known.state}
                return resource_pb2.ResourceInvokeResponse(**{"return": ParseDict(answer, struct_pb2.Struct())})
            with self.lock:
                if self._needs_default_provider(request.tok, True, request.provider):
                    self._default_provider_ref(package_of(request.tok), request.version,
                                               request.pluginDownloadURL)
            return super().Invoke(request)

    return RecordingMonitor


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
    monitor = _make_monitor_class()(mocks, project=stack_config.project, stack=stack_config.stack,
                                    config=stack_config.config, secret_keys=stack_config.secret_keys,
                                    answers=answers)
    monitor.on_registration = on_registration
    engine = RecordingEngine()
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
