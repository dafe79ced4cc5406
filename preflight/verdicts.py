"""What policy packs say: their policies, violations, remediations and not-applicables, and the
vocabulary of the analyzer protocol's enums (pulumi/pulumi proto/pulumi/analyzer.proto)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pulumi.runtime.proto import analyzer_pb2

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVEL_NAMES.items()}
SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
POLICY_TYPE_NAMES = {
    analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
    analyzer_pb2.POLICY_TYPE_STACK: "stack",
}


class PackError(Exception):
    """A policy pack failed to start, crashed, or was given a configuration it rejects."""


class PolicyConfigError(PackError):
    """The policy config fails its packs' schemas: `lines` as the CLI prints them after "error: ",
    `validating policy config: <pack> <version>  <policy>: <message>`, sorted (update.go)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = sorted(lines)
        super().__init__("\nerror: ".join(self.lines))


@dataclass
class Violation:
    policy_pack: str
    policy_pack_version: str
    policy: str
    description: str
    enforcement_level: str  # "mandatory" | "advisory" | "remediate"
    severity: str  # "low" | "medium" | "high" | "critical" | ""
    urn: str
    message: str


@dataclass
class NotApplicable:
    policy_pack: str
    policy: str
    urn: str  # "" for a stack policy
    reason: str


@dataclass
class Remediation:
    """A remediate-level policy rewrote a resource's inputs before analysis."""

    policy_pack: str
    policy: str
    urn: str
    description: str


@dataclass
class PolicyReport:
    violations: list[Violation]
    not_applicable: list[NotApplicable]
    # name, version, path, sdkVersion, policies: [{name, description, enforcementLevel, severity,
    # remediationSteps, url, type}]
    packs: list[dict]
    remediations: list[Remediation] = field(default_factory=list)


@dataclass(frozen=True)
class PolicyInfo:
    """One policy as GetAnalyzerInfo describes it."""

    name: str
    description: str
    enforcement_level: str
    severity: str = ""
    config_schema: dict | None = None  # {"properties": {...}, "required": [...]}
    remediation_steps: str = ""
    url: str = ""
    policy_type: str = ""
