"""What the pulumi_policy SDK repeats on every call, done once: the pack's cost stays linear.

`pulumi_policy` re-reads the stack config on every Analyze and Remediate call
(`_configure_runtime_settings` -> `pulumi.runtime.get_config_env()`, a `json.loads` of the whole
PULUMI_CONFIG). A large ISP's config (hundreds of zones) is about a megabyte, so a preview of
16,000 resources parsed 32,000 megabytes of JSON: a cost growing with resources x config, i.e.
quadratically with the stack. `memoize_config_env` parses each distinct PULUMI_CONFIG once; what
the SDK then sets from it is unchanged.

`share_stack_resources` makes AnalyzeStack deserialise the request once. The SDK turns every
resource of the stack into a `PolicyResource` again for each stack policy (protobuf Struct to
dict, deserialisation, proxies, provider, options): with a dozen stack policies that was 90% of
the pack's time on a large stack. Our policies only read their resources, so they can share one
set; everything else (levels, configs, violations, not-applicable, unknowns) is the SDK's own code
path, which the replacement follows line by line for the pinned SDK version and no other.

`tune_collector` keeps CPython's cyclic collector from re-traversing the pack's long-lived objects
(modules, the policies, the typed stack view) over and over while AnalyzeStack builds them.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import math
import os
import sys
import threading
from typing import Any

_ENV_NAME = "PULUMI_CONFIG"
# Young collections still run (short-lived cycles are freed); a full traversal of everything
# alive waits until many more objects have survived than CPython's defaults (700, 10, 10) allow.
_COLLECTOR_THRESHOLDS = (50_000, 50, 100)


class _ConfigEnvCache:
    """`get_config_env` for a PULUMI_CONFIG that rarely changes: parsed once per distinct value."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self._lock = threading.Lock()
        self._raw: bytes | None = None
        self._parsed: dict[str, Any] = {}

    def __call__(self) -> dict[str, Any]:
        raw = _raw_environment_value(_ENV_NAME)
        if raw is None:
            return self.original()
        with self._lock:
            # The bytes object os.environ stores is replaced when the variable is set again:
            # identity says "unchanged" without decoding or comparing a megabyte.
            if raw is not self._raw:
                self._parsed = json.loads(raw)
                self._raw = raw
            return dict(self._parsed)


def _raw_environment_value(name: str) -> bytes | None:
    environb = getattr(os, "environb", None)
    if environb is None:  # pragma: no cover - Windows has no bytes environment
        return None
    return environb.get(name.encode())


def memoize_config_env() -> None:
    """Make `pulumi.runtime.get_config_env` (what pulumi_policy calls per request) parse once."""
    import pulumi.runtime

    if not isinstance(pulumi.runtime.get_config_env, _ConfigEnvCache):
        pulumi.runtime.get_config_env = _ConfigEnvCache(pulumi.runtime.get_config_env)


