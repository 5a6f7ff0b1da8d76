"""The HTTP front end's pure parts: statement scanning, error shapes, body (de)compression."""

from __future__ import annotations

import pytest
from tests.support.clickhouse_http import (
    _STATUS_BY_NAME,
    _ClickHouseError,
    _compress,
    _decompress,
    _engine_error,
    _parse_statement,
)


def test_insert_data_starts_after_the_format_name_and_one_newline() -> None:
    binary = b"\x00\x01'\"`(\n--"
    stmt = _parse_statement(b"INSERT INTO db.t (`a`, `b`) FORMAT Native\n" + binary)
    assert stmt.keyword == "INSERT"
    assert stmt.sql == b"INSERT INTO db.t (`a`, `b`) "
    assert stmt.format == "Native"
    assert stmt.data is not None
    assert bytes(stmt.data) == binary
    same_line = _parse_statement(b"insert into t format CSV \t 1,2\n")
    assert same_line.format == "CSV"
    assert same_line.data is not None
    assert bytes(same_line.data) == b"1,2\n"
    two_newlines = _parse_statement(b"INSERT INTO t FORMAT TSV\r\n\nx")
    assert two_newlines.data is not None
    assert bytes(two_newlines.data) == b"\nx"
    empty = _parse_statement(b"INSERT INTO t FORMAT Arrow")
    assert empty.data is not None
    assert bytes(empty.data) == b""


def test_format_in_names_strings_and_comments_is_not_the_clause() -> None:
    stmt = _parse_statement(
        b"INSERT INTO t (format, `FORMAT`) SETTINGS x = 'FORMAT Y' /* FORMAT Z */ -- FORMAT W\n FORMAT JSONEachRow\n{}"
    )
    assert stmt.format == "JSONEachRow"
    assert stmt.sql.endswith(b"-- FORMAT W\n ")
    assert stmt.data is not None
    assert bytes(stmt.data) == b"{}"


def test_inline_values_and_insert_select_stay_one_statement() -> None:
    for sql in (
        b"INSERT INTO t VALUES (1, 'FORMAT x')",
        b"INSERT INTO t SELECT * FROM s",
        b"INSERT INTO t WITH 1 AS x SELECT x",
    ):
        stmt = _parse_statement(sql)
        assert stmt.data is None
        assert stmt.sql == sql
        assert stmt.format is None


def test_queries_report_their_keyword_and_explicit_format() -> None:
    assert _parse_statement(b"  -- note\n select 1\n FORMAT Native").format == "Native"
    assert _parse_statement(b"  -- note\n select 1\n FORMAT Native").keyword == "SELECT"
    assert _parse_statement(b"SELECT format FROM t").format is None
    assert _parse_statement(b"SELECT (SELECT 1 FORMAT JSON)").format is None  # not at top level
    assert _parse_statement(b"CREATE TABLE t (a Int8) ENGINE = Memory").keyword == "CREATE"
    assert _parse_statement(b"").keyword == ""


def test_engine_errors_keep_clickhouse_code_name_and_text() -> None:
    err = _engine_error(
        RuntimeError(
            "Streaming insert finish failed: Code: 27. DB::Exception: Cannot parse input: expected ','\n"
            ": While executing CSVRowInputFormat. (CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 26.9.2.1)"
        )
    )
    assert (err.code, err.name) == (27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED")
    assert err.message.startswith("Code: 27. DB::Exception: Cannot parse input")
    assert _STATUS_BY_NAME[err.name] == 400
    unknown = _engine_error(RuntimeError("Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE)"))
    assert (unknown.code, unknown.name, _STATUS_BY_NAME[unknown.name]) == (60, "UNKNOWN_TABLE", 404)
    plain = _engine_error(ValueError("boom"))
    assert (plain.code, plain.name) == (1001, "STD_EXCEPTION")
    assert plain.message == "Code: 1001. DB::Exception: boom. (STD_EXCEPTION)"
    assert _STATUS_BY_NAME.get(plain.name, 500) == 500


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "lz4", "zstd"])
def test_bodies_round_trip_through_each_encoding(encoding: str) -> None:
    data = b"INSERT INTO t FORMAT CSV\n" + b"1,2\n" * 10_000
    packed, used = _compress(data, f"br;q=1, {encoding}")
    assert used == encoding
    assert packed != data
    assert _decompress(packed, encoding) == data


def test_unknown_or_broken_encodings_are_clickhouse_errors() -> None:
    assert _compress(b"x", "br") == (b"x", None)
    assert _decompress(b"x", "identity") == b"x"
    with pytest.raises(_ClickHouseError) as unknown:
        _decompress(b"x", "snappy")
    assert unknown.value.code == 89
    with pytest.raises(_ClickHouseError) as broken:
        _decompress(b"not gzip", "gzip")
    assert broken.value.code == 271


def test_tables_and_columns_called_format_are_names() -> None:
    stmt = _parse_statement(b"INSERT INTO format FORMAT CSV\n1")
    assert (stmt.sql, stmt.format) == (b"INSERT INTO format ", "CSV")
    stmt = _parse_statement(b"INSERT INTO db.format (a) FORMAT TSV\n1")
    assert (stmt.sql, stmt.format) == (b"INSERT INTO db.format (a) ", "TSV")
    assert _parse_statement(b"SELECT x AS format FORMAT JSON").format == "JSON"
    assert _parse_statement(b"SELECT 1 FORMAT Native SETTINGS max_threads = 1;").format == "Native"
