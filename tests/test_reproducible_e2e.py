"""End-to-end: the `.test/` DAG gives the same bytes on a machine with another vector unit.

This machine emulates an AVX2-only x86-64 machine (MKL, oneDNN and ATen capped at AVX2); the run
from data to a trained stage-2 model must give byte-identical features, weights, predictions and
metrics there and here (qbslt.numerics pins the kernels). The kernel-level control that the
emulation changes bytes without the pins is tests/test_reruns.py.
"""

import json
import os
import subprocess
import sys

import pytest

from test_reruns import AVX2_MACHINE
from test_workflow import fresh_checkout, tiny_params, write_params

pytestmark = pytest.mark.e2e

TARGET = "results/embedded/metrics/phoenix/ssl_ssaw/seed0.json"
TIMING_KEYS = {"train_seconds", "samples_per_second"}
COMPARED = ["results/embedded/predictions/phoenix/ssl_ssaw/seed0.tsv", "results/embedded/ssaw/phoenix/ssl_ssaw/seed0.json",
            "models/embedded/phoenix/ssl_ssaw/seed0/model.safetensors"]


def _run_target(tmp_path, name: str, env: dict) -> dict[str, bytes]:
    work = fresh_checkout(tmp_path / name)
    write_params(work, tiny_params())
    clean = {k: v for k, v in os.environ.items() if k not in AVX2_MACHINE}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", TARGET], cwd=work,
                            env={**clean, **env}, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    files = {path: (work / path).read_bytes() for path in COMPARED}
    files |= {str(p.relative_to(work)): p.read_bytes() for p in sorted((work / "data").rglob("features/**/*.npy"))}
    files |= {str(p.relative_to(work)): p.read_bytes() for p in sorted((work / "models").rglob("stage1/**/*.safetensors"))}
    metrics = json.loads((work / TARGET).read_text())
    files[TARGET] = json.dumps({k: v for k, v in metrics.items() if k not in TIMING_KEYS}, sort_keys=True).encode()
    return files


def test_the_test_dag_gives_the_same_bytes_on_an_emulated_avx2_machine(tmp_path):
    here = _run_target(tmp_path, "here", {})
    there = _run_target(tmp_path, "avx2", AVX2_MACHINE)
    assert any("features" in name for name in here) and any("stage1" in name for name in here)
    assert sorted(here) == sorted(there)
    differing = [name for name in here if here[name] != there[name]]
    assert not differing, differing
