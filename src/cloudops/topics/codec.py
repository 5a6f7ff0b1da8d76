"""Encoding of topic values: JSON records, and Arrow IPC batches with a JSON envelope header."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

import orjson
import pyarrow as pa
from pydantic import BaseModel, ValidationError

from cloudops.errors import BadDataError
from cloudops.schemas.events import FocusBatchEnvelope

__all__ = [
    "ENVELOPE_HEADER",
    "decode_batch",
    "decode_envelope",
    "decode_record",
    "encode_batch",
    "encode_record",
    "split_to_fit",
]

M = TypeVar("M", bound=BaseModel)
ENVELOPE_HEADER = "cloudops-envelope"
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def encode_record(record: BaseModel) -> bytes:
    """JSON bytes of a record (decimals as strings, times ISO 8601)."""
    return orjson.dumps(record.model_dump(mode="json"))


def decode_record(model: type[M], data: bytes | None) -> M:
    """Parse and validate a JSON record; BadDataError names what is wrong."""
    if data is None:
        raise BadDataError(f"empty {model.__name__} message")
    try:
        return model.model_validate(orjson.loads(data))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise BadDataError(f"invalid {model.__name__}: {' '.join(first[:3])}") from exc


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """Arrow IPC stream bytes (zstd-compressed buffers) of one batch."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=_IPC_OPTIONS) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def decode_batch(data: bytes) -> pa.RecordBatch:
    """The single batch of an Arrow IPC stream; BadDataError if it is not one."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadDataError(f"value is not an Arrow IPC stream: {exc}") from exc
    return (
        table.combine_chunks().to_batches()[0]
        if table.num_rows
        else pa.RecordBatch.from_pylist([], schema=table.schema)
    )


def decode_envelope(headers: Mapping[str, bytes] | None) -> FocusBatchEnvelope:
    """The envelope carried in the ``cloudops-envelope`` header."""
    raw = (headers or {}).get(ENVELOPE_HEADER)
    if raw is None:
        raise BadDataError(f"focus batch without a {ENVELOPE_HEADER} header")
    return decode_record(FocusBatchEnvelope, raw)


def split_to_fit(batch: pa.RecordBatch, max_bytes: int) -> Iterator[tuple[pa.RecordBatch, bytes]]:
    """Yield ``(piece, encoded)`` covering ``batch`` in order, each encoded piece <= ``max_bytes``.

    Halves a batch until it fits; a single row that does not fit raises BadDataError.
    """
    encoded = encode_batch(batch)
    if len(encoded) <= max_bytes:
        yield batch, encoded
        return
    if batch.num_rows <= 1:
        raise BadDataError(f"one FOCUS row encodes to {len(encoded)} bytes, over the {max_bytes} limit")
    half = batch.num_rows // 2
    yield from split_to_fit(batch.slice(0, half), max_bytes)
    yield from split_to_fit(batch.slice(half), max_bytes)
