"""A non-editable install carries every file the package reads: validation works from any folder."""

import shutil
import subprocess
import sys

from conftest import REPO


def test_non_editable_install_validates_params_outside_the_repository(tmp_path):
    source = tmp_path / "source"  # pip builds in the source tree: build a copy, not the checkout
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "params.yaml").write_text((REPO / "params.yaml").read_text())
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    where = subprocess.run([sys.executable, "-c", "import qbslt, qbslt.reports.layout as t; print(qbslt.__file__);"
                            "print(t.DEFAULT_LAYOUT.is_file(), t.DEFAULT_PAPER.is_file())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(target) in where and "True True" in where  # the installed copy, with its data files
    ok = subprocess.run([sys.executable, "-m", "qbslt", "validate-params", "--params", "params.yaml"],
                        cwd=elsewhere, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (elsewhere / "bad.yaml").write_text((REPO / "params.yaml").read_text().replace("frame_size:", "frame_sise:", 1))
    bad = subprocess.run([sys.executable, "-m", "qbslt", "validate-params", "--params", "bad.yaml"],
                         cwd=elsewhere, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown key 'data.frame_sise'" in bad.stderr
