"""Reading files that come from other machines: case files, the registry, the acceptance
rules, results and baseline files.

They are untrusted input (bug reports, CI artifacts, other people's checkouts), so every
reader goes through `read_json` / `read_toml`, which turn each way a file can be unusable
into the reader's own one-line error (its `error` class) before any of it is used:

- a size limit, checked before the file is read;
- strict UTF-8 (a UTF-16 or Latin-1 file is not silently misread);
- a nesting limit, checked before parsing: json and tomllib recurse, and a file of
  100 000 `[` must be an error, not a RecursionError;
- integers of at most MAX_INTEGER_DIGITS digits (Python refuses over 4300 with a
  ValueError, and a 4000-digit integer is no float either);
- no lone surrogates (an escaped "\\ud800" parses to a str that cannot be written back
  as UTF-8, so the report that names it would be lost).

Then each format's own checker walks its fields with the `expect_*` helpers, which name
the path of the offending field (`params[0].shape[1]: expected ...`).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from harness.nonfinite import TEXTS as NONFINITE_TEXTS, from_json

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 400
# The registry and the acceptance rules are a few hundred lines; results and baseline
# files of a thorough run are tens of MB.
DEFAULT_MAX_TOML_BYTES = 16 << 20
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _read_bytes(path: Path, error: type[Exception], max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, over the limit of {max_bytes} for this kind of file")
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None


def _decode(data: bytes, path: str | Path, error: type[Exception]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


# Bytes of a JSON text counted at a time by json_depth: its running sums are int32
# arrays of this many entries, not int64 arrays of the whole text (a 433 MB case file
# took 11 GB of memory to count).
DEPTH_CHUNK = 1 << 22


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not
    count), without recursion and without a Python loop over the bytes: escaped
    backslashes, then escaped quotes are dropped, every remaining quote toggles "inside a
    string", and the brackets outside strings are counted up and down, DEPTH_CHUNK bytes
    at a time (the quotes and the depth so far carried from one chunk to the next)."""
    text = np.frombuffer(data.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    depth = deepest = quotes = 0
    for start in range(0, text.size, DEPTH_CHUNK):
        chunk = text[start:start + DEPTH_CHUNK]
        quote_count = np.cumsum(chunk == ord('"'), dtype=np.int32)
        outside = (quote_count + quotes) % 2 == 0
        steps = ((chunk == ord("[")) | (chunk == ord("{"))).astype(np.int32)
        steps -= (chunk == ord("]")) | (chunk == ord("}"))
        running = np.cumsum(steps * outside, dtype=np.int32)
        deepest = max(deepest, depth + int(running.max()))
        depth += int(running[-1])
        quotes += int(quote_count[-1])
    return deepest


class _IntegerTooLong(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _IntegerTooLong(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INTEGER_DIGITS})")
    return int(text)


def read_json(path: str | Path, error: type[Exception], max_bytes: int) -> Any:
    """The parsed JSON document at `path`, or `error` with one line saying why not."""
    path = Path(path)
    return parse_json(_read_bytes(path, error, max_bytes), path, error)


def parse_json(data: bytes, where: str | Path, error: type[Exception]) -> Any:
    """The JSON document `data` holds, with every protection of `read_json` but the size
    limit (the caller's: `data` is already read, e.g. a member of a zip archive within
    its declared size), or `error` with one line starting with `where` saying why not."""
    text = _decode(data, where, error)
    depth = json_depth(data)
    if depth > MAX_DEPTH:
        raise error(f"{where}: nested {depth} levels deep (at most {MAX_DEPTH})")
    try:
        document = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (_IntegerTooLong, RecursionError) as exc:
        raise error(f"{where}: not usable JSON ({exc or 'nested too deep'})") from None
    if _SURROGATE_ESCAPE.search(data):
        _refuse_lone_surrogates(document, where, error)
    return document


def read_toml(path: str | Path, error: type[Exception], max_bytes: int = DEFAULT_MAX_TOML_BYTES) -> dict:
    """The parsed TOML document at `path`, or `error` with one line saying why not."""
    path = Path(path)
    data = _read_bytes(path, error, max_bytes)
    text = _decode(data, path, error)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
    except (RecursionError, ValueError) as exc:  # ValueError: an integer over Python's 4300 digits
        raise error(f"{path}: not usable TOML ({'nested too deep' if isinstance(exc, RecursionError) else exc})") \
            from None
    _refuse_lone_surrogates(document, path, error)
    return document


def _refuse_lone_surrogates(document: Any, path: str | Path, error: type[Exception]) -> None:
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack += [(f"{where}.{key}" if where else str(key), item) for key, item in value.items()]
            stack += [(f"{where} (a key)", key) for key in value]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", item) for i, item in enumerate(value)]
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise error(f"{path}: {where or 'document'}: a string with a lone surrogate "
                            f"(not encodable as UTF-8): {ascii(value)[:60]}") from None


# --------------------------------------------------------------------------- field checks
# Each raises `error(f"{where}: ...")`; a format's checker calls them field by field.

def shown(value: Any, limit: int = 40) -> str:
    """A short, printable rendering of a bad value for a one-line message."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=repr)
    except (ValueError, RecursionError):
        text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def expect_str(value: Any, where: str, error: type[Exception], *, empty: bool = False,
               choices: Iterable[str] | None = None, max_length: int | None = None) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise error(f"{where}: expected a {'' if empty else 'non-empty '}string, got {shown(value)}")
    if choices is not None:
        choices = list(choices)
        if value not in choices:
            raise error(f"{where}: expected one of {choices}, got {shown(value)}")
    if max_length is not None and len(value) > max_length:
        raise error(f"{where}: a string of {len(value)} characters (at most {max_length})")
    return value


def expect_bool(value: Any, where: str, error: type[Exception]) -> bool:
    if not isinstance(value, bool):
        raise error(f"{where}: expected true or false, got {shown(value)}")
    return value


def expect_number(value: Any, where: str, error: type[Exception], *, finite: bool = True,
                  minimum: float | None = None) -> float:
    """A JSON/TOML number (not a bool) as a float; `finite=False` also takes the
    strings "inf", "-inf" and "nan" (how the harness writes non-finite numbers,
    harness/nonfinite.py)."""
    if not finite and value in NONFINITE_TEXTS:
        return from_json(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{where}: expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise error(f"{where}: {shown(value)} is beyond the range of a float") from None
    if finite and not math.isfinite(number):
        raise error(f"{where}: expected a finite number, got {value}")
    if minimum is not None and not number >= minimum:
        raise error(f"{where}: expected a number >= {minimum:g}, got {shown(value)}")
    return number


def expect_int(value: Any, where: str, error: type[Exception], *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{where}: expected an integer, got {shown(value)}")
    if minimum is not None and value < minimum:
        raise error(f"{where}: expected an integer >= {minimum}, got {shown(value)}")
    return value


def expect_list(value: Any, where: str, error: type[Exception], *, item: Callable[[Any, str], Any] | None = None,
                non_empty: bool = False, length: int | None = None) -> list:
    if not isinstance(value, list):
        raise error(f"{where}: expected a list, got {shown(value)}")
    if non_empty and not value:
        raise error(f"{where}: expected a non-empty list")
    if length is not None and len(value) != length:
        raise error(f"{where}: expected {length} item(s), got {len(value)}")
    return value if item is None else [item(x, f"{where}[{i}]") for i, x in enumerate(value)]


def expect_table(value: Any, where: str, error: type[Exception], *, required: Iterable[str] = (),
                 optional: Iterable[str] = ()) -> dict:
    """An object/table with every `required` key and no key outside `required` and `optional`."""
    if not isinstance(value, dict):
        raise error(f"{where}: expected an object, got {shown(value)}")
    required, optional = set(required), set(optional)
    missing = sorted(required - set(value))
    unknown = sorted(set(value) - required - optional)
    if missing or unknown:
        parts = ([f"missing key(s) {missing}"] if missing else []) + \
                ([f"unknown key(s) {[shown(k) for k in unknown]}; known: {sorted(required | optional)}"]
                 if unknown else [])
        raise error(f"{where}: {'; '.join(parts)}")
    return value
