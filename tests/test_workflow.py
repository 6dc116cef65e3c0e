"""End-to-end: the Snakemake DAG on a tiny configuration, in a temporary working directory."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.e2e


def tiny_params(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    synthetic = params["data"]["synthetic"]
    for dataset in ("phoenix", "csl"):
        synthetic[dataset].update(train=8, dev=4, test=4)
    params["data"]["frame_size"] = [16, 16]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    return params


def snakemake(tmp_path, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--cores", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def test_prepare_end_to_end(tmp_path):
    tiny_params(tmp_path)
    snakemake(tmp_path, "prepare")
    for dataset in ("phoenix", "csl"):
        report = json.loads((tmp_path / "results" / "data" / dataset / "report.json").read_text())
        for split, size in (("train", 8), ("dev", 4), ("test", 4)):
            entry = report["splits"][split]
            assert entry["kept"] == size, (dataset, split, entry)
            assert entry["dropped"] > 0  # injected defects are found and reported
            assert (tmp_path / "data" / "embedded" / "examples" / dataset / f"{split}.tsv").exists()
        assert (tmp_path / "results" / "data" / dataset / "report.md").read_text().startswith("# Data report")
    # Nothing left to do on a second run.
    assert "Nothing to be done" in snakemake(tmp_path, "prepare", "-n").stdout


def test_typo_in_params_fails_with_key_name(tmp_path):
    params = tiny_params(tmp_path)
    params["data"]["frame_sise"] = [16, 16]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    result = snakemake(tmp_path, "prepare", "-n", check=False)
    assert result.returncode != 0
    assert "unknown key 'data.frame_sise'" in result.stdout + result.stderr


def test_lint_has_no_errors():
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(REPO),
                             "--lint"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
