"""The old hand-written settings reader, kept only for lambdas/deployment.py and lambdas/portal_urls.py.

StartLabeling, StartTraining and RegisterModel read their settings with the one contract in
`settings.py` (dataclasses with declared rules, one generic reader). Once those two functions declare
their settings there too, this module goes. `SettingsError`, `settings_text` and `number_text` are
settings.py's (one error class for every settings problem).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .settings import SettingsError, number_text, settings_text

__all__ = ["SettingsError", "SettingsReader", "number_text", "settings_reader", "settings_text"]


def settings_reader(text: str, variable: str) -> SettingsReader:
    """The settings object in `text` (the value of `variable`)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{variable} is not valid JSON: {error}") from None
    return SettingsReader(data, variable)


class SettingsReader:
    """Reads typed values from a JSON object, naming the full key path in every error."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise SettingsError(f"{path} must be a JSON object, got {type(data).__name__}")
        self.data = data
        self.path = path

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise SettingsError(f"{self.path}.{key} is missing")
        return self.data[key]

    def bad(self, key: str, value: Any, expected: str) -> SettingsError:
        return SettingsError(f"{self.path}.{key} = {value!r} is invalid: expected {expected}")

    def text(self, key: str, *, allow_empty: bool = False) -> str:
        value = self._get(key)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.bad(key, value, "a non-empty string")
        return value

    def integer(self, key: str, *, minimum: int = 1) -> int:
        value = self._get(key)
        if type(value) is not int or value < minimum:
            raise self.bad(key, value, f"an integer >= {minimum}")
        return value

    def number(self, key: str) -> int | float:
        value = self._get(key)
        if type(value) not in (int, float):
            raise self.bad(key, value, "a number")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if type(value) is not bool:
            raise self.bad(key, value, "true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self._get(key)
        if value not in choices:
            raise self.bad(key, value, "one of " + ", ".join(choices))
        return value

    def child(self, key: str) -> SettingsReader:
        return SettingsReader(self._get(key), f"{self.path}.{key}")

    def string_map(self, key: str) -> Mapping[str, str]:
        """A JSON object of strings; numbers are accepted and written as text."""
        child = self.child(key)
        result: dict[str, str] = {}
        for name, value in child.data.items():
            if isinstance(value, str):
                result[name] = value
            elif type(value) in (int, float):
                result[name] = number_text(value)
            else:
                raise child.bad(name, value, "a string")
        return MappingProxyType(result)
