"""Transcribed from pulumi/pulumi-policy@805bcbc tests/integration/unknown_values/program/index.ts."""

import pulumi_random as random

string = random.RandomString("str", length=10)

pet = random.RandomPet("pet", prefix=string.result)
