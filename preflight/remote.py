"""Remote (multi-language) components: built by their provider's Construct, as the engine does.

The monitor calls `construct` for every registration with `remote=True`. As resmon.RegisterResource
does for a remote component (pkg/resource/deploy/source_eval.go), it finds the package's provider
(preflight/plugins.py), starts it (pkg/resource/plugin/plugin.go, newPlugin: the engine address as
its argument, the port on stdout's first line), handshakes, checks and configures it with the
provider's config (provider_plugin.go: CheckConfig and Configure tolerate UNIMPLEMENTED), and calls
Construct with the monitor served over gRPC (provider_plugin.go, Construct). The provider registers
the component and its children through that endpoint: they are ordinary registrations of the
program's monitor. Construct's urn, state and stateDependencies become the component's
RegisterResourceResponse. The provider's `pulumi.log` messages reach the program's engine.

- The component's inputs are sent as resmon unmarshals them (UpgradeToOutputValues: each unknown and
  each secret an output value) when the provider accepts outputs, so an unknown stays at its leaf.
- A provider whose config has unknowns is not configured: the engine then only registers the
  component by its URN, with no children; so does this.
- No plugin found: `construct` returns None and the monitor registers the component empty and warns.
- A plugin found but failing: RemoteComponentError naming the component and the plugin (the engine
  fails the preview).

Differs on purpose from the engine:
- The engine keeps one provider process per package for the whole deployment; here each Construct
  starts its own and stops it once Construct returns (children are all registered by then).
- The plugin's stdout and stderr are kept, not shown (the engine logs them at debug level), and
  quoted when it fails.
- Starting the plugin is bounded (PLUGIN_START_TIMEOUT); the engine waits for the port unbounded.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

from preflight.model import (
    INTERNAL_KEY,
    OUTPUT_VALUE_SIG,
    PROVIDER_TYPE_PREFIX,
    SIG_KEY,
    UNKNOWN,
    is_secret,
    provider_urn,
    secret,
)
from preflight.plugins import PluginError, find_project_root, find_provider_plugin

# Seconds for a plugin to print its port; then for its gRPC server to answer (plugin.go,
# pluginRPCConnectionTimeout); then for it to exit after an interrupt (plugin.go, kill).
PLUGIN_START_TIMEOUT = 60.0
PLUGIN_CONNECT_TIMEOUT = 10.0
PLUGIN_STOP_GRACE = 5.0
# Worker threads serving the provider: its SDK registers children concurrently.
_SERVER_WORKERS = 32
_LOG_SEVERITIES = {0: "debug", 1: "info", 2: "warning", 3: "error"}


class RemoteComponentError(Exception):
    """A remote component's provider was found but could not build it."""


def upgrade_to_output_values(value: Any) -> Any:
    """Unknowns and secrets as output values (rpc.go, UpgradeToOutputValues), inside out."""
    if value == UNKNOWN:
        return {SIG_KEY: OUTPUT_VALUE_SIG}
    if isinstance(value, list):
        return [upgrade_to_output_values(item) for item in value]
    if isinstance(value, dict):
        if is_secret(value):
            return {SIG_KEY: OUTPUT_VALUE_SIG, "secret": True, "value": upgrade_to_output_values(value.get("value"))}
        if SIG_KEY in value:
            return value  # assets, archives, resource references, output values: as they are
        return {key: upgrade_to_output_values(item) for key, item in value.items()}
    return value


