"""The reader of untrusted files (harness/untrusted.py)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import untrusted
from harness.untrusted import json_depth

# Strings full of what could fool a bracket count: brackets, quotes, backslashes.
TRICKY = st.text(alphabet='[]{}"\\\\ab\u2028', max_size=8)
VALUES = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | TRICKY,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
                      max_leaves=20)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(VALUES, st.booleans())
def test_json_depth_counts_the_nesting_and_nothing_inside_strings(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=None if ascii_only else 1)
    assert json_depth(text.encode("utf-8")) == depth(value)


@settings(max_examples=300)
@given(value=VALUES, chunk=st.integers(1, 9))
def test_json_depth_counted_in_chunks_is_the_whole_count(value, chunk):
    """Chunks of 1-9 bytes cut strings, escapes already dropped and bracket runs anywhere:
    the carried quote parity and depth give the one-chunk count."""
    text = json.dumps(value).encode("utf-8")
    whole = json_depth(text)
    saved = untrusted.DEPTH_CHUNK
    untrusted.DEPTH_CHUNK = chunk
    try:
        assert json_depth(text) == whole == depth(value)
    finally:
        untrusted.DEPTH_CHUNK = saved
