"""`python -m qbslt` through the preloaded server (qbslt.launcher): same results as in-process."""

import contextlib
import os
import re
import socket
import stat
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from qbslt import launcher

REPO = Path(__file__).resolve().parents[1]


def server_pids(runtime_dir) -> list[int]:
    return [int(pid) for log in sorted((runtime_dir / "qbslt").glob("*.log"))
            for pid in re.findall(r"pid (\d+) serving", log.read_text())]


@contextlib.contextmanager
def servers_of_this_test():
    """An XDG_RUNTIME_DIR of this test only (short-named, so the socket path fits); its servers stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="qbslt-test-", dir="/tmp"))
    try:
        yield folder
    finally:
        for pid in server_pids(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def runtime_dir():
    with servers_of_this_test() as folder:
        yield folder


@pytest.fixture(scope="module")
def shared_runtime_dir():
    """One server for the signal tests (a server start imports torch: seconds of CPU)."""
    with servers_of_this_test() as folder:
        yield folder


def environment(runtime_dir, **env) -> dict[str, str]:
    plain = {k: v for k, v in os.environ.items() if k not in launcher.BATCH_JOB_VARIABLES}
    return {**plain, "XDG_RUNTIME_DIR": str(runtime_dir), **env}


def qbslt(args, runtime_dir, cwd, **env):
    return subprocess.run([sys.executable, "-m", "qbslt", *args], cwd=cwd, env=environment(runtime_dir, **env),
                          capture_output=True, text=True, timeout=600)


def servers(runtime_dir) -> list[str]:
    return [line for log in sorted((runtime_dir / "qbslt").glob("*.log")) for line in log.read_text().splitlines()
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
    assert len(servers(runtime_dir)) == 2 and len(list((runtime_dir / "qbslt").glob("*.sock"))) == 2
    # The socket, its folder, lock and log: this user's only.
    assert stat.S_IMODE((runtime_dir / "qbslt").stat().st_mode) == 0o700
    for path in (runtime_dir / "qbslt").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_an_idle_server_goes_away_and_a_new_one_starts(runtime_dir, tmp_path):
    env = {"QBSLT_LAUNCHER_IDLE_SECONDS": "0.5"}
    assert qbslt(["--help"], runtime_dir, tmp_path, **env).returncode == 0
    deadline = time.monotonic() + 60
    while list((runtime_dir / "qbslt").glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list((runtime_dir / "qbslt").glob("*.sock")), "the idle server did not stop"
    assert qbslt(["--help"], runtime_dir, tmp_path, **env).returncode == 0
    assert len(servers(runtime_dir)) == 2


def test_socket_path_stays_short(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/tmp/" + "x" * 120)
    path = launcher.socket_path("k" * 20)
    assert len(str(path)) <= launcher.MAX_SOCKET_PATH and path.name == f"{'k' * 20}.sock"
    assert path.parent.name == f"qbslt-{os.getuid()}"  # the per-user folder in the temporary folder


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


# ------------------------------------------------------------------------------------------- trust model
@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A listening socket at the path the client would use, planted by a process that is not the server;
    returns what it received. The command itself (``_direct``) is recorded, not run."""
    runtime = Path(tempfile.mkdtemp(prefix="qbslt-test-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for name in launcher.BATCH_JOB_VARIABLES + ("QBSLT_LAUNCHER", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    path = launcher.socket_path(launcher.server_key())
    path.parent.mkdir(mode=0o700)
    trap = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    trap.bind(str(path))
    trap.listen(8)
    trap.settimeout(0.2)
    received, stop = [], threading.Event()

    def listen():
        while not stop.is_set():
            try:
                conn, _ = trap.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    received.append(conn.recv(1 << 16))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ran = []
    monkeypatch.setattr(launcher, "_direct", lambda argv: ran.append(argv) or 7)
    started = []
    monkeypatch.setattr(launcher.subprocess, "Popen", lambda *a, **k: started.append(a))
    yield path, received, ran, started
    stop.set()
    thread.join()
    trap.close()
    shutil.rmtree(runtime, ignore_errors=True)


def test_a_socket_of_another_user_is_never_sent_a_request(planted, monkeypatch, capsys):
    path, received, ran, started = planted
    monkeypatch.setattr(launcher, "peer_uid", lambda sock: os.getuid() + 1)  # the kernel names another user
    assert launcher.main(["validate-params"]) == 7 and ran == [["validate-params"]] and not started
    time.sleep(0.3)
    assert received in ([], [b""]), received  # connected at most: no request, no environment, no descriptors
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not by this user" in err[0] and "running directly" in err[0]


@pytest.mark.parametrize("make_unsafe, reason", [
    (lambda folder: folder.chmod(0o777), "has mode 777"),
    (lambda folder: folder.chmod(0o750), "has mode 750"),
    (lambda folder: os.chown(folder, 65534, -1), "belongs to uid 65534"),
    ("symlink", "is a symlink"),
])
def test_an_unsafe_folder_is_refused_and_the_command_runs_directly(planted, capsys, make_unsafe, reason):
    path, received, ran, started = planted
    if make_unsafe == "symlink":  # the folder swapped for a link to a folder (of ours, even) with the socket
        real = path.parent.with_name(path.parent.name + "-real")
        path.parent.rename(real)
        path.parent.symlink_to(real)
    elif os.geteuid() != 0 and "uid" in reason:
        pytest.skip("giving a folder away needs root")
    else:
        make_unsafe(path.parent)
    assert launcher.main(["validate-params"]) == 7 and ran == [["validate-params"]] and not started
    time.sleep(0.3)
    assert received == []  # not even connected
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0] and "running directly" in err[0], err


def test_lock_and_log_are_never_opened_through_a_symlink(tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep\n")
    (tmp_path / "x.lock").symlink_to(target)
    with pytest.raises(OSError):
        launcher._open_private(tmp_path / "x.lock", os.O_RDWR)
    assert target.read_text() == "keep\n"


def test_a_batch_job_runs_directly_and_starts_no_server(runtime_dir, tmp_path):
    for variable in launcher.BATCH_JOB_VARIABLES:
        result = qbslt(["--help"], runtime_dir, tmp_path, **{variable: "1234"})
        assert result.returncode == 0 and "validate-params" in result.stdout and not result.stderr
    assert not (runtime_dir / "qbslt").exists()  # no socket, lock, log or server


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _job_waiting_on_stdin(runtime_dir, tmp_path):
    """A client whose command blocks reading its stdin (a pipe we keep open); returns (client, child pid)."""
    client = subprocess.Popen([sys.executable, "-m", "qbslt", "validate-params", "--params", "/dev/stdin"],
                              cwd=tmp_path, env=environment(runtime_dir), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        children = [c for pid in server_pids(runtime_dir) if _alive(pid) for c in _children(pid)]
        if children:
            assert len(children) == 1
            time.sleep(0.5)  # the child reached its read of stdin
            return client, children[0]
        assert client.poll() is None, client.communicate()
        time.sleep(0.1)
    raise AssertionError("the server started no child")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc (Linux)")
def test_sigterm_to_the_client_stops_the_child_with_the_same_exit(shared_runtime_dir, tmp_path):
    client, child = _job_waiting_on_stdin(shared_runtime_dir, tmp_path)
    client.send_signal(signal.SIGTERM)
    client.wait(timeout=30)
    assert client.returncode == -signal.SIGTERM  # what the command itself, killed so, would give
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    client.stdin.close()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc (Linux)")
def test_a_killed_client_takes_its_child_with_it(shared_runtime_dir, tmp_path):
    client, child = _job_waiting_on_stdin(shared_runtime_dir, tmp_path)
    client.kill()
    client.wait(timeout=30)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived its killed client"
    client.stdin.close()