def downgrade_output_values(value: Any, dependencies: list[str]) -> Any:
    """Output values as unknowns, secrets or plain values; their dependencies appended to
    `dependencies` (source_eval.go: the Construct result's outputs and extendOutputDependencies)."""
    if isinstance(value, list):
        return [downgrade_output_values(item, dependencies) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get(SIG_KEY) == OUTPUT_VALUE_SIG:
        for urn in value.get("dependencies") or []:
            if urn not in dependencies:
                dependencies.append(urn)
        plain = downgrade_output_values(value["value"], dependencies) if "value" in value else UNKNOWN
        return secret(plain) if value.get("secret") else plain
    if is_secret(value):
        return secret(downgrade_output_values(value.get("value"), dependencies))
    if SIG_KEY in value:
        return value
    return {key: downgrade_output_values(item, dependencies) for key, item in value.items()}


def _contains_unknowns(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, list):
        return any(_contains_unknowns(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_unknowns(item) for item in value.values())
    return False


def _configure_variables(package: str, inputs: dict[str, Any]) -> dict[str, str]:
    """ConfigureRequest.variables: `<pkg>:config:<key>`, secrets unwrapped, non-strings as JSON."""

    def plain(value: Any) -> Any:
        if is_secret(value):
            return plain(value.get("value"))
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    variables = {}
    for key, value in inputs.items():
        if key == "version":
            continue
        mapped = plain(value)
        variables[f"{package}:config:{key}"] = mapped if isinstance(mapped, str) else json.dumps(mapped)
    return variables


def _monitor_servicer(monitor: Any) -> Any:
    """A ResourceMonitor gRPC servicer handing every call to `monitor`, as the SDK does in-process.

    The SDK already calls the monitor from its executor threads at once; calls from the provider
    arrive on the server's worker threads the same way, and the monitor keeps its state under its lock.
    """
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import resource_pb2, resource_pb2_grpc

    def forward(name: str) -> Any:
        def method(self: Any, request: Any, context: Any) -> Any:
            try:
                answer = getattr(monitor, name)(request)
            except Exception as error:  # noqa: BLE001 - the provider gets the monitor's refusal
                context.abort(grpc.StatusCode.UNKNOWN, str(error) or type(error).__name__)
            if name == "SupportsFeature":  # the mock monitor answers with a plain object
                return resource_pb2.SupportsFeatureResponse(hasSupport=bool(answer.hasSupport))
            return empty_pb2.Empty() if answer is None else answer

        return method

    methods = {name: forward(name) for name in (
        "GetDeploymentInfo", "SupportsFeature", "Invoke", "Call", "ReadResource", "ExistsResource",
        "RegisterResource", "RegisterResourceOutputs", "RegisterStackTransform",
        "RegisterStackInvokeTransform", "RegisterResourceHook", "RegisterErrorHook", "RegisterPackage")}
    # The program's end is for the program to signal; a provider asking must not close the program's
    # callback channels (the monitor's SignalAndWaitForShutdown does).
    methods["SignalAndWaitForShutdown"] = lambda self, request, context: empty_pb2.Empty()
    return type("MonitorForwarder", (resource_pb2_grpc.ResourceMonitorServicer,), methods)()


def _engine_servicer(engine: Any) -> Any:
    """The Engine service the provider logs to: the program's engine, or stderr without one."""
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import engine_pb2_grpc

    class EngineForwarder(engine_pb2_grpc.EngineServicer):
        def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
            severity = _LOG_SEVERITIES.get(int(request.severity), "info")
            if engine is not None:
                engine.Log(request)
            elif severity != "debug":  # the SDK's own chatter; the CLI shows it only with -v
                where = f" ({request.urn})" if request.urn else ""
                print(f"{severity}{where}: {request.message}", file=sys.stderr)
            return empty_pb2.Empty()

        def RequirePulumiVersion(self, request: Any, context: Any) -> Any:  # noqa: N802 - no CLI to compare
            return empty_pb2.Empty()

    return EngineForwarder()


class _PluginProcess:
    """One provider plugin process: started, read for its port, dialled, stopped."""

    def __init__(self, path: Path, engine_address: str, cwd: str, env: dict[str, str]):
        self.path = path
        self.output: collections.deque[str] = collections.deque(maxlen=40)  # stdout after the port + stderr
        try:
            # A session of its own, so that stopping it reaches the children of a wrapper script too.
            self.process = subprocess.Popen([str(path), engine_address], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as error:
            raise RemoteComponentError(f"failed to load plugin {path}: {error.strerror or error}") from error
        self.channel: Any = None
        port_line: list[str] = []
        port_read = threading.Event()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()
        threading.Thread(target=self._read_port, args=(port_line, port_read), daemon=True).start()
        if not port_read.wait(PLUGIN_START_TIMEOUT):
            self.stop()
            raise RemoteComponentError(f"plugin [{path}] printed no port within {PLUGIN_START_TIMEOUT:.0f} s"
                                       + self.output_tail())
        text = port_line[0] if port_line else ""
        if not text.strip():
            code = self._exit_code()
            self.stop()
            raise RemoteComponentError(f"could not read plugin [{path}]: exit status {code}" + self.output_tail())
        try:
            port = int(text.strip())
            if not 0 < port <= 65535:
                raise ValueError(port)
        except ValueError:
            self.stop()
            raise RemoteComponentError(f"plugin [{path}] wrote an invalid port to stdout: {text.strip()!r}"
                                       + self.output_tail()) from None
        self.address = f"127.0.0.1:{port}"

    def _read_port(self, port_line: list[str], port_read: threading.Event) -> None:
        stream = self.process.stdout
        assert stream is not None
        port_line.append(stream.readline().decode(errors="replace"))
        port_read.set()
        self._drain(stream)

    def _drain(self, stream: Any) -> None:
        for line in iter(stream.readline, b""):
            self.output.append(line.decode(errors="replace").rstrip())

    def _exit_code(self) -> int | None:
        try:
            return self.process.wait(PLUGIN_STOP_GRACE)
        except subprocess.TimeoutExpired:
            return None

    def output_tail(self) -> str:
        lines = [line for line in self.output if line.strip()]
        return (":\n  " + "\n  ".join(lines[-20:])) if lines else ""

    def connect(self) -> Any:
        import grpc

        self.channel = grpc.insecure_channel(self.address)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=PLUGIN_CONNECT_TIMEOUT)
        except grpc.FutureTimeoutError:
            raise RemoteComponentError(f"could not connect to plugin [{self.path}] at {self.address}"
                                       + self.output_tail()) from None
        return self.channel

    def stop(self) -> None:
        """Interrupt, then kill after a grace period (plugin.go, ExecPlugin's kill)."""
        if self.channel is not None:
            self.channel.close()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGINT)
                self.process.wait(PLUGIN_STOP_GRACE)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _provider_for(monitor: Any, request: Any, package: str) -> tuple[str, dict[str, Any]]:
    """The component's provider reference and that provider's inputs (its config).

    resmon.RegisterResource asks for the package's default provider unless one is given
    (getProviderReference); the monitor registers it like any other on first use."""
    reference = request.provider or request.providers.get(package, "")
    if not reference:
        with monitor.lock:
            reference = monitor.default_provider_reference(package, request.version, request.pluginDownloadURL)
    registration = getattr(monitor, "by_urn", {}).get(provider_urn(reference))
    if registration is not None:
        # The engine leaves `__internal` out of the config it sends CheckConfig and Configure (registry.go).
        return reference, {key: value for key, value in registration.inputs.items() if key != INTERNAL_KEY}
    # Target.GetPackageConfig: the package's keys without their namespace.
    inputs: dict[str, Any] = {}
    for key, value in sorted(getattr(monitor, "config", {}).items()):
        namespace, _, name = key.partition(":")
        if namespace == package:
            inputs[name] = secret(value) if key in getattr(monitor, "secret_keys", ()) else value
    if request.version:
        inputs["version"] = request.version
    return reference, inputs


def _project_root() -> Path | None:
    from pulumi.runtime import settings

    root = settings.get_root_directory()
    return Path(root) if root else find_project_root(Path.cwd())


def _plugin_environment(monitor: Any) -> dict[str, str]:
    """The CLI's environment plus what NewProvider adds (PULUMI_PROJECT)."""
    env = dict(os.environ)
    env["PULUMI_PROJECT"] = monitor.project
    return env


def construct(monitor: Any, request: Any) -> Any | None:
    """The RegisterResourceResponse for a remote component built by its provider, or None when no
    provider for its package can run here (the monitor then registers it empty and warns).

    `monitor` is the program's monitor (project, stack, config, secret_keys; its gRPC methods);
    `request` the component's RegisterResourceRequest. Must not be called with the monitor's lock held.
    """
    package = request.type.split(":", 1)[0]
    label = f"remote component {request.type} '{request.name}'"
    try:
        plugin_path = find_provider_plugin(package, request.version, _project_root())
    except PluginError as error:
        raise RemoteComponentError(f"{label}: {error}") from error
    if plugin_path is None:
        return None
    try:
        return _construct_with(monitor, request, package, plugin_path)
    except RemoteComponentError as error:
        raise RemoteComponentError(f"{label}: provider plugin {plugin_path}: {error}") from error


def _construct_with(monitor: Any, request: Any, package: str, plugin_path: Path) -> Any:
    import grpc
    from pulumi.runtime import settings
    from pulumi.runtime.proto import engine_pb2_grpc, resource_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=_SERVER_WORKERS))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(_monitor_servicer(monitor), server)
    engine = getattr(monitor, "engine", None) or settings.get_engine()
    engine_pb2_grpc.add_EngineServicer_to_server(_engine_servicer(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"
    plugin = None
    try:
        plugin = _PluginProcess(plugin_path, address, os.getcwd(), _plugin_environment(monitor))
        try:
            return _run_construct(monitor, request, package, plugin, address)
        except grpc.RpcError as failure:
            raise RemoteComponentError((failure.details() or str(failure)) + plugin.output_tail()) from None
    finally:
        if plugin is not None:
            plugin.stop()
        server.stop(grace=None)


def _run_construct(monitor: Any, request: Any, package: str, plugin: _PluginProcess, address: str) -> Any:
    import grpc
    from google.protobuf import struct_pb2
    from google.protobuf.json_format import MessageToDict, ParseDict
    from pulumi.runtime import settings
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc, resource_pb2

    stub = provider_pb2_grpc.ResourceProviderStub(plugin.connect())
    plugin_dir = str(plugin.path.parent)
    accept_secrets = accept_outputs = False
    try:
        handshake = stub.Handshake(provider_pb2.ProviderHandshakeRequest(
            engine_address=address, root_directory=plugin_dir, program_directory=plugin_dir,
            configure_with_urn=True, supports_views=True, invoke_with_preview=True))
        accept_secrets, accept_outputs = handshake.accept_secrets, handshake.accept_outputs
        handshook = True
    except grpc.RpcError as failure:
        if failure.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        handshook = False

    reference, provider_inputs = _provider_for(monitor, request, package)
    the_provider_urn = provider_urn(reference)
    provider_name = the_provider_urn.rsplit("::", 1)[-1] if the_provider_urn else "default"
    provider_type = PROVIDER_TYPE_PREFIX + package
    try:
        checked = stub.CheckConfig(provider_pb2.CheckRequest(
            urn=the_provider_urn, name=provider_name, type=provider_type,
            olds=struct_pb2.Struct(), news=ParseDict(provider_inputs, struct_pb2.Struct())))
        if checked.failures:
            reasons = "; ".join(f"{f.property}: {f.reason}" if f.property else f.reason for f in checked.failures)
            raise RemoteComponentError(f"provider config is invalid: {reasons}")
        if checked.HasField("inputs"):
            provider_inputs = MessageToDict(checked.inputs)
    except grpc.RpcError as failure:
        if failure.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise

    if _contains_unknowns({k: v for k, v in provider_inputs.items() if k != "version"}):
        # provider_plugin.go, Construct: an unconfigured provider only registers the component.
        return monitor.RegisterResource(resource_pb2.RegisterResourceRequest(
            type=request.type, name=request.name, parent=request.parent))
    configure = provider_pb2.ConfigureRequest(
        variables=_configure_variables(package, provider_inputs), args=ParseDict(provider_inputs, struct_pb2.Struct()),
        acceptSecrets=True, acceptResources=True, sends_old_inputs=True, sends_old_inputs_to_delete=True,
        urn=the_provider_urn, name=provider_name, type=provider_type)
    configured = stub.Configure(configure)
    if not handshook:
        accept_secrets, accept_outputs = configured.acceptSecrets, configured.acceptOutputs
    if not accept_secrets:
        raise RemoteComponentError("plugins that can construct components must support secrets")

    inputs = MessageToDict(request.object)
    if accept_outputs:
        inputs = upgrade_to_output_values(inputs)
    parent = getattr(monitor, "by_urn", {}).get(request.parent)
    # inheritFromParent: an unset protect takes the parent's.
    protect = request.protect if request.HasField("protect") else bool(parent is not None and parent.protect)
    construct_request = provider_pb2.ConstructRequest(
        project=monitor.project, stack=monitor.stack, organization=settings.get_organization() or "",
        config=dict(getattr(monitor, "config", {})), configSecretKeys=sorted(getattr(monitor, "secret_keys", ())),
        dryRun=settings.is_dry_run(), parallel=settings.SETTINGS.parallel or 0, monitorEndpoint=address,
        type=request.type, name=request.name, parent=request.parent,
        inputs=ParseDict(inputs, struct_pb2.Struct()),
        inputDependencies={key: provider_pb2.ConstructRequest.PropertyDependencies(urns=list(deps.urns))
                           for key, deps in request.propertyDependencies.items()},
        providers=dict(request.providers), dependencies=list(request.dependencies), protect=protect,
        aliases=list(request.aliases), additionalSecretOutputs=list(request.additionalSecretOutputs),
        deletedWith=request.deletedWith, replace_with=list(request.replace_with),
        ignoreChanges=list(request.ignoreChanges), replaceOnChanges=list(request.replaceOnChanges),
        accepts_output_values=True)
    if request.deleteBeforeReplaceDefined:
        construct_request.deleteBeforeReplace = request.deleteBeforeReplace
    if request.HasField("retainOnDelete"):
        construct_request.retainOnDelete = request.retainOnDelete
    if request.HasField("customTimeouts"):
        timeouts = request.customTimeouts
        construct_request.customTimeouts.CopyFrom(provider_pb2.ConstructRequest.CustomTimeouts(
            create=timeouts.create, update=timeouts.update, delete=timeouts.delete))
    if request.HasField("replacement_trigger"):
        construct_request.replacement_trigger.CopyFrom(request.replacement_trigger)
    result = stub.Construct(construct_request)
    return _register_response(result, request)


def _register_response(result: Any, request: Any) -> Any:
    """The component's RegisterResourceResponse from Construct's (source_eval.go, RegisterResource)."""
    from google.protobuf import struct_pb2
    from google.protobuf.json_format import MessageToDict, ParseDict
    from pulumi.runtime.proto import resource_pb2

    state = MessageToDict(result.state)
    outputs: dict[str, Any] = {}
    dependencies: dict[str, list[str]] = {}
    for key, value in state.items():
        key_dependencies = list(result.stateDependencies[key].urns) if key in result.stateDependencies else []
        outputs[key] = downgrade_output_values(value, key_dependencies)
        dependencies[key] = key_dependencies
    for key in result.stateDependencies:
        dependencies.setdefault(key, list(result.stateDependencies[key].urns))
    if not request.supportsPartialValues:
        outputs = {key: value for key, value in outputs.items() if not _contains_unknowns(value)}
    return resource_pb2.RegisterResourceResponse(
        urn=result.urn, object=ParseDict(outputs, struct_pb2.Struct()),
        propertyDependencies={key: resource_pb2.RegisterResourceResponse.PropertyDependencies(urns=urns)
                              for key, urns in dependencies.items()})
