"""Fixture policy pack for tests/preflight: run as a pack by preflight.policyrun, never imported.

Its one stack policy reports, as a JSON violation message, the interpreter running the pack, the
virtualenv it was started in, and the stack tags ConfigureStack carried."""

import json
import os
import sys

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy


def how_i_run(args, report_violation):
    report_violation(json.dumps({
        "executable": sys.executable,
        "virtualEnv": os.environ.get("VIRTUAL_ENV", ""),
        "stackTags": dict(args.stack_tags),
    }))


PolicyPack(
    name="preflight-fixture-introspect",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[StackValidationPolicy(name="how-i-run", description="Reports how the pack runs.", validate=how_i_run)],
)
