"""The .npz case file (harness/casefile_npz.py): the JSON case's schema with its numbers as
arrays. Round trips are bit for bit, equal to the case loaded from JSON; every way an
untrusted archive can be bad is one CaseError line (exit 2 from the command line), a bad
metadata field with the JSON path's own message."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.casefile import Case, CaseError, case_from_dict, dumps_case, load_case, save_case
from harness.casefile_npz import META
from harness.strategies import (covering_case, extreme_gradient_cases, lr_schedule_cases, missing_gradient_cases,
                                row_cases, sparse_cases)

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = sorted((ROOT / "tests" / "data").glob("*.json")) + sorted((ROOT / "cases" / "reproducers").glob("*.json"))
VALID = {
    "schema": "optim-parity/case/1", "optimizer": "adam", "dtype": "float32",
    "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999]},
    "params": [{"name": "w", "shape": [2, 2], "value": [0.5, -1.0, 2.0, 0.25]},
               {"name": "b", "shape": [], "value": [0.125]}],
    "grads": [[[0.1, 0.2, -0.3, 0.0], [1.0]], [[0.1, "nan", -0.3, 1e-06], None]],
}


def assert_same(a: Case, b: Case) -> None:
    """The same case, every value bit for bit in the same numpy type."""
    assert dumps_case(a) == dumps_case(b)
    assert (a.dtype, a.missing, a.sparse_rows, a.param_groups) == (b.dtype, b.missing, b.sparse_rows, b.param_groups)
    for p, q in zip(a.params, b.params, strict=True):
        assert (p.name, p.shape, p.value.dtype, p.value.tobytes()) == \
            (q.name, q.shape, q.value.dtype, q.value.tobytes())
    for s, (x, y) in enumerate(zip(a.grads, b.grads, strict=True)):
        for j, (g, h) in enumerate(zip(x, y, strict=True)):
            assert (g.dtype, g.shape, g.tobytes()) == (h.dtype, h.shape, h.tobytes()), (s, j)


def npz_round_trip(case: Case, directory: Path) -> Case:
    return load_case(save_case(case, directory / "case.npz"))


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_every_committed_case_round_trips_bit_for_bit(tmp_path, path):
    case = load_case(path)
    assert_same(npz_round_trip(case, tmp_path), case)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_each_dtype_with_nonfinite_gradients_and_missing_ones(tmp_path, dtype):
    rng = np.random.default_rng(0)
    raw = json.loads(json.dumps(VALID))
    raw["dtype"] = dtype
    raw["params"][0]["value"] = (10.0 ** rng.uniform(-7, 4, 4) * [1, -1, 1, -1]).tolist()
    raw["grads"][0][0] = [-0.0, "inf", "-inf", float(10.0 ** rng.uniform(-7, 4))]
    from_json = load_case(save_case(case_from_dict(raw), tmp_path / "case.json"))
    from_npz = npz_round_trip(from_json, tmp_path)
    assert_same(from_npz, from_json)
    assert from_npz.missing == (frozenset(), frozenset({1})) and np.signbit(from_npz.grads[0][0][0])
    assert np.isnan(from_npz.grads[1][0][1]) and from_npz.np_dtype == {"float16": np.float16,
                                                                       "float64": np.float64}.get(dtype, np.float32)


GENERATED = st.one_of(
    row_cases("params", dtypes=st.sampled_from(["float16", "bfloat16", "float32", "float64"])),
    row_cases("lr"), sparse_cases(), missing_gradient_cases(), lr_schedule_cases(), extreme_gradient_cases(),
    st.builds(covering_case, st.sampled_from(["torch", "mindspore"]), st.integers(0, 5), st.integers(0, 99)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=GENERATED)
def test_generated_cases_load_from_npz_as_from_json(tmp_path, case):
    from_json = load_case(save_case(case, tmp_path / "case.json"))
    assert_same(npz_round_trip(from_json, tmp_path), from_json)
    assert_same(npz_round_trip(case, tmp_path), from_json)


def test_the_same_case_gives_the_same_bytes_and_the_write_is_atomic(tmp_path):
    case = case_from_dict(VALID)
    first = save_case(case, tmp_path / "a.npz").read_bytes()
    assert save_case(case, tmp_path / "b.npz").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no temp file left
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert archive.namelist() == [META, "value_0.npy", "value_1.npy", "grads_0.npy", "grads_1.npy"]
        meta = json.loads(archive.read(META))
    assert meta["params"] == [{"name": "w", "shape": [2, 2]}, {"name": "b", "shape": []}]
    assert (meta["steps"], meta["missing"]) == (2, [[1, 1]]) and "grads" not in meta
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        assert npz["grads_0"].shape == (2, 4) and npz["grads_1"].tolist() == [[1.0], [0.0]]


def test_the_suffix_picks_the_format(tmp_path):
    case = case_from_dict(VALID)
    for name in ("case.txt", "case"):
        with pytest.raises(CaseError, match=r"expected a case file named \*\.json or \*\.npz"):
            save_case(case, tmp_path / name)
        with pytest.raises(CaseError, match=r"expected a case file named \*\.json or \*\.npz"):
            load_case(tmp_path / name)
    assert_same(load_case(save_case(case, tmp_path / "UPPER.NPZ")), case)
    assert load_case(save_case(case, tmp_path / "c.json")).num_steps == 2
    (tmp_path / "json.npz").write_text(dumps_case(case))  # a JSON file named .npz is not an archive
    with pytest.raises(CaseError, match="json.npz: not an .npz archive"):
        load_case(tmp_path / "json.npz")


# --------------------------------------------------------------------------- hostile archives

def members_of(raw: dict, directory: Path) -> dict[str, bytes]:
    """A valid .npz case's members, name -> bytes, to be tampered with."""
    with zipfile.ZipFile(save_case(case_from_dict(raw), directory / "base.npz")) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=array.dtype == object)
    return out.getvalue()


