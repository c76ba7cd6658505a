"""Check request parameters against botocore's SageMaker model beyond what botocore enforces.

botocore's own validation (which `Stubber` runs) checks required members, types and minimum
lengths, but not maximum lengths, patterns or enums; SageMaker checks those server-side, so a
32-character limit on tuning job names would only show up in a real account. This walks the
same service model and reports every violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.model import Shape

_MODELS: dict[str, Any] = {}


def _model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


def shape_problems(operation: str, params: dict[str, Any], *, service: str = "sagemaker") -> list[str]:
    """Every way `params` breaks the input shape of `operation` (empty list: none)."""
    shape = _model(service).operation_model(operation).input_shape
    return list(_walk(shape, params, operation))


def _walk(shape: Shape, value: Any, path: str) -> Iterator[str]:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"{path}: expected an object, got {type(value).__name__}"
            return
        for required in shape.required_members:
            if required not in value:
                yield f"{path}.{required}: required"
        for key, member in value.items():
            if key not in shape.members:
                yield f"{path}.{key}: not in the model"
            else:
                yield from _walk(shape.members[key], member, f"{path}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            yield f"{path}: expected a list"
            return
        yield from _length(meta, len(value), path)
        for index, item in enumerate(value):
            yield from _walk(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            yield f"{path}: expected a map"
            return
        yield from _length(meta, len(value), path)
        for key, item in value.items():
            yield from _walk(shape.key, key, f"{path} key {key!r}")
            yield from _walk(shape.value, item, f"{path}[{key!r}]")
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{path}: expected a string, got {type(value).__name__}"
            return
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} not one of {shape.enum}"
        yield from _length(meta, len(value), path)
        pattern = _compiled(meta.get("pattern"))
        if pattern is not None and pattern.fullmatch(value) is None:
            yield f"{path}: {value!r} does not match {meta['pattern']!r}"
    elif kind in ("integer", "long"):
        if type(value) is not int:
            yield f"{path}: expected an integer"
            return
        if "min" in meta and value < meta["min"]:
            yield f"{path}: {value} < min {meta['min']}"
        if "max" in meta and value > meta["max"]:
            yield f"{path}: {value} > max {meta['max']}"
    elif kind == "boolean" and type(value) is not bool:
        yield f"{path}: expected true or false"


def _length(meta: dict[str, Any], length: int, path: str) -> Iterator[str]:
    if "min" in meta and length < meta["min"]:
        yield f"{path}: length {length} < min {meta['min']}"
    if "max" in meta and length > meta["max"]:
        yield f"{path}: length {length} > max {meta['max']}"


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        # Java-only syntax such as \p{L}: Python's re cannot check these.
        return None
