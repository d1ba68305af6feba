"""Vectorised text building for the demo generator.

Strings are built as fixed-width ``uint8`` matrices with numpy and handed to Arrow without a
Python object per value (``pa.StringArray.from_buffers``); lines of a CSV or JSON Lines file are
then joined column-wise with Arrow compute. This is what keeps 10M leads within minutes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

_ZERO = 48  # ord("0")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def strings_from_matrix(mat: np.ndarray, lengths: np.ndarray | None = None,
                        valid: np.ndarray | None = None) -> pa.StringArray:
    """Rows of a uint8 matrix (first ``lengths[i]`` bytes of row i) as an Arrow string array."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, w = mat.shape
    if lengths is None and valid is None:
        data = mat.tobytes()
        offsets = np.arange(0, n * w + 1, w, dtype=np.int32) if n else np.zeros(1, np.int32)
    else:
        lengths = np.full(n, w, np.int32) if lengths is None else lengths.astype(np.int32, copy=True)
        if valid is not None:
            lengths[~valid] = 0
        mask = np.arange(w, dtype=np.int32)[None, :] < lengths[:, None]
        data = mat[mask].tobytes()
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
    bitmap = None
    null_count = 0
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little").tobytes())
        null_count = int(n - valid.sum())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data),
                                       bitmap, null_count)


