"""`--shard I/N`: a deterministic split of a sweep or a pytest session.

A case (or a pytest test item) belongs to shard I of N when the SHA-1 of its id, as a
number, is I-1 modulo N. The assignment depends only on the id — not on the order,
the machine or the other ids — so the N shards are disjoint, their union is the whole
sweep, and the same seed gives the same shards everywhere.
"""

from __future__ import annotations

import hashlib
import re


class ShardError(ValueError):
    """A malformed --shard value; the message is one line."""


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise ShardError(f"--shard expects I/N (e.g. 2/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"--shard {text}: I must be between 1 and N, and N at least 1")
    return index, count


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % count == index - 1
