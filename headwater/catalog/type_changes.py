"""Is a column type change safe for its consumers? A compatibility table over common SQL types.

A type string is parsed into a family and its parameters (case, spacing, quotes and common
dialect aliases folded: ``int4`` = ``integer`` = ``INT``, ``character varying(20)`` =
``varchar(20)``, ``float8`` = ``double``, BigQuery ``INT64`` / ``FLOAT64`` / ``STRING``,
Snowflake ``NUMBER`` / ``TIMESTAMP_NTZ`` ...). Then:

=================================================  ============  ========
old -> new                                          verdict       severity
=================================================  ============  ========
the same type                                       same          safe
integer of N bits -> integer of M >= N bits         widening      warning
integer -> decimal with enough integer digits       widening      warning
integer (<= 16 bits) -> float; (<= 32) -> double    widening      warning
decimal(p,s) -> decimal(p',s'), s'>=s, p'-s'>=p-s   widening      warning
decimal (p <= 6) -> float; (p <= 15) -> double      widening      warning
float -> double                                     widening      warning
char/varchar(n) -> varchar(m >= n) / text           widening      warning
binary(n) -> varbinary(m >= n) / blob               widening      warning
date -> timestamp; time(p) -> time(q >= p)          widening      warning
timestamp(p) -> timestamp(q >= p) (same zone kind)  widening      warning
uuid -> text or varchar(>= 36)                      widening      warning
boolean -> integer                                  widening      warning
the reverse of any widening above                   narrowing     breaking
decimal -> integer (fraction or digits lost)        narrowing     breaking
float/double -> integer or decimal                  narrowing     breaking
timestamp -> date                                   narrowing     breaking
another family (int -> text, date -> int, ...)      incompatible  breaking
timestamp <-> timestamp with time zone              changed       warning
json <-> text                                       changed       warning
an unknown type on either side, or an unknown pair  unknown       warning
=================================================  ============  ========

Widening warns rather than passes: a consumer that copies the column into a narrower declared
type (or an application reading it into an int32) may now overflow. A type without its
parameters (``varchar``, ``numeric``) is taken as the widest of its family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from headwater.graph.impact import Severity

__all__ = [
    "SqlType",
    "TypeChange",
    "Verdict",
    "assess_type_change",
    "normalise_type",
    "parse_type",
]

Verdict = Literal["same", "widening", "narrowing", "incompatible", "changed", "unknown"]
Family = Literal[
    "integer", "decimal", "float", "string", "binary", "boolean", "date", "time", "timestamp",
    "json", "uuid", "interval",
]  # fmt: skip

_SEVERITY: Final[dict[Verdict, Severity]] = {
    "same": "safe",
    "widening": "warning",
    "narrowing": "breaking",
    "incompatible": "breaking",
    "changed": "warning",
    "unknown": "warning",
}

# Integer bit widths (unsigned types are not distinguished).
_INTEGERS: Final[dict[str, int]] = {
    "tinyint": 8, "int1": 8, "byte": 8, "byteint": 8, "int8_t": 8,
    "smallint": 16, "int2": 16, "short": 16, "smallserial": 16, "serial2": 16,
    "mediumint": 24,
    "int": 32, "integer": 32, "int4": 32, "serial": 32, "serial4": 32,
    "bigint": 64, "int8": 64, "int64": 64, "long": 64, "bigserial": 64, "serial8": 64,
    "hugeint": 128, "int128": 128,
}  # fmt: skip
# Decimal digits an integer of N bits may need.
_INT_DIGITS: Final[dict[int, int]] = {8: 3, 16: 5, 24: 8, 32: 10, 64: 19, 128: 39}
# Float mantissa bits: a float holds every integer (and decimal) within 2**bits exactly.
_FLOATS: Final[dict[str, int]] = {
    "real": 24, "float4": 24, "binary_float": 24,
    "double": 53, "double precision": 53, "float8": 53, "float64": 53, "float": 53,
    "binary_double": 53,
}  # fmt: skip
_DECIMALS: Final = {"decimal", "numeric", "number", "dec", "bignumeric", "bigdecimal"}
# Default (precision, scale) where a dialect gives one; None = unbounded.
_DECIMAL_DEFAULTS: Final[dict[str, tuple[int | None, int | None]]] = {
    "number": (38, 0),  # Snowflake, Oracle-style NUMBER without arguments
    "bignumeric": (76, 38),
    "bigdecimal": (76, 38),
}
_STRINGS: Final = {
    "char", "character", "nchar", "bpchar", "varchar", "character varying", "nvarchar",
    "varchar2", "nvarchar2", "string", "text", "clob", "nclob", "tinytext", "mediumtext",
    "longtext", "ntext", "citext", "name",
}  # fmt: skip
_BINARIES: Final = {
    "binary", "varbinary", "bytea", "blob", "bytes", "tinyblob", "mediumblob", "longblob",
    "image", "raw",
}  # fmt: skip
_BOOLEANS: Final = {"bool", "boolean", "bit"}
_TIMESTAMPS: Final[dict[str, bool]] = {  # name -> carries a time zone
    "timestamp": False, "datetime": False, "datetime2": False, "timestamp_ntz": False,
    "timestamp without time zone": False, "smalldatetime": False,
    "timestamptz": True, "timestamp with time zone": True, "timestamp_tz": True,
    "timestamp_ltz": True, "timestamp with local time zone": True, "datetimeoffset": True,
}  # fmt: skip
_JSON: Final = {"json", "jsonb", "variant", "object", "super"}
_TIMES: Final = {"time", "time without time zone", "timetz", "time with time zone"}
_PARAMS = re.compile(r"^(?P<name>[a-z_][a-z0-9_ ]*)(?:\((?P<args>[^()]*)\))?(?P<rest>.*)$")


@dataclass(frozen=True)
class SqlType:
    """A parsed type: ``size`` is bits (integers, floats), length (strings, binaries) or
    precision (decimals, times); ``scale`` for decimals; ``tz`` for timestamps."""

    family: Family
    size: int | None = None
    scale: int | None = None
    tz: bool = False


@dataclass(frozen=True)
class TypeChange:
    verdict: Verdict
    severity: Severity
    reason: str


def normalise_type(raw: str) -> str:
    """A type string in a comparable spelling: lower case, single spaces, no quotes."""
    text = raw.strip().lower().replace('"', "").replace("`", "")
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*\(\s*", "(", text)
    text = re.sub(r"\s*,\s*", ",", text)
    text = re.sub(r"\s*\)", ")", text)
    return re.sub(r"\s+not null$|\s+unsigned$", "", text)


def _int_args(args: str | None) -> list[int | None]:
    if not args:
        return []
    values: list[int | None] = []
    for part in args.split(","):
        part = part.strip()
        values.append(int(part) if part.isdigit() else None)  # "max", "*": unbounded
    return values


def parse_type(raw: str) -> SqlType | None:
    """The type's family and parameters, or None when it is not one this table knows.

    >>> parse_type("NUMERIC(10, 2)")
    SqlType(family='decimal', size=10, scale=2, tz=False)
    """
    match = _PARAMS.match(normalise_type(raw))
    if match is None:
        return None
    name, rest = match.group("name").strip(), match.group("rest").strip()
    if rest in ("with time zone", "without time zone", "with local time zone"):
        name = f"{name} {rest}"  # "timestamp(3) with time zone": the zone follows the precision
    elif rest:
        return None  # arrays, structs, maps: compared as written only
    return _known(name, _int_args(match.group("args")))


def _known(name: str, args: list[int | None]) -> SqlType | None:
    first = args[0] if args else None
    if name in _INTEGERS:
        return SqlType("integer", _INTEGERS[name])
    if name in _FLOATS:
        bits = _FLOATS[name]
        if name == "float" and first is not None:
            bits = 24 if first <= 24 else 53  # float(p): p mantissa bits
        return SqlType("float", bits)
    if name in _DECIMALS:
        precision, scale = _DECIMAL_DEFAULTS.get(name, (None, None))
        if args:
            precision = first
            scale = args[1] if len(args) > 1 else 0
        return SqlType("decimal", precision, scale)
    if name in _STRINGS:
        if name in ("char", "character", "nchar", "bpchar") and not args:
            return SqlType("string", 1)  # SQL: CHAR without a length is CHAR(1)
        return SqlType("string", first)  # BigQuery STRING(10) is bounded too
    if name in _BINARIES:
        return SqlType("binary", first)
    if name in _BOOLEANS and not (name == "bit" and first not in (None, 1)):
        return SqlType("boolean")
    if name == "date":
        return SqlType("date")
    if name in _TIMES:
        return SqlType("time", first if first is not None else 6)
    if name in _TIMESTAMPS:
        return SqlType("timestamp", first if first is not None else 6, tz=_TIMESTAMPS[name])
    if name in _JSON:
        return SqlType("json")
    if name in ("uuid", "uniqueidentifier"):
        return SqlType("uuid")
    if name == "interval":
        return SqlType("interval")
    return None


def _covers(new: int | None, old: int | None) -> bool:
    """Does a bound of ``new`` hold everything a bound of ``old`` does (None = unbounded)?"""
    return new is None or (old is not None and new >= old)


def _compare(old: SqlType, new: SqlType) -> tuple[Verdict, str]:
    """Widening or narrowing within compatible families; the reason reads old -> new."""
    o, n = old, new
    pair = (o.family, n.family)
    if pair == ("integer", "integer"):
        assert o.size is not None
        assert n.size is not None
        if n.size >= o.size:
            return "widening", f"{n.size}-bit integers hold every {o.size}-bit value"
        return "narrowing", f"{n.size}-bit integers cannot hold every {o.size}-bit value"
    if pair == ("integer", "decimal"):
        assert o.size is not None
        digits = None if n.size is None else n.size - (n.scale or 0)
        if _covers(digits, _INT_DIGITS[o.size]):
            return "widening", "the decimal holds every integer value"
        return "narrowing", f"{digits} integer digits cannot hold every {o.size}-bit integer"
    if pair == ("integer", "float"):
        assert o.size is not None
        assert n.size is not None
        if o.size <= n.size - 5:  # 16-bit into single, 32-bit into double: exact
            return "widening", "every integer value is exact in the float"
        return "narrowing", f"large {o.size}-bit integers lose precision in the float"
    if pair == ("boolean", "integer"):
        return "widening", "booleans become 0 and 1"
    if pair == ("decimal", "decimal"):
        o_int = None if o.size is None else o.size - (o.scale or 0)
        n_int = None if n.size is None else n.size - (n.scale or 0)
        if _covers(n.scale, o.scale) and _covers(n_int, o_int):
            return "widening", "integer digits and scale are both kept"
        return "narrowing", "fewer integer digits or a smaller scale"
    if pair == ("decimal", "integer"):
        assert n.size is not None
        if o.scale == 0 and o.size is not None and o.size <= _INT_DIGITS[n.size] - 1:
            return "widening", "every value is a whole number that fits"
        return "narrowing", "fractions or large values are lost"
    if pair == ("decimal", "float"):
        limit = 6 if n.size == 24 else 15
        if o.size is not None and o.size <= limit:
            return "widening", f"{o.size} digits are exact in the float"
        return "narrowing", "decimal digits beyond the float's precision are lost"
    if pair == ("float", "float"):
        assert o.size is not None
        assert n.size is not None
        if n.size >= o.size:
            return "widening", "double precision holds every single-precision value"
        return "narrowing", "single precision loses digits"
    if pair in (("float", "integer"), ("float", "decimal")):
        return "narrowing", "floating-point values are rounded"
    if pair in (("string", "string"), ("binary", "binary")):
        if _covers(n.size, o.size):
            return "widening", "longer values fit"
        return "narrowing", f"values longer than {n.size} are cut or rejected"
    if pair == ("uuid", "string"):
        if _covers(n.size, 36):
            return "widening", "the text form of a UUID fits"
        return "narrowing", "the text form of a UUID needs 36 characters"
    if pair == ("string", "uuid"):
        return "narrowing", "only UUID-shaped strings survive"
    if pair == ("date", "timestamp"):
        return "widening", "a date becomes midnight of that day"
    if pair == ("timestamp", "date"):
        return "narrowing", "the time of day is lost"
    if pair in (("time", "time"), ("timestamp", "timestamp")):
        if o.tz != n.tz:
            return "changed", "the time zone semantics change"
        if _covers(n.size, o.size):
            return "widening", "fractional seconds are kept"
        return "narrowing", "fractional seconds are cut"
    if {o.family, n.family} == {"json", "string"}:
        return "changed", "semi-structured and text values convert, but readers parse them"
    return "incompatible", f"{o.family} values become {n.family}"


def assess_type_change(old: str, new: str) -> TypeChange:
    """How a change of a column's declared type from ``old`` to ``new`` affects direct consumers.

    >>> assess_type_change("bigint", "int").verdict
    'narrowing'
    >>> assess_type_change("varchar(20)", "text").severity
    'warning'
    """
    if normalise_type(old) == normalise_type(new):
        return TypeChange("same", "safe", "the type does not change")
    before, after = parse_type(old), parse_type(new)
    if before is None or after is None:
        unknown = old if before is None else new
        return TypeChange(
            "unknown", "warning", f"{unknown!r} is not a type the compatibility table knows"
        )
    if before == after:
        return TypeChange("same", "safe", f"{old} and {new} are the same type")
    verdict, reason = _compare(before, after)
    return TypeChange(verdict, _SEVERITY[verdict], f"{verdict}: {reason}")
