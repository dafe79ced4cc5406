"""What a policy pack sees of a resource, marshalled as the engine marshals it for Analyze and AnalyzeStack.

pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go (marshalResourceOptions, Analyze, AnalyzeStack) and
pkg/resource/deploy/step_generator.go: the requests preflight sends a pack, one resource at a time.
Resource references in properties are sent as the referenced id or URN (pkg/resource/plugin/rpc.go, no
KeepResources); resource options as the step generator keeps them (aliases: the state's, empty unless an
old resource was found through one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from .model import RESOURCE_REF_SIG, SIG_KEY, STACK_TYPE, UNKNOWN, Registration, provider_urn


def _resource_reference(reference: dict[str, Any]) -> Any:
    """rpc.go, a ResourceReference marshalled without KeepResources: a custom resource's id (unknown while
    it is, KeepUnknowns) or, for a component (no id), its URN."""
    if "id" not in reference:
        return reference.get("urn", "")
    resource_id = reference["id"]
    return resource_id if isinstance(resource_id, str) and resource_id not in ("", UNKNOWN) else UNKNOWN


def _marshalled(value: Any, skip_internal_keys: bool) -> Any:
    """Properties as Analyze, AnalyzeStack and Remediate send them (MarshalOptions: KeepUnknowns, KeepSecrets,
    no KeepResources; SkipInternalKeys: property keys beginning with "__" are not sent)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_REF_SIG:
            return _resource_reference(value)
        return {key: _marshalled(item, skip_internal_keys) for key, item in value.items()
                if not (skip_internal_keys and key.startswith("__"))}
    if isinstance(value, list):
        return [_marshalled(item, skip_internal_keys) for item in value]
    return value


def _struct(properties: dict[str, Any], *, skip_internal_keys: bool = True) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(_marshalled(properties, skip_internal_keys))
    return result


def _provider_resource(registration: Registration, by_urn: dict[str, Registration],
                       providers: dict[str, Any] | None = None):
    """The provider as the engine describes it; `providers` caches one message per provider URN."""
    urn = provider_urn(registration.provider)
    if providers is not None and urn in providers:
        return providers[urn]
    provider = by_urn.get(urn)
    message = None if provider is None else analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, name=provider.name, urn=provider.urn, properties=_struct(provider.inputs)
    )
    if providers is not None and provider is not None:
        providers[urn] = message
    return message


def _resource_options(registration: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    """analyzer_plugin.go, marshalResourceOptions, over the options step_generator.go gives it."""
    timeouts = registration.custom_timeouts
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=registration.protect,
        ignoreChanges=list(registration.ignore_changes),
        deleteBeforeReplace=registration.delete_before_replace,
        deleteBeforeReplaceDefined=registration.delete_before_replace_defined,
        additionalSecretOutputs=list(registration.additional_secret_outputs),
        # The state's aliases: the one alias an old resource was found under, not every alias asked for.
        aliases=[registration.aliased_from] if registration.aliased_from else [],
        # The engine always sends one, zeros for what is not set.
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=timeouts.create, update=timeouts.update, delete=timeouts.delete, read=timeouts.read),
        parent=registration.parent or "",
    )


def analyze_request(
    registration: Registration, inputs: dict[str, Any], by_urn: dict[str, Registration], *, for_remediate: bool = False,
    providers: dict[str, Any] | None = None,
) -> analyzer_pb2.AnalyzeRequest:
    """The request the engine sends to Analyze (and, keeping internal keys, to Remediate)."""
    request = analyzer_pb2.AnalyzeRequest(
        type=registration.type,
        urn=registration.urn,
        name=registration.name,
        properties=_struct(inputs, skip_internal_keys=not for_remediate),
        options=_resource_options(registration),
    )
    provider = _provider_resource(registration, by_urn, providers)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def stack_resource(
    registration: Registration, outputs: dict[str, Any], by_urn: dict[str, Registration],
    providers: dict[str, Any] | None = None, *, into: analyzer_pb2.AnalyzerResource | None = None,
) -> analyzer_pb2.AnalyzerResource:
    """One resource of the AnalyzeStack request: its outputs, parent and dependencies (built in `into`,
    e.g. `request.resources.add()`, to spare a copy of a large request)."""
    resource = analyzer_pb2.AnalyzerResource() if into is None else into
    resource.type = registration.type
    resource.urn = registration.urn
    resource.name = registration.name
    resource.properties.CopyFrom(_struct(outputs))
    resource.options.CopyFrom(_resource_options(registration))
    resource.parent = registration.parent or ""
    resource.dependencies.extend(registration.dependencies)
    for key, urns in registration.property_dependencies.items():
        if urns:  # the engine skips properties without dependencies
            resource.propertyDependencies[key].urns.extend(urns)
    provider = _provider_resource(registration, by_urn, providers)
    if provider is not None:
        resource.provider.CopyFrom(provider)
    return resource


def outputs_after_remediation(registration: Registration, remediated_inputs: dict[str, Any] | None) -> dict:
    # At preview a custom resource's outputs are its inputs plus what the provider computes; a
    # remediation changed the inputs the provider previews from.
    if remediated_inputs is None or not registration.custom:
        return registration.outputs
    computed = {key: value for key, value in registration.outputs.items() if key not in registration.inputs}
    return {**computed, **remediated_inputs}


def root_stack_urn(registrations: Iterable[Registration], *, project: str, stack: str) -> str:
    for registration in registrations:
        if registration.type == STACK_TYPE:
            return registration.urn
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"
