from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.synth import synthesize


@pytest.fixture(scope="session")
def templates() -> Any:
    """`templates(config_name)["Data"]` -> template dict, synthesized once per session."""
    return synthesize


def template(config: str, stack: str) -> Template:
    return Template.from_json(synthesize(config)[stack])
