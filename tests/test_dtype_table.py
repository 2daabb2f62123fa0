"""harness/dtype_table.py: per (implementation, dtype) lines from a results document."""

from harness.dtype_table import format_table, implementation_dtype_table


def _result(name, status, ratio=0.0, relative_error=None, divergence=()):
    worst = None if relative_error is None else {"relative_error": relative_error}
    return {"implementation": name, "status": status, "worst_ratio": ratio, "worst": worst,
            "divergence": list(divergence)}


def _document(*cases):
    return {"cases": [{"dtype": dtype, "implementations": [_result("reference", "pass")] + list(results)}
                      for dtype, results in cases]}


def test_lines_count_statuses_and_keep_the_worst_figures():
    document = _document(
        ("float32", [_result("torch", "pass", 0.25), _result("mindspore", "known", 3.0, 1e-5, ["entry-a"])]),
        ("float32", [_result("torch", "pass", 0.75), _result("mindspore", "known", 9.0, 2e-3, ["entry-b"])]),
        ("float16", [_result("torch", "violation", "inf", "nan"), _result("mindspore", "unsupported", 0.0)]),
    )
    table = {(line["implementation"], line["dtype"]): line for line in implementation_dtype_table(document)}
    assert list(table) == [("torch", "float32"), ("torch", "float16"), ("mindspore", "float32"),
                           ("mindspore", "float16")]
    assert table["torch", "float32"]["statuses"] == {"pass": 2}
    assert table["torch", "float32"]["worst_pass_ratio"] == 0.75
    assert table["torch", "float32"]["verdict_class"] == "consistent"
    assert table["mindspore", "float32"]["worst_violation_relative_error"] == 2e-3
    assert table["mindspore", "float32"]["entries"] == ["entry-a", "entry-b"]
    assert table["mindspore", "float32"]["verdict_class"] == "known"
    # A NaN error is the worst there is; the results file writes it as a string.
    assert str(table["torch", "float16"]["worst_violation_relative_error"]) == "nan"
    assert table["torch", "float16"]["verdict_class"] == "divergent"
    assert table["mindspore", "float16"]["verdict_class"] == "unsupported"
    assert table["mindspore", "float16"]["worst_pass_ratio"] is None


def test_markdown_has_one_line_per_implementation_and_dtype():
    document = _document(("float64", [_result("torch", "pass", 0.5)]), ("bfloat16", [_result("torch", "pass")]))
    text = format_table(implementation_dtype_table(document))
    assert text.count("\n| torch |") == 2
    assert "| torch | float64 | 1 | pass 1 | 0.5 | - | - |" in text