def _put_digits(mat: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = values.astype(np.int64, copy=True)
    for k in range(width - 1, -1, -1):
        mat[:, col + k] = _ZERO + (v % 10)
        v //= 10


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant)."""
    z = days.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = y + (m <= 2)
    return y, m, d


_PAIRS = np.array([[_ZERO + i // 10, _ZERO + i % 10] for i in range(100)], np.uint8)
_TRIPLES = np.array([[_ZERO + i // 100, _ZERO + (i // 10) % 10, _ZERO + i % 10] for i in range(1000)], np.uint8)


def _date_bytes(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` rows for day numbers (a lookup table over the range present)."""
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1, dtype=np.int64) if hi - lo < 200_000 else np.unique(days)
    y, m, d = civil_from_days(span)
    table = np.empty((len(span), 10), np.uint8)
    table[:, 0:2] = _PAIRS[(y // 100) % 100]
    table[:, 2:4] = _PAIRS[y % 100]
    table[:, 4] = ord("-")
    table[:, 5:7] = _PAIRS[m]
    table[:, 7] = ord("-")
    table[:, 8:10] = _PAIRS[d]
    idx = days - lo if hi - lo < 200_000 else np.searchsorted(span, days)
    return table[idx]


def timestamp_matrix(local_ms: np.ndarray, sep: int) -> np.ndarray:
    """``YYYY-MM-DD?HH:MM:SS.mmm`` (23 bytes) of wall-clock milliseconds, in a 29-wide matrix."""
    n = len(local_ms)
    mat = np.zeros((n, 29), np.uint8)
    if n == 0:
        return mat
    days = np.floor_divide(local_ms, DAY_MS)
    rem = local_ms - days * DAY_MS
    mat[:, 0:10] = _date_bytes(days)
    mat[:, 10] = sep
    secs = rem // 1000
    mat[:, 11:13] = _PAIRS[secs // 3600]
    mat[:, 13] = ord(":")
    mat[:, 14:16] = _PAIRS[(secs // 60) % 60]
    mat[:, 16] = ord(":")
    mat[:, 17:19] = _PAIRS[secs % 60]
    mat[:, 19] = ord(".")
    mat[:, 20:23] = _TRIPLES[rem % 1000]
    return mat


def _fill_invalid(ms: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Put a nearby valid value where a timestamp is null (keeps the date table small)."""
    if valid is None or valid.all():
        return ms
    fill = ms[valid][0] if valid.any() else 0
    return np.where(valid, ms, fill)


def utc_iso(ms: np.ndarray, valid: np.ndarray | None = None) -> pa.StringArray:
    """UTC ISO-8601 with milliseconds and ``Z``: ``2026-03-08T14:03:07.123Z``."""
    ms = _fill_invalid(np.asarray(ms, np.int64), valid)
    mat = timestamp_matrix(ms, ord("T"))
    mat[:, 23] = ord("Z")
    return strings_from_matrix(mat[:, :24], None, valid)


def local_iso(utc_ms: np.ndarray, offset_ms: np.ndarray, aware: np.ndarray,
              valid: np.ndarray | None = None) -> pa.StringArray:
    """Wall-clock time of the offset; naive ``2026-03-08 09:03:07.123`` or, where ``aware``,
    ``2026-03-08T09:03:07.123-05:00``."""
    utc_ms = _fill_invalid(np.asarray(utc_ms, np.int64), valid)
    mat = timestamp_matrix(utc_ms + offset_ms, ord(" "))
    mat[aware, 10] = ord("T")
    off_min = offset_ms // MINUTE_MS
    sign = np.where(off_min < 0, ord("-"), ord("+")).astype(np.uint8)
    a = np.abs(off_min)
    mat[:, 23] = sign
    _put_digits(mat, 24, a // 60, 2)
    mat[:, 26] = ord(":")
    _put_digits(mat, 27, a % 60, 2)
    lengths = np.where(aware, 29, 23).astype(np.int32)
    return strings_from_matrix(mat, lengths, valid)


def prefixed_numbers(prefix: str, numbers: np.ndarray, width: int,
                     valid: np.ndarray | None = None) -> pa.StringArray:
    """``prefix`` + zero-padded decimal number, e.g. ``L00001234``."""
    p = prefix.encode()
    n = len(numbers)
    mat = np.empty((n, len(p) + width), np.uint8)
    mat[:, : len(p)] = np.frombuffer(p, np.uint8)
    nums = np.asarray(numbers, np.int64)
    if valid is not None:
        nums = np.where(valid, nums, 0)
    _put_digits(mat, len(p), nums, width)
    return strings_from_matrix(mat, None, valid)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 (distinct inputs give distinct outputs)."""
    z = np.asarray(x, np.uint64).copy()
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def hex_ids(prefix: str, counters: np.ndarray, salt: int) -> pa.StringArray:
    """``prefix`` + 32 lowercase hex digits (Twilio style), unique per (salt, counter)."""
    p = prefix.encode()
    c = np.asarray(counters, np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    hi = mix64(c)
    lo = mix64(hi ^ np.uint64(0x5851F42D4C957F2D))
    n = len(c)
    mat = np.empty((n, len(p) + 32), np.uint8)
    mat[:, : len(p)] = np.frombuffer(p, np.uint8)
    for part, base in ((hi, len(p)), (lo, len(p) + 16)):
        v = part.copy()
        for k in range(15, -1, -1):
            mat[:, base + k] = _HEX[(v & np.uint64(15)).astype(np.intp)]
            v >>= np.uint64(4)
    return strings_from_matrix(mat)


_M64 = (1 << 64) - 1


def _mix64_py(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def hex_id(prefix: str, counter: int, salt: int) -> str:
    """Scalar twin of ``hex_ids`` (same value for the same counter and salt)."""
    hi = _mix64_py((counter + salt) & _M64)
    lo = _mix64_py(hi ^ 0x5851F42D4C957F2D)
    return f"{prefix}{hi:016x}{lo:016x}"


def int_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(np.asarray(values, np.int64), mask=None if valid is None else ~valid)
    return pc.cast(arr, pa.string())


def e164(numbers: np.ndarray) -> pa.Array:
    """``+<digits>`` for nonzero int64 numbers, null for 0."""
    numbers = np.asarray(numbers, np.int64)
    valid = numbers > 0
    digits = pc.cast(pa.array(numbers, mask=~valid), pa.string())
    return pc.binary_join_element_wise(pa.scalar("+"), digits, "", null_handling="emit_null")


def take_strings(values: list[str] | tuple[str, ...], codes: np.ndarray,
                 valid: np.ndarray | None = None) -> pa.Array:
    """Look up string values by integer code (negative or invalid code -> null)."""
    codes = np.asarray(codes, np.int64)
    if valid is None:
        valid = codes >= 0
    idx = pa.array(np.where(valid, codes, 0), mask=~valid)
    return pc.take(pa.array(list(values), pa.string()), idx)


_NEEDS_QUOTE = r'[",\r\n]'


def csv_escape(arr: pa.Array) -> pa.Array:
    """RFC 4180: quote values containing a comma, quote or line break; double inner quotes."""
    if len(arr) == 0:
        return arr
    needs = pc.match_substring_regex(arr, _NEEDS_QUOTE)
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise(
        pa.scalar('"'), pc.replace_substring(arr, '"', '""'), pa.scalar('"'), "",
        null_handling="emit_null")
    return pc.if_else(needs, quoted, arr)


def csv_escape_py(value: str | None) -> str:
    if value is None:
        return ""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_lines(columns: list[pa.Array]) -> pa.Array:
    """One CSV line per row (no terminator); nulls become empty fields."""
    return pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")


def json_lines(names: list[str], columns: list[pa.Array], kinds: list[str]) -> pa.Array:
    """One compact JSON object per row. ``kinds``: "str" (quoted), "raw" (number/bool text).

    Values are generated by this package and never contain quotes, backslashes or control
    characters, so no escaping is needed (asserted by the tests, which parse every line)."""
    parts: list[pa.Array | pa.Scalar] = []
    for i, (name, col, kind) in enumerate(zip(names, columns, kinds)):
        key = ("{" if i == 0 else ",") + '"' + name + '":'
        if kind == "str":
            frag = pc.binary_join_element_wise(pa.scalar(key + '"'), col, pa.scalar('"'), "",
                                               null_handling="emit_null")
        else:
            frag = pc.binary_join_element_wise(pa.scalar(key), col, "", null_handling="emit_null")
        parts.append(pc.fill_null(frag, key + "null"))
    parts.append(pa.scalar("}"))
    return pc.binary_join_element_wise(*parts, "")


def lines_bytes(lines: pa.Array) -> bytes:
    """Lines joined with a trailing LF after each, as bytes."""
    if len(lines) == 0:
        return b""
    terminated = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    terminated = pa.concat_arrays([terminated]) if terminated.offset else terminated
    offsets = np.frombuffer(terminated.buffers()[1], np.int32, len(terminated) + 1, terminated.offset * 4)
    data = terminated.buffers()[2]
    return data.to_pybytes()[offsets[0]:offsets[-1]]


def iso_utc(ms: int) -> str:
    """One instant as ``2026-03-08T14:03:07.123Z`` (for the manifest)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
