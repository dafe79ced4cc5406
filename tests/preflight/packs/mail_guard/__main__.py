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

MAIL_HOST = "test:index:MailHost"
COPY_TO_REMOTE = "command:remote:CopyToRemote"


def size_limited(args, report_violation):
    if args.resource_type == MAIL_HOST:
        limit = args.get_config()["maxBytes"]
        size = args.props["messageSizeLimit"]
        if size > limit:
            report_violation(f"messageSizeLimit {size:.0f} exceeds {limit:.0f}")


def use_maildir(args):
    if args.resource_type == MAIL_HOST and args.props["mailboxFormat"] == "mbox":
        return {**dict(args.props), "mailboxFormat": "maildir"}
    return None


def no_mbox_left(args, report_violation):
    for resource in args.resources:
        if resource.resource_type == MAIL_HOST and resource.props["mailboxFormat"] == "mbox":
            report_violation("mailbox format is mbox", resource.urn)


def main_cf_sets_maildir(args, report_violation):
    if args.resource_type == COPY_TO_REMOTE and args.props["remotePath"] == "/etc/postfix/main.cf":
        source = args.props["source"]
        if not isinstance(source, pulumi.StringAsset):
            report_violation(f"main.cf is a {type(source).__name__}, not a StringAsset")
        elif "home_mailbox = Maildir/" not in source.text:
            report_violation("main.cf does not set home_mailbox = Maildir/")


PolicyPack(
    name="preflight-fixture-mail",
    policies=[
        ResourceValidationPolicy(
            name="message-size-limit",
            description="Mail hosts cap the message size.",
            validate=size_limited,
            severity=Severity.MEDIUM,
            config_schema=PolicyConfigSchema(
                properties={"maxBytes": {"type": "integer", "default": 10485760, "minimum": 1}},
                required=["maxBytes"],
            ),
            remediation_steps="Lower message_size_limit, see https://www.postfix.org/postconf.5.html#message_size_limit",
        ),
        ResourceValidationPolicy(
            name="maildir-not-mbox",
            description="Mail hosts store mail in Maildir.",
            remediate=use_maildir,
            enforcement_level=EnforcementLevel.REMEDIATE,
        ),
        ResourceValidationPolicy(
            name="main-cf-maildir",
            description="main.cf delivers to Maildir.",
            validate=main_cf_sets_maildir,
        ),
        StackValidationPolicy(
            name="no-mbox-left",
            description="No mail host of the stack uses mbox.",
            validate=no_mbox_left,
            enforcement_level=EnforcementLevel.MANDATORY,
            severity=Severity.HIGH,
        ),
    ],
)
