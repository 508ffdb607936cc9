"""Errors naming the caller's arguments by field, worded at the edge: ``str(err)`` in the
Python API's words (``data_dir=DIR``), the CLI's flags by ``err.worded`` (cli._flag)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; this package supports 3.10

Words = Callable[[str, str], str]  # (field, spec) -> how an edge names that argument


def python_words(field: str, spec: str) -> str:
    return f"{field}={spec}"  # until_ci=, data_dir=DIR, redefine=True


class FieldError(Exception):
    """Base of sweeplab's user errors; one made by :meth:`about` names arguments by field."""

    template: str | None = None  # set by about(), with its values

    @classmethod
    def about(cls, template: str, **values: Any) -> Self:
        """``template``: ``str.format`` text whose names missing from ``values`` are fields
        (API argument names); ``{field:SPEC}`` gives an example value (DIR; True: a switch)."""
        err = cls(_format(template, values, python_words))
        err.template, err.values = template, values
        return err

    def worded(self, words: Words) -> str:
        return str(self) if self.template is None else _format(self.template, self.values, words)


class ArgumentError(FieldError, ValueError):
    """An argument's value is not allowed."""


def _format(template: str, values: dict[str, Any], words: Words) -> str:
    class Field(str):
        def __format__(self, spec: str) -> str:
            return words(str(self), spec)

    class Names(dict):
        def __missing__(self, key: str) -> Field:
            return Field(key)

    return template.format_map(Names(values))
