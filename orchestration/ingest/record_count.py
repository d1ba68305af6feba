"""Counting a CSV file's data records without the CSV parser, so the loader's accounting can fail.

The parser's own row count cannot show a row it dropped; this count is independent of it: a
record ends at a line feed outside double quotes (RFC 4180: a doubled quote inside a quoted field
toggles twice, so it never changes the state), blank lines are not records, the header is the
first record. Vectorised with numpy in fixed-size chunks, so memory stays bounded for any file.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_BYTES = 1 << 26
QUOTE, LF, CR = 0x22, 0x0A, 0x0D


@dataclass(frozen=True)
class RecordCount:
    records: int  # data records (header excluded)
    open_quote_at_end: bool  # the file ends inside a quoted field: its last record is broken
    last_record_line: int  # 1-based physical line where the last record starts (for messages)
    last_record_offset: int  # byte offset where the last record starts


def count_csv_records(path: Path, gzipped: bool = False) -> RecordCount:
    opener = gzip.open if gzipped else open
    in_quotes = False
    records = 0
    lines = 0  # physical line feeds seen
    record_has_bytes = False  # the current record holds something other than a CR
    record_start_line, record_start_offset = 1, 0
    offset = 0
    with opener(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = data == QUOTE
            # Quote state after each byte; a line feed's own state is the state before it.
            state = np.logical_xor.accumulate(quotes) ^ in_quotes
            newline = data == LF
            terminators = np.flatnonzero(newline & ~state)
            line_feeds = np.flatnonzero(newline)
            content = ~(newline | (data == CR))  # bytes that make a record non-blank
            content_before = np.cumsum(content, dtype=np.int64)
            if len(terminators):
                # Content bytes of each record this chunk ends; the first continues the carry-over.
                per_record = np.diff(content_before[terminators], prepend=0)
                per_record[0] += record_has_bytes
                records += int(np.count_nonzero(per_record))
                last = int(terminators[-1])
                record_start_offset = offset + last + 1
                record_start_line = lines + int(np.searchsorted(line_feeds, last, side="right")) + 1
                record_has_bytes = bool(content[last + 1:].any())
            else:
                record_has_bytes = record_has_bytes or bool(content.any())
            lines += len(line_feeds)
            in_quotes = bool(state[-1])
            offset += len(data)
    if record_has_bytes:  # a last record without a final line feed
        records += 1
    return RecordCount(max(records - 1, 0), in_quotes, record_start_line, record_start_offset)