def tune_collector() -> None:
    """Freeze what exists now (imports, policies) and collect the oldest objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_COLLECTOR_THRESHOLDS)


# The pulumi_policy version whose AnalyzeStack `_analyze_stack_once` follows (policies/requirements.txt).
SHARED_STACK_SDK_VERSION = "1.21.0"


def share_stack_resources() -> bool:
    """Let every stack policy of one AnalyzeStack share the deserialised resources; False if not applied.

    Only for the SDK version the replacement was written against: another version keeps its own
    AnalyzeStack (correct, only slower), and a note on stderr says so.
    """
    from pulumi_policy import policy as sdk
    from pulumi_policy.version import VERSION

    servicer = sdk._PolicyAnalyzerServicer
    if getattr(servicer.AnalyzeStack, "shares_stack_resources", False):
        return True
    if VERSION != SHARED_STACK_SDK_VERSION:
        print(f"isp-lessons: pulumi_policy {VERSION} is not {SHARED_STACK_SDK_VERSION}; every stack policy "
              "deserialises the stack again (slower on large stacks)", file=sys.stderr)
        return False
    servicer.AnalyzeStack = _analyze_stack_once
    # _configure_runtime_settings asks inspect.signature(Settings) on every request; a class's
    # signature does not change while the pack runs.
    sdk.signature = functools.lru_cache(maxsize=64)(sdk.signature)
    return True


def struct_to_dict(struct: Any) -> dict[str, Any]:
    """`json_format.MessageToDict` of a protobuf Struct, without its generic machinery (3x faster)."""
    return {key: _value(value) for key, value in struct.fields.items()}


def _value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "number_value":
        number = value.number_value
        if math.isinf(number) or math.isnan(number):  # as json_format refuses them
            raise ValueError(f"Fail to serialize {number} for Value.number_value, which would parse as string_value")
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None  # null_value, or no kind set


def _stack_resources(servicer: Any, request: Any) -> list[Any]:
    """The SDK's PolicyResources of an AnalyzeStack request, parents and dependencies linked."""
    from pulumi_policy import policy as sdk

    resources = []
    links = []
    providers: dict[bytes, Any] = {}  # a stack has a few providers, each named by thousands of resources
    for r in request.resources:
        props = sdk.unknown_checking_proxy(sdk.deserialize_properties(struct_to_dict(r.properties)))
        provider_key = r.provider.SerializeToString(deterministic=True) if r.HasField("provider") else b""
        if provider_key not in providers:
            providers[provider_key] = servicer._get_provider_resource(r)
        resource = sdk.PolicyResource(r.type, props, r.urn, r.name, servicer._get_resource_options(r),
                                      providers[provider_key], None, [], {})
        property_dependencies = {k: list(v.urns) for k, v in r.propertyDependencies.items()}
        links.append((resource, r.parent, list(r.dependencies), property_dependencies))
        resources.append(resource)
    by_urn = {resource.urn: resource for resource in resources}
    for resource, parent, dependencies, property_dependencies in links:
        if parent is not None and parent in by_urn:
            resource.parent = by_urn[parent]
        resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
        for key, urns in property_dependencies.items():
            resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
    return resources


def _analyze_stack_once(self: Any, request: Any, _context: Any) -> Any:
    """pulumi_policy 1.21.0's AnalyzeStack with the resources built once, not once per policy."""
    from pulumi_policy import policy as sdk

    self._configure_runtime_settings()
    response = sdk.proto.AnalyzeResponse()
    resources: list[Any] | None = None
    pack_name = self._PolicyAnalyzerServicer__policy_pack_name
    pack_version = self._PolicyAnalyzerServicer__policy_pack_version
    for policy in self._PolicyAnalyzerServicer__policies:
        enforcement_level = self._get_enforcement_level(policy)
        if enforcement_level == sdk.EnforcementLevel.DISABLED or not isinstance(policy, sdk.StackValidationPolicy):
            continue
        if enforcement_level == sdk.EnforcementLevel.REMEDIATE:
            # Stack policies cannot be remediated, so treat the level as mandatory.
            enforcement_level = sdk.EnforcementLevel.MANDATORY
        report_violation = self._create_report_violation(response, policy.name, policy.description,
                                                         enforcement_level, policy.severity)
        if resources is None:
            resources = _stack_resources(self, request)
        config = self._get_policy_config(policy.name)
        args = sdk.StackValidationArgs(list(resources), config, self._PolicyAnalyzerServicer__stack_tags)
        try:
            result = policy.validate(args, report_violation)
            if sdk.isawaitable(result):
                loop = asyncio.new_event_loop()
                task = asyncio.Task(result, loop=loop)
                loop.run_until_complete(task)
                loop.close()
        except sdk.UnknownValueError as e:
            response.diagnostics.append(sdk.proto.AnalyzeDiagnostic(
                policyName=policy.name,
                policyPackName=pack_name,
                policyPackVersion=pack_version,
                message=(f"can't run policy '{policy.name}' from policy pack "
                         f"'{pack_name}@v{pack_version}' during preview: {e.message}"),
                urn="",
                description=policy.description,
                enforcementLevel=self._map_enforcement_level(sdk.EnforcementLevel.ADVISORY),
            ))
        except sdk._NotApplicableError as e:
            response.not_applicable.append(sdk.proto.PolicyNotApplicable(policy_name=policy.name,
                                                                         reason=e.reason or ""))
    return response


_analyze_stack_once.shares_stack_resources = True  # type: ignore[attr-defined]
