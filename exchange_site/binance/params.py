"""Typed parameter declarations: one source for request validation and the OpenAPI parameters.

Each endpoint declares its parameters as `Param`s (plus cross-parameter `OneOf` rules). The
same declarations validate a request (Binance codes -1100, -1101, -1102, -1106, -1014 and the
enum codes -1115/-1116/-1117/-1120) and produce the OpenAPI schema (exchange_site.binance.schema).

Raw parameters come from the query string and, for POST/PUT/DELETE, the
application/x-www-form-urlencoded body (Django parses neither a DELETE nor a PUT body, and the
signature check needs the raw bytes anyway, so both parts are parsed here). On a name present in
both parts the query wins.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from exchange_site.money import DECIMAL_RE, parse_decimal

from . import errors
from .times import MAX_TIME_MS

# The patterns keep ^...$ for the OpenAPI document (JSON Schema regexes are not anchored), and
# are always applied with fullmatch: in Python `$` also matches before a trailing newline.
INT_RE = re.compile(r"^[0-9]{1,20}$")
INT64_MAX = 2**63 - 1
SYMBOL_PATTERN = r"^[A-Z0-9]{1,32}$"
SYMBOLS_LEGAL = r'^\[("[A-Z0-9]{1,32}"(,"[A-Z0-9]{1,32}"){0,}){0,1}\]$'  # Binance's error text
CLIENT_ORDER_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,36}$"
MAX_SYMBOLS = 100
_JSON_WS = r"[ \t\n\r]*"


def json_array_pattern(item_pattern: str) -> str:
    """The pattern of a JSON array of 1 to MAX_SYMBOLS strings, each matching `item_pattern`
    (anchored, of characters that need no JSON escape), JSON whitespace allowed. Requests are
    checked against it before parsing, so the schema's pattern is exactly what is accepted."""
    item = f'{_JSON_WS}"{item_pattern.removeprefix("^").removesuffix("$")}"{_JSON_WS}'
    return rf"^{_JSON_WS}\[{item}(,{item}){{0,{MAX_SYMBOLS - 1}}}\]{_JSON_WS}$"


class Kind(enum.Enum):
    DECIMAL = "decimal"
    INT = "int"
    ENUM = "enum"
    STR = "str"
    BOOL = "bool"
    JSON_ARRAY = "json-array"  # a JSON array of strings, e.g. symbols=["BTCUSDT","ETHUSDT"]


@dataclass(frozen=True, slots=True)
class When:
    """A condition on another (already validated) parameter: its value is one of `values`."""

    param: str
    values: frozenset[str]

    def holds(self, values: Mapping[str, Any]) -> bool:
        return values.get(self.param) in self.values

    def describe(self) -> str:
        return f"{self.param} is {' or '.join(sorted(self.values))}"