def write_members(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def meta_of(members: dict[str, bytes]) -> dict:
    return json.loads(members[META])


def error_of(path: Path) -> str:
    with pytest.raises(CaseError) as info:
        load_case(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message[len(f"{path}: "):]


def with_meta(members: dict[str, bytes], **changes) -> dict[str, bytes]:
    meta = meta_of(members)
    meta.update(changes)
    return dict(members, **{META: json.dumps(meta).encode()})


@pytest.mark.parametrize("tamper, message", [
    (lambda m: dict(m, **{"evil.npy": npy(np.zeros(1))}),
     "not the members its case.json makes: unexpected ['evil.npy']"),
    (lambda m: {k: v for k, v in m.items() if k != "grads_1.npy"},
     "not the members its case.json makes: missing ['grads_1.npy']"),
    (lambda m: {k: v for k, v in m.items() if k != META}, "no case.json member"),
    (lambda m: dict(m, **{"value_0.npy": npy(np.array([0.5, -1.0, 2.0, 0.25], dtype=object))}),
     "value_0.npy: expected <f4 (float32) values of shape (4,), found |O (object) of shape (4,)"),
    (lambda m: dict(m, **{"value_0.npy": npy(np.array([0.5, -1.0, 2.0, 0.25]))}),
     "value_0.npy: expected <f4 (float32) values of shape (4,), found <f8 (float64) of shape (4,)"),
    (lambda m: dict(m, **{"value_0.npy": npy(np.array([1, 2, 3, 4], dtype=np.int32))}),
     "found <i4 (int32) of shape (4,)"),
    (lambda m: dict(m, **{"value_0.npy": npy(np.array([0.5, -1.0, 2.0, 0.25], dtype=">f4"))}),
     "found >f4 (float32) of shape (4,)"),
    (lambda m: dict(m, **{"grads_0.npy": npy(np.zeros((3, 4), dtype=np.float32))}),
     "grads_0.npy: expected <f4 (float32) values of shape (2, 4), found <f4 (float32) of shape (3, 4)"),
    (lambda m: dict(m, **{"grads_0.npy": npy(np.zeros(8, dtype=np.float32))}), "found <f4 (float32) of shape (8,)"),
    (lambda m: dict(m, **{"value_1.npy": b"not an array"}), "value_1.npy: not a usable .npy array"),
    (lambda m: dict(m, **{"value_1.npy": m["value_1.npy"] + b"\0" * 4}), "value_1.npy: 136 bytes uncompressed, where"),
    (lambda m: dict(m, **{"value_1.npy": m["value_1.npy"][:-2]}), "value_1.npy: 130 bytes uncompressed, where"),
    (lambda m: dict(m, **{"grads_1.npy": npy(np.array([[1.0], [0.5]], dtype=np.float32))}),
     "grads[1][1]: missing (listed in 'missing'), yet row 1 of grads_1.npy is not all zeros"),
    (lambda m: with_meta(m, steps=0), "steps: expected a positive integer (the number of steps), got 0"),
    (lambda m: with_meta(m, steps=True), "steps: expected a positive integer"),
    (lambda m: with_meta(m, steps=10**12), "5 elements x 1000000000000 steps = 5000000000000 element-steps, over"),
    (lambda m: with_meta(m, missing=[[2, 0]]), "missing[0]: expected [step, parameter] with step in [0, 2)"),
    (lambda m: with_meta(m, missing=[[1, 1], [1, 1]]), "missing[1]: [1, 1] is listed twice"),
    (lambda m: with_meta(m, missing={"1": 1}), "missing: expected a list of [step, parameter] index pairs"),
    (lambda m: with_meta(m, grads=[]), "case: unknown key(s) ['grads']"),
    (lambda m: with_meta(m, params=[{"name": "w", "shape": [2, 2], "value": []}, {"name": "b", "shape": []}]),
     "params[0]: expected exactly the keys name, shape"),
    (lambda m: dict(m, **{META: b"[" * 100 + b"]" * 100}), "case.json: nested 100 levels deep"),
    (lambda m: dict(m, **{META: b"{not json"}), "case.json: not valid JSON"),
    (lambda m: dict(m, **{META: json.dumps(meta_of(m)).encode("utf-16")}), "case.json: not UTF-8 text"),
    (lambda m: dict(m, **{META: b"[]"}), "case: expected a JSON object"),
])
def test_a_bad_archive_is_one_line(tmp_path, tamper, message):
    path = write_members(tmp_path / "bad.npz", tamper(members_of(VALID, tmp_path)))
    assert message in error_of(path)


def test_nan_where_json_refuses_it_is_refused_with_the_same_message(tmp_path):
    members = members_of(VALID, tmp_path)
    value = np.array([0.5, np.nan, 2.0, 0.25], dtype=np.float32)
    path = write_members(tmp_path / "bad.npz", dict(members, **{"value_0.npy": npy(value)}))
    raw = json.loads(json.dumps(VALID))
    raw["params"][0]["value"][1] = float("nan")  # Python's json writes it as NaN
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    assert error_of(path) == error_of(tmp_path / "bad.json") == "params[0].value[1]: expected a finite number, got nan"
    # Gradients may be non-finite in both forms.
    grads = np.array([[np.inf, np.nan, -np.inf, 0.0], [0.0] * 4], dtype=np.float32)
    case = load_case(write_members(tmp_path / "ok.npz", dict(members, **{"grads_0.npy": npy(grads)})))
    assert np.array_equal(case.grads[0][0], grads[0], equal_nan=True)


def test_a_bfloat16_value_that_overflows_is_refused_as_in_json(tmp_path):
    raw = dict(VALID, dtype="bfloat16")
    members = members_of(raw, tmp_path)
    big = np.array([0.5, 3.4e38, 2.0, 0.25], dtype=np.float32)  # a float32, beyond bfloat16's largest
    path = write_members(tmp_path / "bad.npz", dict(members, **{"value_0.npy": npy(big)}))
    as_json = json.loads(json.dumps(raw))
    as_json["params"][0]["value"][1] = float(big[1])
    (tmp_path / "bad.json").write_text(json.dumps(as_json))
    assert error_of(path) == error_of(tmp_path / "bad.json") == \
        f"params[0].value[1]: {float(big[1])!r} overflows bfloat16"


# The metadata's fields are checked by case_from_dict itself: the JSON path's messages, word for word.
@pytest.mark.parametrize("mutate", [
    lambda c: c.update(schema="optim-parity/case/2"),
    lambda c: c.update(optimizer="sgd"),
    lambda c: c.update(dtype="int8"),
    lambda c: c.update(comment=3),
    lambda c: c["hyperparameters"].update(momentum=0.9),
    lambda c: c["hyperparameters"].update(amsgrad=1),
    lambda c: c["hyperparameters"].update(lr=[0.1, -0.1]),
    lambda c: c["hyperparameters"].update(loss_scale=0),
    lambda c: c["params"][1].update(name=""),
    lambda c: c["params"][1].update(name="w"),
    lambda c: c["params"][0].update(shape=[2, 0]),
    lambda c: c.update(param_groups=[{"params": ["nope"]}]),
    lambda c: c.update(param_groups=[{"params": ["w"], "weight_decay": -1.0}]),
    lambda c: c.update(param_groups=[{"params": ["w"]}]),
    lambda c: c.update(sparse_rows=[[[0], []]]),
    lambda c: c.update(sparse_rows=[[[0], []], [[5], []]]),
    lambda c: c.update(sparse_rows=[[[0, 1], [0]], [[0, 1], [0]]]),
], ids=lambda f: "")
def test_bad_metadata_gives_the_json_paths_message(tmp_path, mutate):
    raw = json.loads(json.dumps(VALID))
    raw["grads"][1][1] = [0.0]  # no missing gradient: sparse_rows may be given
    members = members_of(raw, tmp_path)  # the arrays of the valid case
    mutate(raw)
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    meta = {key: value for key, value in raw.items() if key != "grads"}
    meta["params"] = [{k: v for k, v in p.items() if k != "value"} for p in raw["params"]]
    meta["steps"] = 2
    path = write_members(tmp_path / "bad.npz", dict(members, **{META: json.dumps(meta).encode()}))
    assert error_of(path) == error_of(tmp_path / "bad.json")


def test_a_zip_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_PARITY_CASE_BUDGET", "10")  # VALID's size: case files up to about 1 MB
    members = members_of(VALID, tmp_path)
    # A member that declares 2 GiB uncompressed: refused before a byte of it is read.
    path = write_members(tmp_path / "bomb.npz", members)
    with zipfile.ZipFile(path) as archive:
        entry = archive.start_dir  # the central directory: one entry per member, in order
    data = bytearray(path.read_bytes())
    while True:
        assert data[entry:entry + 4] == b"PK\x01\x02"
        name_length, extra, comment = struct.unpack_from("<HHH", data, entry + 28)
        if data[entry + 46:entry + 46 + name_length] == b"grads_0.npy":
            struct.pack_into("<I", data, entry + 24, 2**31)  # its uncompressed size
            break
        entry += 46 + name_length + extra + comment
    path.write_bytes(bytes(data))
    assert "grads_0.npy: 2147483648 bytes uncompressed, more than <f4 (float32) values of shape (2, 4) take" \
        in error_of(path)
    # A real one: 4 MB of zeros deflated to 4 KB, in place of an 8-element float32 array.
    zeros = npy(np.zeros((2, 4), dtype=np.float32)) + b"\0" * (4 << 20)
    path = write_members(tmp_path / "deflated.npz", dict(members, **{"grads_0.npy": zeros}), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 64 << 10
    assert f"grads_0.npy: {len(zeros)} bytes uncompressed, more than" in error_of(path)
    # and the metadata: declared larger than any case file may be
    meta = zipfile.ZipInfo(META)
    with zipfile.ZipFile(tmp_path / "meta.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(meta, b" " * (2 << 20), zipfile.ZIP_DEFLATED)
    assert "case.json: 2097152 bytes uncompressed, over the limit of 1049216" in error_of(tmp_path / "meta.npz")


def test_cut_corrupted_and_foreign_files(tmp_path, monkeypatch):
    good = save_case(case_from_dict(VALID), tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    assert error_of(tmp_path / "cut.npz") == "not an .npz archive (a zip of .npy members)"
    (tmp_path / "text.npz").write_bytes(b"hello, world\n")
    assert error_of(tmp_path / "text.npz") == "not an .npz archive (a zip of .npy members)"
    (tmp_path / "empty.npz").write_bytes(b"")
    assert error_of(tmp_path / "empty.npz") == "not an .npz archive (a zip of .npy members)"
    flipped = bytearray(good)
    at = flipped.index(np.float32(0.5).tobytes())  # value_0.npy's first value
    flipped[at] ^= 0x01
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    assert "not a readable .npz archive (Bad CRC-32" in error_of(tmp_path / "flipped.npz")
    assert "cannot read" in error_of(tmp_path / "missing.npz")
    # The whole file under the case files' size limit, looked at before it is opened.
    monkeypatch.setenv("OPTIM_PARITY_CASE_BUDGET", "10")
    big = tmp_path / "big.npz"
    with big.open("wb") as f:
        f.truncate((64 * 10 + (1 << 20)) + 1)
    assert "over the limit of 1049216 for this kind of file" in error_of(big)


def test_a_member_listed_twice_is_refused(tmp_path):
    members = members_of(VALID, tmp_path)
    path = write_members(tmp_path / "twice.npz", members)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("value_0.npy", npy(np.zeros(4, dtype=np.float32)))
    assert error_of(path) == "a member name listed twice in the archive"


# --------------------------------------------------------------------------- the command line

@pytest.mark.parametrize("name", ["torch-lerp-float64.json", "mindspore-missing-gradient-is-zero.json"])
def test_replay_of_the_npz_prints_what_replay_of_the_json_prints(tmp_path, capsys, name):
    json_path = next(p for p in CASE_FILES if p.name == name)
    npz_path = save_case(load_case(json_path), tmp_path / "case.npz")
    outputs = []
    for path in (json_path, npz_path):
        capsys.readouterr()
        code = cli.main(["replay", str(path), "--impl", "reference", "torch"])
        outputs.append((code, capsys.readouterr().out.splitlines()))
    assert outputs[0] == outputs[1] and len(outputs[0][1]) == 3


def test_replay_of_a_bad_npz_is_one_line_and_exit_2(tmp_path, capsys):
    path = write_members(tmp_path / "bad.npz", dict(members_of(VALID, tmp_path), **{"x.npy": npy(np.zeros(1))}))
    capsys.readouterr()
    assert cli.main(["replay", str(path), "--impl", "reference"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"optim-parity: error: {path}: not the members its case.json makes: unexpected ['x.npy']"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=3),
       keep=st.floats(0, 1), tail=st.booleans())
def test_a_damaged_archive_is_one_line_or_the_same_case(tmp_path, edits, keep, tail):
    """Bytes changed (in the central directory at the end, when `tail`) or the file cut:
    a CaseError of one line, or (a byte no reader looks at) the very same case."""
    case = case_from_dict(VALID)
    data = bytearray(save_case(case, tmp_path / "good.npz").read_bytes())
    for where, byte in edits:
        data[len(data) - 1 - int(where * 200) if tail else int(where * len(data))] = byte
    (tmp_path / "damaged.npz").write_bytes(bytes(data[:max(1, round(keep * len(data)))] if keep < 0.5 else data))
    try:
        again = load_case(tmp_path / "damaged.npz")
    except CaseError as exc:
        assert "\n" not in str(exc)
    else:
        assert_same(again, case)
