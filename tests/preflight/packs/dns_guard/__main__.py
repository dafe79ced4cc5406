"""Fixture policy pack for tests/preflight: run as a pack by preflight.policyrun, never imported."""

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
UNREGISTERED_URN = "urn:pulumi:nowhere::nothing::x:y:Z::unregistered"


def ttl_within_limit(args, report_violation):
    if args.resource_type != DNS_RECORD:
        return
    limit = args.get_config()["maxTtl"]
    ttl = args.props["ttl"]
    if ttl != 1 and ttl > limit:  # 1 means automatic
        report_violation(f"ttl {ttl:g} exceeds {limit:g}")


def zone_is_known(args, report_violation):
    if args.resource_type == DNS_RECORD and not args.props["zoneId"]:  # unknown at a first preview
        report_violation("zoneId is empty")


def password_is_long(args, report_violation):
    if args.resource_type == "test:index:Vault":
        password = args.props["password"]
        if len(password) < 32:
            report_violation(f"password {password} is too short")  # leaks on purpose: preflight must redact


def resource_inventory(args, report_violation):
    provider = args.provider.urn if args.provider else "-"
    report_violation(
        f"type={args.resource_type} name={args.name} parent={args.opts.parent or '-'} "
        f"provider={provider} protect={args.opts.protect}"
    )


def stack_inventory(args, report_violation):
    for resource in args.resources:
        parent = resource.parent.urn if resource.parent else "-"
        dependencies = ",".join(sorted(dependency.urn for dependency in resource.dependencies)) or "-"
        report_violation(f"parent={parent} dependencies={dependencies}", resource.urn)
    token = pulumi.Config("isp").get("apiToken")
    report_violation(f"resources={len(args.resources)} token={token}", UNREGISTERED_URN)


PolicyPack(
    name="preflight-fixture-dns",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[
        ResourceValidationPolicy(
            name="record-ttl-limit",
            description="DNS records keep a TTL operators can live with.",
            validate=ttl_within_limit,
            enforcement_level=EnforcementLevel.MANDATORY,
            severity=Severity.HIGH,
            config_schema=PolicyConfigSchema(
                properties={"maxTtl": {"type": "integer", "default": 3600, "minimum": 1}},
            ),
            url="https://example.invalid/policies/record-ttl-limit",
        ),
        ResourceValidationPolicy(
            name="record-zone-known",
            description="DNS records name their zone.",
            validate=zone_is_known,
            enforcement_level=EnforcementLevel.MANDATORY,
            severity=Severity.LOW,
        ),
        ResourceValidationPolicy(
            name="vault-password-length",
            description="Vault passwords are long.",
            validate=password_is_long,
            enforcement_level=EnforcementLevel.MANDATORY,
            severity=Severity.CRITICAL,
        ),
        ResourceValidationPolicy(
            name="resource-inventory",
            description="Lists every resource the pack is asked about.",
            validate=resource_inventory,
        ),
        StackValidationPolicy(
            name="stack-inventory",
            description="Lists every resource of the stack.",
            validate=stack_inventory,
        ),
    ],
)
