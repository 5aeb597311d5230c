"""The SQL type compatibility table (headwater.catalog.type_changes)."""

from __future__ import annotations

import pytest

from headwater.catalog.type_changes import SqlType, assess_type_change, parse_type

CASES = [
    # same type, other spellings: safe
    ("INT4", "integer", "same"),
    ("numeric(10, 2)", "NUMERIC(10,2)", "same"),
    ("character varying(20)", "varchar(20)", "same"),
    ("float8", "double precision", "same"),
    ('"TIMESTAMP"', "timestamp without time zone", "same"),
    ("jsonb", "json", "same"),
    # integers
    ("smallint", "int", "widening"),
    ("int", "bigint", "widening"),
    ("INT64", "int", "narrowing"),
    ("bigint", "smallint", "narrowing"),
    ("tinyint", "int2", "widening"),
    # decimals
    ("numeric(10,2)", "numeric(12,2)", "widening"),
    ("numeric(10,2)", "numeric(12,4)", "widening"),
    ("numeric(10,2)", "numeric(8,2)", "narrowing"),
    ("numeric(10,2)", "numeric(10,3)", "narrowing"),  # one integer digit fewer
    ("numeric(10,2)", "numeric", "widening"),
    ("NUMBER", "NUMBER(10,0)", "narrowing"),  # Snowflake's NUMBER is (38,0)
    ("int", "numeric(12,0)", "widening"),
    ("int", "numeric(5,0)", "narrowing"),
    ("bigint", "decimal(18,0)", "narrowing"),
    ("numeric(9,0)", "int", "widening"),
    ("numeric(10,2)", "bigint", "narrowing"),
    # floats
    ("real", "double precision", "widening"),
    ("FLOAT64", "float4", "narrowing"),
    ("int", "double", "widening"),
    ("bigint", "double", "narrowing"),
    ("smallint", "real", "widening"),
    ("numeric(6,2)", "real", "widening"),
    ("numeric(20,2)", "double", "narrowing"),
    ("double", "numeric(38,10)", "narrowing"),
    ("float", "int", "narrowing"),
    # strings and binaries
    ("varchar(20)", "varchar(255)", "widening"),
    ("varchar(255)", "text", "widening"),
    ("char(3)", "varchar(10)", "widening"),
    ("text", "varchar(100)", "narrowing"),
    ("STRING", "STRING(10)", "narrowing"),
    ("varchar(max)", "nvarchar(4000)", "narrowing"),
    ("varbinary(16)", "bytea", "widening"),
    ("blob", "binary(16)", "narrowing"),
    ("uuid", "text", "widening"),
    ("uuid", "varchar(20)", "narrowing"),
    ("varchar(36)", "uuid", "narrowing"),
    # dates and times
    ("date", "timestamp", "widening"),
    ("date", "timestamptz", "widening"),
    ("timestamp", "date", "narrowing"),
    ("timestamp(3)", "timestamp(6)", "widening"),
    ("timestamp", "timestamp(0)", "narrowing"),
    ("timestamp(3) with time zone", "timestamptz", "widening"),
    ("timestamp", "timestamptz", "changed"),
    ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "changed"),
    ("time(0)", "time(3)", "widening"),
    # families that do not convert
    ("int", "varchar(20)", "incompatible"),
    ("date", "int", "incompatible"),
    ("boolean", "int", "widening"),
    ("int", "boolean", "incompatible"),
    ("json", "text", "changed"),
    # unknown
    ("geography", "geometry", "unknown"),
    ("int[]", "bigint[]", "unknown"),
    ("struct<a:int>", "struct<a:bigint>", "unknown"),
]
SEVERITY = {
    "same": "safe",
    "widening": "warning",
    "narrowing": "breaking",
    "incompatible": "breaking",
    "changed": "warning",
    "unknown": "warning",
}


@pytest.mark.parametrize(("old", "new", "verdict"), CASES)
def test_type_change_verdicts(old: str, new: str, verdict: str) -> None:
    change = assess_type_change(old, new)
    assert change.verdict == verdict, change.reason
    assert change.severity == SEVERITY[verdict]
    assert change.reason


def test_parsing() -> None:
    assert parse_type("NUMERIC(10, 2)") == SqlType("decimal", 10, 2)
    assert parse_type("character varying") == SqlType("string", None)
    assert parse_type("char") == SqlType("string", 1)
    assert parse_type("timestamp(3) with time zone") == SqlType("timestamp", 3, tz=True)
    assert parse_type("BIGINT NOT NULL") == SqlType("integer", 64)
    assert parse_type("float(10)") == SqlType("float", 24)
    assert parse_type("array<int>") is None
    assert parse_type("") is None
