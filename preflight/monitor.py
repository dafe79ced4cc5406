"""The resource monitor a program talks to: answers as the engine does at a first preview, records every registration.

What a real engine does at a first preview and is emulated here (pulumi/pulumi pkg/resource/deploy/source_eval.go,
resmon.RegisterResource, and step_generator.go):
- URNs: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, the qualified type being the parent's
  qualified type + `$` + the type; children of the Stack get no prefix.
- A custom resource being created has an unknown id and unknown provider-computed outputs (their names
  learnt from the provider's Python SDK, preflight/computed.py); its known inputs come back as outputs.
  So `zone.id` passed into a record arrives as the UNKNOWN sentinel.
- Each package used without an explicit provider gets a default provider resource
  (`pulumi:providers:<pkg>::default_<version>`) whose inputs are the package's config and version
  (`pluginDownloadURL` under `__internal`, providers.SetProviderURL), and every such resource refers
  to it as `<provider urn>::<UNKNOWN>`. A provider resource's outputs are its inputs without `__internal`
  (registry.go, FilterProviderConfig), with no id.
- Resource transforms (the resource's, its ancestors', then the stack's) run through the program's
  callback server over gRPC, as resmon calls them; an unset `protect` is inherited from the parent.
- Resource options are recorded as the engine keeps them for policy packs: ignoreChanges,
  deleteBeforeReplace and whether it was set, additionalSecretOutputs (marked secret in the outputs),
  customTimeouts parsed to seconds (an unparsable one fails the registration, as resmon's does),
  aliases collapsed to URNs (collapseAliasToUrn), parent.
- A remote (multi-language) component is built by its provider's Construct (preflight/remote.py);
  when no provider plugin for its package can run here, it is registered empty, with a warning.
- Invokes return {} (nothing is asked of a real provider) unless `invoke_results` says otherwise;
  invoke transforms are not run. Reads (`Resource.get`) are not registrations. StackReference
  outputs are unknown (no backend to read them from).

With `answers` (preflight/prior.py) the ids and outputs are the engine's answers against a deployed
stack's checkpoint (a preview of a change), or those of an update (`dry_run=False`, ids known).

Differs from the engine on purpose:
- Aliases are not matched against a checkpoint's resources, so `Registration.aliased_from` (what packs
  are sent as aliases) stays empty; a first preview sends none either.
- Alias URNs inherited from a parent's alias (the step generator's inheritedChildAlias) are not added.
- A provider given a version gets no empty `__internal` in its inputs (SetProviderVersion adds one):
  packs never see it, and checkpoints written before stay comparable.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from preflight import computed, remote
from preflight.model import (
    INTERNAL_KEY,
    PROVIDER_TYPE_PREFIX,
    STACK_TYPE,
    UNKNOWN,
    CustomTimeouts,
    Registration,
    is_secret,
    secret,
)
from preflight.transforms import transform_options, transformed_request

# Packages whose resources the engine serves itself (StackReference, getResource...): no default provider.
_BUILTIN_PACKAGES = {"pulumi"}
# Dynamic providers receive the whole config, namespaces kept (pkg/resource/deploy/target.go).
_DYNAMIC_PACKAGES = {"pulumi-python", "pulumi-nodejs"}
_NAME_FIRST = re.compile(r"[A-Za-z_.]")
_NAME_REST = re.compile(r"[A-Za-z0-9_.-]")
# Go's time.ParseDuration: a sequence of decimal numbers, each with a unit.
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_WARNING = 2  # engine_pb2.LogSeverity.WARNING


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


def timeout_seconds(text: str) -> float:
    """source_eval.go, generateTimeoutInSeconds: Go's time.ParseDuration, in seconds ("1m" -> 60.0)."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    position, total = 0, 0.0
    while body and position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None:
            break
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise ValueError(f"unable to parse customTimeout Value {text}")
    return -total if text.startswith("-") else total


def _custom_timeouts(options: Any) -> CustomTimeouts:
    if not options.HasField("custom_timeouts"):
        return CustomTimeouts()
    timeouts = options.custom_timeouts
    return CustomTimeouts(*(timeout_seconds(value) if value else 0.0
                            for value in (timeouts.create, timeouts.update, timeouts.delete, timeouts.read)))


def alias_urns(aliases: Any, *, name: str, type_: str, parent: str, project: str, stack: str) -> list[str]:
    """step_generator.go, collapseAliasToUrn: each alias (a URN or a spec) as a URN, duplicates dropped."""
    result: list[str] = []
    for alias in aliases:
        if alias.WhichOneof("alias") == "urn":
            urn = alias.urn
        else:
            spec = alias.spec
            alias_parent = spec.parentUrn or parent
            if spec.noParent or (alias_parent and alias_parent.split("::", 3)[2].rsplit("$", 1)[-1] == STACK_TYPE):
                alias_parent = ""
            # resource.CreateURN: a parent's URN up to its name, then `$` and the type.
            prefix = (alias_parent.rsplit("::", 1)[0] + "$" if alias_parent
                      else f"urn:pulumi:{spec.stack or stack}::{spec.project or project}::")
            urn = f"{prefix}{spec.type or type_}::{spec.name or name}"
        if urn not in result:
            result.append(urn)
    return result


