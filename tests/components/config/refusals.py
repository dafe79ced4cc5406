"""Shared by the config tests: the error a stack's values are refused with."""

from __future__ import annotations

import pytest

from components.config import ConfigError, parse_stack_config


def refusal(values: dict, *fragments: str, project_dir: str | None = None) -> str:
    """The ConfigError message for `values` (as Pulumi.prod.yaml), asserted to hold every fragment."""
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, "Pulumi.prod.yaml", project_dir)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message