def when(param: str, *values: str) -> When:
    return When(param, frozenset(values))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    required: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()  # ENUM
    # (code, exact message) answered for an ENUM value outside `choices`; default -1100.
    enum_error: tuple[int, str] | None = None
    minimum: int | None = None  # INT
    maximum: int | None = None  # INT
    pattern: str | None = None  # STR, and each item of a JSON_ARRAY
    default: Any = None
    required_when: When | None = None  # missing while the condition holds: -1102
    forbidden_when: When | None = None  # sent while the condition holds: -1106
    # A Binance feature this platform does not offer: any value gives -1014.
    unsupported: bool = False

    @property
    def admits_empty(self) -> bool:
        """Whether `name=` counts as not sent: only for a string its pattern allows empty.
        Anything else sent empty (`symbol=`, `limit=`) is refused, not taken as absent: the
        schema declares no such value, and `symbol=` must not mean every symbol."""
        if self.unsupported:
            return True  # refused with -1014 whatever its value; empty stays "not sent"
        if self.kind is not Kind.STR:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, "") is not None

    def parse(self, raw: str) -> Any:
        """The typed value of a raw string; raise ApiError when it does not fit."""
        if self.unsupported:
            raise errors.unsupported_combination()
        if self.kind is Kind.DECIMAL:
            value = parse_decimal(raw)
            if value is None:
                raise errors.illegal_chars(self.name, DECIMAL_RE.pattern)
            return value
        if self.kind is Kind.INT:
            if not INT_RE.fullmatch(raw):
                raise errors.illegal_chars(self.name, INT_RE.pattern)
            number = int(raw)
            low = 0 if self.minimum is None else self.minimum
            high = INT64_MAX if self.maximum is None else self.maximum
            if not low <= number <= high:
                raise errors.illegal_chars(self.name, f"{low}-{high}")
            return number
        if self.kind is Kind.ENUM:
            if raw not in self.choices:
                if self.enum_error is not None:
                    code, msg = self.enum_error
                    raise errors.ApiError(msg, code=code)
                raise errors.illegal_chars(self.name, ", ".join(self.choices))
            return raw
        if self.kind is Kind.BOOL:
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                raise errors.illegal_chars(self.name, "true, false")
            return lowered == "true"
        if self.kind is Kind.JSON_ARRAY:
            return self._parse_json_array(raw)
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise errors.illegal_chars(self.name, self.pattern)
        return raw

    def _parse_json_array(self, raw: str) -> list[str]:
        assert self.pattern is not None, "a JSON_ARRAY parameter declares its items' pattern"
        if not re.fullmatch(json_array_pattern(self.pattern), raw):
            legal = SYMBOLS_LEGAL if self.pattern == SYMBOL_PATTERN else self.pattern
            raise errors.illegal_chars(self.name, legal)
        # The pattern admits only an array of plain strings: this cannot fail nor give a float.
        items: list[str] = json.loads(raw)
        return list(dict.fromkeys(items))  # keep the order, drop repeats

    # OpenAPI ----------------------------------------------------------------------------

    def openapi_schema(self) -> dict[str, Any]:
        schema: dict[str, Any]
        if self.kind is Kind.DECIMAL:
            schema = {"type": "string", "pattern": DECIMAL_RE.pattern, "example": "0.01"}
        elif self.kind is Kind.INT:
            schema = {"type": "integer", "format": "int64"}
            schema["minimum"] = 0 if self.minimum is None else self.minimum
            schema["maximum"] = INT64_MAX if self.maximum is None else self.maximum
        elif self.kind is Kind.ENUM:
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.kind is Kind.BOOL:
            schema = {"type": "boolean"}
        elif self.kind is Kind.JSON_ARRAY:
            assert self.pattern is not None
            schema = {
                "type": "string",
                "pattern": json_array_pattern(self.pattern),
                "example": '["BTCUSDT","ETHUSDT"]',
            }
        else:
            schema = {"type": "string"}
            if self.pattern:
                schema["pattern"] = self.pattern
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def openapi_description(self) -> str:
        parts = [self.description] if self.description else []
        if self.kind is Kind.JSON_ARRAY:
            parts.append(
                f"A JSON array of 1 to {MAX_SYMBOLS} strings (URL-encoded), each matching"
                f" {self.pattern}."
            )
        if self.required_when:
            parts.append(f"Required when {self.required_when.describe()}.")
        if self.forbidden_when:
            parts.append(f"Not allowed when {self.forbidden_when.describe()} (-1106).")
        if self.unsupported:
            parts.append("Not offered by this platform: any value is refused with -1014.")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class OneOf:
    """Among `names`, at least one must be sent (else -1102 naming the first); with
    `exactly`, also at most one (else -1106 naming the second). Applies only `when` holds."""

    names: tuple[str, ...]
    exactly: bool = False
    when: When | None = None

    def check(self, values: Mapping[str, Any]) -> None:
        if self.when is not None and not self.when.holds(values):
            return
        sent = [name for name in self.names if values.get(name) is not None]
        if not sent:
            raise errors.mandatory(self.names[0])
        if self.exactly and len(sent) > 1:
            raise errors.not_required(sent[1])

    def describe(self) -> str:
        which = "Exactly one" if self.exactly else "At least one"
        cond = f" when {self.when.describe()}" if self.when else ""
        return f"{which} of {', '.join(self.names)} is required{cond}."


