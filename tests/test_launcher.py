"""`python -m qbslt` through the preloaded server (qbslt.launcher): same results as in-process."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qbslt import launcher

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runtime_dir():
    """Servers of this test only (their sockets and logs in a short-named folder); stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="qbslt-test-", dir="/tmp"))
    yield folder
    for log in folder.glob("*.log"):
        for pid in re.findall(r"pid (\d+) serving", log.read_text()):
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    shutil.rmtree(folder, ignore_errors=True)


def qbslt(args, runtime_dir, cwd, **env):
    environment = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir), **env}
    return subprocess.run([sys.executable, "-m", "qbslt", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600)


def servers(runtime_dir) -> list[str]:
    return [line for log in sorted(runtime_dir.glob("*.log")) for line in log.read_text().splitlines()
            if "serving" in line]


def test_server_gives_what_the_process_itself_gives(runtime_dir, tmp_path):
    good, bad = tmp_path / "params.yaml", tmp_path / "bad.yaml"
    good.write_text((REPO / "params.yaml").read_text())
    bad.write_text((REPO / "params.yaml").read_text().replace("num_beams: 4", "num_beams: four", 1))
    for args in (["validate-params", "--params", "params.yaml"], ["validate-params", "--params", "bad.yaml"],
                 ["validate-params", "--params", "missing.yaml"], ["--help"], ["no-such-command"]):
        served = qbslt(args, runtime_dir, tmp_path)
        direct = qbslt(args, runtime_dir, tmp_path, QBSLT_LAUNCHER="direct")
        assert (served.returncode, served.stdout, served.stderr) == (direct.returncode, direct.stdout, direct.stderr)
    assert qbslt(["validate-params", "--params", "bad.yaml"], runtime_dir, tmp_path).returncode == 2
    assert "eval.num_beams" in qbslt(["validate-params", "--params", "bad.yaml"], runtime_dir, tmp_path).stderr
    # One server answered all of them; another import-time environment gets its own.
    assert len(servers(runtime_dir)) == 1
    assert qbslt(["--help"], runtime_dir, tmp_path, QBSLT_TEST_MARK="1").returncode == 0
    assert len(servers(runtime_dir)) == 2 and len(list(runtime_dir.glob("*.sock"))) == 2


def test_an_idle_server_goes_away_and_a_new_one_starts(runtime_dir, tmp_path):
    env = {"QBSLT_LAUNCHER_IDLE_SECONDS": "0.5"}
    assert qbslt(["--help"], runtime_dir, tmp_path, **env).returncode == 0
    deadline = time.monotonic() + 60
    while list(runtime_dir.glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(runtime_dir.glob("*.sock")), "the idle server did not stop"
    assert qbslt(["--help"], runtime_dir, tmp_path, **env).returncode == 0
    assert len(servers(runtime_dir)) == 2


def test_socket_path_stays_short(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/tmp/" + "x" * 120)
    path = launcher.socket_path("k" * 20)
    assert len(str(path)) <= launcher.MAX_SOCKET_PATH and path.name == f"qbslt-{os.getuid()}-{'k' * 20}.sock"


def test_edited_source_means_another_server(tmp_path, monkeypatch):
    package = tmp_path / "qbslt"
    package.mkdir()
    (package / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(launcher, "_package_dir", lambda: package)
    env = {"PATH": "/bin"}
    before = launcher.server_key(env)
    assert launcher.server_key(env) == before
    assert launcher.server_key({**env, "PYTHONPATH": "/elsewhere"}) != before
    assert launcher.server_key({**env, "HOME": "/elsewhere"}) == before  # read at run time, not import
    (package / "module.py").write_text("x = 22\n")
    assert launcher.server_key(env) != before
