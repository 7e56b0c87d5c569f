"""Building blocks of the parameter schema (``core.parameter_schema``): the base model of every
parameter block, the value types the blocks share, and the words that describe a type to a
person (the reference tables in README.md and the error messages use the same words).

Plain Python and pydantic: no Kedro, no pipelines.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo


class Shown(NamedTuple):
    """How a value type reads in the reference and in error messages (instead of the words
    derived from the annotation)."""

    type: str
    allowed: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the parameters: the dotted key (``feature_engineering.n_snapshots``,
    list items as ``campaigns[0]``), what is wrong, and the other keys the problem involves
    (their files are named too)."""

    key: str
    message: str
    related: tuple[str, ...] = ()
    show_value: bool = True

    def within(self, block: str) -> Problem:
        """The problem with its keys prefixed by ``block`` (block rules use relative keys)."""
        return Problem(
            f"{block}.{self.key}",
            self.message,
            tuple(f"{block}.{k}" for k in self.related),
            self.show_value,
        )


class Block(BaseModel):
    """A mapping of parameters: every key declared, nothing else accepted, no type coercion
    (``"30"`` is not a number, ``1`` is not ``true``), and the parameters left as they are
    (validation reads them, the nodes get the original values)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    RULES: typing.ClassVar[tuple[str, ...]] = ()
    """The rules across keys that ``problems`` checks, in words (the reference lists them)."""

    def problems(self) -> Iterator[Problem]:
        """Rules across this block's keys, checked once every key is valid on its own; keys
        relative to the block."""
        return iter(())


def _iso_date(value: str | datetime.date) -> str | datetime.date:
    if isinstance(value, str):
        try:
            datetime.date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from error
    return value


def as_date(value: str | datetime.date) -> datetime.date:
    """A validated ``IsoDate`` as a date."""
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


# Value types shared by the blocks. Each reads in the reference as its ``Shown`` text.
IsoDate = Annotated[
    str | datetime.date, AfterValidator(_iso_date), Shown("date", 'a date, "YYYY-MM-DD"')
]
Days = Annotated[int, Field(gt=0), Shown("integer", "integer > 0 (days)")]
Count = Annotated[int, Field(ge=1), Shown("integer", "integer ≥ 1")]
NonNegativeInt = Annotated[int, Field(ge=0), Shown("integer", "integer ≥ 0")]
Share = Annotated[float, Field(ge=0, le=1), Shown("number", "number in [0, 1]")]
OpenShare = Annotated[float, Field(gt=0, lt=1), Shown("number", "number in (0, 1), exclusive")]
Probability = OpenShare
Positive = Annotated[float, Field(gt=0), Shown("number", "number > 0")]
NonNegative = Annotated[float, Field(ge=0), Shown("number", "number ≥ 0")]
RowCap = Annotated[
    Annotated[int, Field(gt=0)] | None,
    Shown("integer or null", "integer > 0, or null (no cap)"),
]
Name = Annotated[str, Field(min_length=1), Shown("text", "non-empty text")]
Names = Annotated[list[Name], Shown("list", "list of names (may be empty)")]
Segments = Annotated[
    Literal["auto"] | None | list[Name],
    Shown("auto, null or list", "auto or null (the run plan's segments), or a list of names"),
]
Auto = Literal["auto"]
AutoFlag = Annotated[Literal["auto"] | bool, Shown("auto or true/false", "auto, true or false")]
"""``auto`` or a flag (not ``Literal["auto", True, False]``: 1 == True would pass it)."""
Seed = Annotated[int, Field(ge=0), Shown("integer", "integer ≥ 0")]


def _yaml_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _bound_words(metadata: list[Any]) -> str:
    """``> 0``, ``≥ 1``, ``in (0, 1]``, ``at least 1 item`` from annotated-types constraints."""
    low = high = None
    words = []
    for item in metadata:
        for kind, attribute, symbol in (
            (annotated_types.Gt, "gt", "("),
            (annotated_types.Ge, "ge", "["),
        ):
            if isinstance(item, kind):
                low = (getattr(item, attribute), symbol)
        for kind, attribute, symbol in (
            (annotated_types.Lt, "lt", ")"),
            (annotated_types.Le, "le", "]"),
        ):
            if isinstance(item, kind):
                high = (getattr(item, attribute), symbol)
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            words.append(f"at least {item.min_length} item{'s' * (item.min_length > 1)}")
        if isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {item.max_length} items")
    if low and high:
        words.insert(0, f"in {low[1]}{low[0]}, {high[0]}{high[1]}")
    elif low:
        words.insert(0, f"{'>' if low[1] == '(' else '≥'} {low[0]}")
    elif high:
        words.insert(0, f"{'<' if high[1] == ')' else '≤'} {high[0]}")
    return ", ".join(words)


def _constraints(metadata: list[Any]) -> list[Any]:
    """Annotated-types constraints in ``metadata``, also those inside a ``Field(...)``."""
    found = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            found += item.metadata
        else:
            found.append(item)
    return found


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """(bare type, Annotated metadata)."""
    if typing.get_origin(annotation) is Annotated:
        bare, *metadata = typing.get_args(annotation)
        inner, more = _split(bare)
        return inner, metadata + more
    return annotation, []


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def describe(annotation: Any, metadata: list[Any] | None = None) -> tuple[str, str]:
    """(type, allowed values) of an annotation in words: ``("integer", "integer > 0")``."""
    bare, own = _split(annotation)
    metadata = list(metadata or []) + own
    for item in metadata:
        if isinstance(item, Shown):
            return item.type, item.allowed
    bounds = _bound_words(_constraints(metadata))
    members = _members(bare)
    if len(members) > 1:
        described = [describe(m) for m in members if m is not type(None)]
        kinds = [d[0] for d in described]
        allowed = [d[1] for d in described]
        if type(None) in members:
            kinds.append("null")
            allowed.append("null")
        allowed_text = _or(allowed)
        return " or ".join(dict.fromkeys(kinds)), (
            f"{allowed_text} ({bounds})" if bounds else allowed_text
        )
    origin = typing.get_origin(bare)
    if origin is Literal:
        values = [_yaml_word(v) for v in typing.get_args(bare)]
        flags = [isinstance(v, bool) for v in typing.get_args(bare)]
        kind = "true/false" if all(flags) else "text or true/false" if any(flags) else "text"
        return kind, _or(values)
    if origin is list:
        (item,) = typing.get_args(bare)
        kind, allowed = describe(item)
        text = f"list of {allowed}" + (f", {bounds}" if bounds else "")
        return "list", text
    if origin is dict:
        _, value = typing.get_args(bare)
        kind, allowed = describe(value)
        return "mapping", f"name → {allowed}"
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return "mapping", "the keys below"
    names = {
        bool: ("true/false", "true or false"),
        int: ("integer", "integer"),
        float: ("number", "number"),
        str: ("text", "text"),
        type(None): ("null", "null"),
    }
    kind, allowed = names.get(bare, (getattr(bare, "__name__", str(bare)), str(bare)))
    return kind, f"{allowed} {bounds}" if bounds else allowed


def describe_field(field: FieldInfo) -> tuple[str, str]:
    """(type, allowed values) of a model field in words."""
    return describe(field.annotation, list(field.metadata))


def model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds and how: ``(Model, "")`` for a mapping, ``(Model, "list")`` for a
    list of them, ``(Model, "dict")`` for a mapping of names to them; ``(None, "")`` otherwise.
    Optional (``| None``) is looked through."""
    bare, _ = _split(annotation)
    for member in _members(bare):
        member, _ = _split(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member, ""
        origin = typing.get_origin(member)
        if origin in (list, dict):
            inner, _ = _split(typing.get_args(member)[-1])
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner, origin.__name__
    return None, ""