def provider_outputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """registry.go, Create and FilterProviderConfig: a provider's outputs are its inputs without `__internal`."""
    return {key: value for key, value in inputs.items() if key != INTERNAL_KEY}


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


_monitor_class: type | None = None


def make_monitor_class() -> type:
    """The RecordingMonitor class (built on first use: pulumi.runtime.mocks loads slowly, `--help` needs none)."""
    global _monitor_class
    if _monitor_class is None:
        _monitor_class = _build_monitor_class()
    return _monitor_class


def _build_monitor_class() -> type:
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime.proto import engine_pb2, resource_pb2

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        """MockMonitor that answers like the engine at a first preview and records every registration."""

        def __init__(self, mocks: PreviewMocks, *, project: str, stack: str, config: dict[str, str],
                     secret_keys: list[str], answers: Any = None, engine: Any = None):
            super().__init__(mocks)  # type: ignore[arg-type]
            self.answers = answers  # ids and outputs against a checkpoint, or of an update (prior.py)
            self.engine = engine  # the engine's Log endpoint (warnings the CLI shows)
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
                inputs[name] = secret(value) if key in self.secret_keys else value
            return inputs

        def default_provider_reference(self, package: str, version: str, download_url: str) -> str:
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
                inputs[INTERNAL_KEY] = {"pluginDownloadURL": download_url}
            registration = Registration(urn=urn, type=provider_type, name=name, custom=True, inputs=inputs)
            self._record(registration)
            registration.id = self.answers.provider_id(registration) if self.answers is not None else ""
            registration.outputs = provider_outputs(inputs)
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

        def _warn(self, message: str, urn: str = "") -> None:
            from pulumi.runtime import settings

            engine = self.engine or settings.get_engine()
            if engine is not None:
                engine.Log(engine_pb2.LogRequest(severity=_WARNING, message=message, urn=urn))

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
            properties, options = request.object, transform_options(request)
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
            if request.remote:
                # resmon: a remote component, once transformed, is built by its provider's Construct; the
                # children it registers come back through this monitor.
                response = remote.construct(self, transformed_request(request, properties, options))
                if response is not None:
                    return response
                self._warn(f"remote component {request.type} '{request.name}' is registered without its "
                           f"children: they are not analysed, because no provider plugin for package "
                           f"'{package_of(request.type)}' could run offline", urn)
            try:
                custom_timeouts = _custom_timeouts(options)
            except ValueError as error:
                raise Exception(str(error)) from None
            inputs = MessageToDict(properties)
            is_provider = request.type.startswith(PROVIDER_TYPE_PREFIX)
            if is_provider:
                # resmon.RegisterResource: the requested plugin version goes into the provider's inputs,
                # its download URL under `__internal` (providers.SetProviderVersion, SetProviderURL).
                if options.version:
                    inputs["version"] = options.version
                if options.plugin_download_url:
                    inputs[INTERNAL_KEY] = {**inputs.get(INTERNAL_KEY, {}),
                                            "pluginDownloadURL": options.plugin_download_url}
            with self.lock:
                self.parents[urn] = request.parent
                if request.transforms:
                    self.resource_transforms[urn] = list(request.transforms)
                provider = options.provider
                if self._needs_default_provider(request.type, request.custom, provider):
                    provider = self.default_provider_reference(package_of(request.type), options.version,
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
                    delete_before_replace_defined=options.HasField("delete_before_replace"),
                    retain_on_delete=options.HasField("retain_on_delete") and options.retain_on_delete,
                    additional_secret_outputs=list(options.additional_secret_outputs),
                    aliases=alias_urns(options.aliases, name=request.name, type_=request.type,
                                       parent=request.parent, project=self.project, stack=self.stack),
                    custom_timeouts=custom_timeouts,
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
                if is_provider:
                    outputs = provider_outputs(state)
                else:
                    if not resource_id:
                        # Being created at preview: the provider's computed outputs are unknown.
                        state = {**{name: UNKNOWN for name in computed.computed_output_names(
                            request.type, options.version)}, **state}
                    outputs = {**state, "id": resource_id or UNKNOWN}
                # The engine marks additionalSecretOutputs secret in the resource's state.
                for key in options.additional_secret_outputs:
                    if key in outputs and not is_secret(outputs[key]):
                        outputs[key] = secret(outputs[key])
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
                    self.default_provider_reference(package_of(request.type), request.version,
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
                    self.default_provider_reference(package_of(request.tok), request.version,
                                                    request.pluginDownloadURL)
            return super().Invoke(request)

    return RecordingMonitor
