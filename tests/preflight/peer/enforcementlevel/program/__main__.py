"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/enforcementlevel/program/index.ts."""

import pulumi_random as random

string = random.RandomString("str", length=10)
