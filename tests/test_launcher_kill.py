"""Killed jobs through the preloaded server (qbslt.launcher): a killed job fails as killed, runs once,
and leaves no worker behind, with real signals sent to real processes.

The server here preloads nothing, and the command its workers run is a stand-in (``STAND_IN``) that
appends its pid to a file, then sleeps: a server starts in a fraction of a second, and a job can be
killed while it runs. The client runs the same stand-in if it ever runs the command itself, so a
command run a second time shows as a second line.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qbslt import launcher

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads processes from /proc (Linux)")

STAND_IN = """
import os, subprocess, sys, time, types
from pathlib import Path
from qbslt import launcher

def command(argv):
    starts, seconds, *spawn = argv
    with open(starts, "a") as log:
        log.write(f"{os.getpid()}\\n")
    if spawn:  # a process of the command's own, as a data loader's workers are
        helper = subprocess.Popen(["sleep", seconds])
        Path(spawn[0]).write_text(str(helper.pid))
    time.sleep(float(seconds))
    return 0

cli = types.ModuleType("qbslt.cli")
cli.main = command
sys.modules["qbslt.cli"] = cli  # what the server's workers and the client's _direct run
launcher.PRELOAD = ()  # starts at once; another server key, so never a real server's socket
launcher._start_server = launcher._connect  # never start a real server: only the one the test started
if sys.argv[1:] == ["--serve-here"]:
    path = launcher.socket_path(launcher.server_key())
    launcher.private_folder(path.parent)
    launcher.serve(path)
else:
    sys.exit(launcher.main(sys.argv[1:]))
"""
JOB_SECONDS = "30"  # far longer than any test: a job ends only when killed


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _alive(pid)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def stand_in(tmp_path):
    """A stand-in server in an XDG_RUNTIME_DIR of this test; yields (server, script, environment)."""
    runtime = Path(tempfile.mkdtemp(prefix="qbslt-kill-", dir="/tmp"))  # short: the socket path must fit
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    skip = (*launcher.BATCH_JOB_VARIABLES, "QBSLT_LAUNCHER", "LOCAL_RANK")
    env = {**{k: v for k, v in os.environ.items() if k not in skip}, "XDG_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen([sys.executable, str(script), "--serve-here"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert "serving" in server.stdout.readline(), "the stand-in server did not start"
        yield server, script, env
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait()
        server.stdout.close()
        shutil.rmtree(runtime, ignore_errors=True)


@contextlib.contextmanager
def job(stand_in, tmp_path, *extra):
    """A client whose command runs in a worker of the server; yields (client, worker pid, starts file)."""
    server, script, env = stand_in
    starts = tmp_path / "starts"
    client = subprocess.Popen([sys.executable, str(script), str(starts), JOB_SECONDS, *extra], env=env, cwd=tmp_path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (starts.exists() and starts.read_text().endswith("\n")):
            assert client.poll() is None and time.monotonic() < deadline, "the command never started"
            time.sleep(0.02)
        worker = int(starts.read_text().split()[0])
        assert _children(server.pid) == [worker]  # the server's child runs it, not the client
        yield client, worker, starts
    finally:
        with contextlib.suppress(ProcessLookupError):
            client.kill()  # a client still running here failed its test: it may be running the command itself
        client.communicate()
        for pid in map(int, starts.read_text().split() if starts.exists() else []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def finish(client) -> tuple[int | None, str]:
    """The client's exit status (None: still running after 10 s) and its stderr."""
    try:
        _, err = client.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        return None, ""
    return client.returncode, err


def test_a_sigkilled_job_dies_of_sigkill_and_never_runs_again(stand_in, tmp_path):
    """The OOM killer's case: the client ran the command again in itself, and the job succeeded."""
    with job(stand_in, tmp_path) as (client, worker, starts):
        os.kill(worker, signal.SIGKILL)
        returncode, err = finish(client)
        assert starts.read_text().split() == [str(worker)], "the command ran a second time"
        assert returncode == -signal.SIGKILL, err  # as the command itself, killed so, would end (137 in a shell)
        assert err == ""


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_server_takes_its_worker_with_it_and_the_job_fails(stand_in, tmp_path, signum):
    server = stand_in[0]
    with job(stand_in, tmp_path) as (client, worker, starts):
        server.send_signal(signum)
        server.wait(timeout=10)
        assert _gone_within(worker, 3), "the worker outlived its server"
        returncode, err = finish(client)
        assert returncode == 1, (returncode, err)  # failed, not hanging and not run again in the client
        assert err.splitlines() == [f"qbslt launcher: the preloaded server stopped while running pid {worker}"]
        assert starts.read_text().split() == [str(worker)]


def test_a_stopped_server_kills_what_its_workers_started(stand_in, tmp_path):
    server = stand_in[0]
    helper_file = tmp_path / "helper"
    with job(stand_in, tmp_path, str(helper_file)) as (client, worker, starts):
        deadline = time.monotonic() + 10
        while not helper_file.exists() or not helper_file.read_text():
            assert time.monotonic() < deadline, "the command started no helper"
            time.sleep(0.02)
        helper = int(helper_file.read_text())
        try:
            server.terminate()
            server.wait(timeout=10)
            assert _gone_within(worker, 3) and _gone_within(helper, 3), "the job's processes outlived the server"
            assert finish(client)[0] == 1
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(helper, signal.SIGKILL)


def test_sigterm_to_the_client_ends_the_job_with_sigterm(stand_in, tmp_path):
    with job(stand_in, tmp_path) as (client, worker, starts):
        client.send_signal(signal.SIGTERM)
        returncode, err = finish(client)
        assert returncode == -signal.SIGTERM, (returncode, err)
        assert _gone_within(worker, 3)
        assert starts.read_text().split() == [str(worker)]


EXIT_LIKE = "import sys; from qbslt.launcher import _exit_like; sys.exit(_exit_like(int(sys.argv[1])))"


@pytest.mark.parametrize("signum, blocked, expected", [
    (signal.SIGKILL, False, -signal.SIGKILL),
    (signal.SIGTERM, False, -signal.SIGTERM),
    (signal.SIGTERM, True, -signal.SIGTERM),  # blocked by whoever started the client: unblocked, then raised
    (signal.SIGHUP, False, -signal.SIGHUP),
    (signal.SIGCHLD, False, 128 + signal.SIGCHLD),  # ignored by default: the shell's code instead
], ids=["SIGKILL", "SIGTERM", "SIGTERM-blocked", "SIGHUP", "SIGCHLD"])
def test_the_client_ends_as_its_child_did(signum, blocked, expected):
    block = (lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signum])) if blocked else None
    result = subprocess.run([sys.executable, "-c", EXIT_LIKE, str(-signum)], preexec_fn=block,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (expected, "")
