"""benchmarks/gpu_levers.py in its --tiny CPU mode: every row once, each measured (or failed with a
one-line error), one JSON line per row, written and flushed as the row completes."""

import importlib.util
import json
import math
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_levers.py"
FAILING_ROW = "frozen_early_stages"  # a row in the middle: rows before and after it must still be there


def load_script():
    spec = importlib.util.spec_from_file_location("benchmark_gpu_levers_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_each_row_once_as_it_completes(tmp_path, monkeypatch):
    levers = load_script()
    names = list(levers.ROWS)
    assert FAILING_ROW in names[1:-1]
    out = tmp_path / "rows.jsonl"
    seen_while_failing_row_ran = []

    def broken_row(setting):
        # While this row runs, the rows before it must already be complete lines in the file.
        seen_while_failing_row_ran.extend(json.loads(line)["row"] for line in out.read_text().splitlines())
        raise RuntimeError("injected failure\non two lines")

    monkeypatch.setitem(levers.ROWS, FAILING_ROW, broken_row)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        returned = levers.main(["--tiny", "--device", "cpu", "--threads", "1", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
        torch._dynamo.reset()  # the compiled row's caches
    assert torch.are_deterministic_algorithms_enabled() == deterministic  # the rows restore the global setting

    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]  # every line a JSON object
    assert [r["row"] for r in rows] == names  # every row exactly once, in run order
    assert [r["row"] for r in returned] == names
    assert seen_while_failing_row_ran == names[:names.index(FAILING_ROW)]

    by_name = {r["row"]: r for r in rows}
    assert by_name[FAILING_ROW]["error"] == "RuntimeError: injected failure on two lines"
    for row in rows:
        assert row["tiny"] is True and row["device"].startswith("CPU")
        if row["row"] == FAILING_ROW:
            continue
        assert "error" not in row, row  # on a CPU in tiny mode every other row measures
        for key in ("s_per_step", "s_per_video", "frames_per_s"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["row"], key)
        if row["row"] == "nvjpeg_per_batch":  # JPEG decoding: no FLOPs to count
            assert row["flops_per_step"] is None and row["bytes_per_frame"] > 0
        else:
            assert isinstance(row["flops_per_step"], int) and row["flops_per_step"] > 0, row["row"]
            assert math.isfinite(row["tflops_per_s"]) and row["mfu"] > 0
        assert row["peak_gib"] is None  # no CUDA

    fit = by_name["fit_step"]
    assert fit["speedup"] == 1.0 and fit["optimizer"] == "sgd"  # the paper profile's optimizer, from params
    plan = fit["plan_gpu_hours"]
    assert plan is None or fit["projected_matrix_gpu_hours"] == plan
    for name in ("baseline_step", "deterministic_off", "channels_last", "cached_features_b8", "shufflenet", "compiled"):
        row = by_name[name]
        assert row["speedup_against"] == "fit_step"
        assert math.isclose(row["speedup"], fit["s_per_video"] / row["s_per_video"])
        if plan is not None:
            assert math.isclose(row["projected_matrix_gpu_hours"], plan / row["speedup"])
    assert by_name["baseline_step"]["optimizer"] == "adamw"
    assert by_name["cached_features_b64"]["videos_per_step"] == 64
    assert by_name["compiled"]["compile_s"] > 0 and by_name["compiled"]["compile_backend"] == "eager"
    assert by_name["decode_bf16_b64"]["speedup_against"] == "decode_fp32_b8"
    assert by_name["decode_bf16_b64"]["videos_per_step"] == 64 and by_name["decode_fp32_b8"]["videos_per_step"] == 8
    assert by_name["decode_fp32_b8"]["projected_matrix_gpu_hours"] is None


def test_plan_gpu_hours_read_from_the_measurements(tmp_path):
    levers = load_script()
    hours, source = levers.plan_gpu_hours_from(SCRIPT.parents[1] / "docs" / "measurements.yaml")
    assert hours is not None and hours > 0, source
    missing, why = levers.plan_gpu_hours_from(tmp_path / "none.yaml")
    assert missing is None and "none.yaml" in why