@dataclass(frozen=True, slots=True)
class NotTogether:
    """At most one of `names` may be sent, else -1128 (Binance's answer to symbol with
    symbols)."""

    names: tuple[str, ...]

    def check(self, values: Mapping[str, Any]) -> None:
        if sum(values.get(name) is not None for name in self.names) > 1:
            raise errors.bad_combination()

    def describe(self) -> str:
        return f"At most one of {', '.join(self.names)} (both: -1128)."


Rule = OneOf | NotTogether


@dataclass(frozen=True, slots=True)
class ParamSpec:
    params: tuple[Param, ...] = ()
    rules: tuple[Rule, ...] = ()
    by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})

    def validate(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Typed values of every declared parameter (None or the default when not sent).

        First failure wins, in this order: each parameter in declaration order (missing
        required -1102, malformed -1100/enum codes, unsupported -1014), then the conditional
        requirements and exclusions (-1102/-1106), then the rules (OneOf -1102/-1106,
        NotTogether -1128). Undeclared parameters are ignored, as Binance clients add their own
        (e.g. a broker tag). A parameter sent empty counts as not sent only if its pattern
        allows empty (`Param.admits_empty`); otherwise it is -1102 when it is required (or
        required by an earlier parameter's value), else malformed (-1100).
        """
        values: dict[str, Any] = {}
        for param in self.params:
            text = raw.get(param.name)
            if text is None or (text == "" and param.admits_empty):
                if param.required:
                    raise errors.mandatory(param.name)
                values[param.name] = param.default
                continue
            if text == "" and (
                param.required or (param.required_when and param.required_when.holds(values))
            ):
                raise errors.mandatory(param.name)  # Binance: "was not sent, was empty/null"
            values[param.name] = param.parse(text)
        for param in self.params:
            sent = raw.get(param.name, "") != ""
            if param.forbidden_when and sent and param.forbidden_when.holds(values):
                raise errors.not_required(param.name)
            if param.required_when and not sent and param.required_when.holds(values):
                raise errors.mandatory(param.name)
        for rule in self.rules:
            rule.check(values)
        return values


def spec(*params: Param, rules: Iterable[Rule] = ()) -> ParamSpec:
    return ParamSpec(tuple(params), tuple(rules))


# Raw parameters -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawParams:
    values: dict[str, str]
    duplicate: str | None  # a name sent twice within one part (query or body)


def parse_part(raw: bytes) -> tuple[dict[str, str], str | None]:
    """Name -> value of one urlencoded part; also the first name repeated within it."""
    if not raw:
        return {}, None
    values: dict[str, str] = {}
    duplicate = None
    # errors="replace": an undecodable byte becomes U+FFFD, which no declared pattern accepts,
    # so the parameter is answered with -1100 rather than a 500.
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if name in values and duplicate is None:
            duplicate = name
        values[name] = value
    return values, duplicate


def merge_parts(query: bytes, body: bytes) -> RawParams:
    """Query string and body merged; the query wins on a name present in both."""
    from_query, dup_query = parse_part(query)
    from_body, dup_body = parse_part(body)
    return RawParams({**from_body, **from_query}, dup_query or dup_body)


# Shared declarations ------------------------------------------------------------------------

SYMBOL = Param("symbol", Kind.STR, required=True, pattern=SYMBOL_PATTERN, description="BTCUSDT")
SYMBOL_OPTIONAL = Param("symbol", Kind.STR, pattern=SYMBOL_PATTERN, description="BTCUSDT")
SYMBOLS = Param(
    "symbols",
    Kind.JSON_ARRAY,
    pattern=SYMBOL_PATTERN,
    description='e.g. ["BTCUSDT","ETHUSDT"]; not together with symbol (-1128).',
)
SYMBOL_OR_SYMBOLS = NotTogether(("symbol", "symbols"))


def limit(default: int, maximum: int) -> Param:
    return Param(
        "limit",
        Kind.INT,
        minimum=1,
        maximum=maximum,
        default=default,
        description=f"Number of items, 1-{maximum}.",
    )


START_TIME = Param(
    "startTime", Kind.INT, maximum=MAX_TIME_MS, description="Inclusive, ms since the epoch."
)
END_TIME = Param(
    "endTime", Kind.INT, maximum=MAX_TIME_MS, description="Inclusive, ms since the epoch."
)
