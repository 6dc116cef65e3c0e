"""Run ``qbslt`` commands without paying Python's import of torch and transformers once per job.

Every job of the DAG is a fresh ``python -m qbslt ...`` process, and importing torch, torchvision
and transformers costs it about 9 CPU-seconds on a small CPU: a fifth of a stage-2 job of the
embedded default. ``python -m qbslt ARGS`` (``__main__``) therefore runs through this launcher:
same arguments, output, exit code and signals as running ``qbslt.cli.main`` in the process, but a
*preloaded server* runs the command in a fork of itself, which has those modules imported already:

* the server (``serve``) imports ``PRELOAD`` once, listens on a Unix socket, and forks one child
  per request; the child takes the client's stdin/stdout/stderr (passed as file descriptors),
  working directory, environment and arguments, runs ``qbslt.cli.main`` and exits with its code;
* the client (this module's ``main``) starts the server when none answers, sends the request,
  forwards SIGINT/SIGTERM/SIGHUP/SIGUSR1 to the child (``FORWARDED``), and exits with the child's
  exit code (a training run asked to stop by SIGTERM or SIGUSR1 saves its state and exits 75: so
  does the client); a child killed
  by signal N kills the client with N too (SIGKILL included: an OOM-killed job dies of SIGKILL, as
  it would have run directly), else the client exits 128+N; if the client dies, the server kills
  the child and what it started (its process group), so killing a job kills its work;
* a job runs at most once: the child starts the command only after the server has sent its pid to
  the client, and a client that got a pid never runs the command itself; it runs it directly only
  when no server took the request (none answers, or the folder is unsafe). A client whose server
  went away while the child ran fails with one line on stderr (``ServerLost``): the job's outcome
  is unknown, so the job fails rather than run again;
* a child dies with its server: on Linux the kernel kills it when the server dies, however the
  server died (``PR_SET_PDEATHSIG``), and a server stopped by SIGTERM, SIGHUP or SIGINT kills its
  children's process groups before it exits, so no orphaned job goes on writing outputs that a
  rerun writes too;
* one server serves one source tree: the socket's name is a hash of the interpreter, the package's
  files (path, size, mtime), ``PRELOAD`` and the environment variables read at import time, so an
  edited source or another checkout gets a fresh server, never stale code;
* the server forks only from its single thread and never touches torch itself (no CUDA context,
  no thread pools), and exits after ``IDLE_SECONDS`` without work.

Trust: the request carries the client's environment and runs code as the server's user, so only
that user may be on either end. The socket, its lock and its log live in a private folder
(``$XDG_RUNTIME_DIR/qbslt/``, else ``<tmp>/qbslt-<uid>/``), made 0700 by us and refused (the command
then runs directly, with one line on stderr saying why) when it is a symlink, another user's, or
open to group or others; the socket is bound under a 0077 umask; and each side reads the other's
uid from the kernel (``SO_PEERCRED``) before it reads or sends a request.

``QBSLT_LAUNCHER=direct``, a batch scheduler's job (SLURM, PBS, LSF: a server would outlive the
job's allocation and serve later jobs inside it), torchrun's worker processes and platforms
without ``fork``, Unix sockets or ``SO_PEERCRED`` run the command in the process itself, as does
the ``qbslt`` console script.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Modules every heavy command imports (torch, torchvision, transformers, sacrebleu, rouge-score).
# torch._dynamo: the optimisers import it lazily on their first step (1.3 CPU-s a training job).
PRELOAD = ("qbslt.cli", "qbslt.ssl_ssaw.run", "qbslt.training.features", "qbslt.training.tokenizer",
           "qbslt.eval.metrics", "torch._dynamo")
IDLE_SECONDS = float(os.environ.get("QBSLT_LAUNCHER_IDLE_SECONDS", 120))
START_TIMEOUT_SECONDS = 300.0
# Read by torch, transformers, huggingface_hub or Python at import time: part of the server's identity.
IMPORT_ENV_PREFIXES = ("PYTHON", "QBSLT_", "OMP_", "MKL_", "ATEN_", "ONEDNN_", "DNNL_", "OPENBLAS_", "CUDA_", "TORCH", "HF_",
                       "TRANSFORMERS_",
                       "LD_")
HEADER = 16  # bytes: the request's JSON length, zero-padded
# Signals the client passes on to the command's process (SIGUSR1: SLURM's "--signal" before the time limit).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
# Set inside a batch job: run there directly (the scheduler owns the job's processes and devices).
BATCH_JOB_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID")


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def server_key(env: dict[str, str] | None = None) -> str:
    """Identity of the server this interpreter, source tree and import-time environment need."""
    env = os.environ if env is None else env
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}\0{sys.version}\0{','.join(PRELOAD)}\0".encode())
    for path in sorted(_package_dir().rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for name in sorted(k for k in env if k.startswith(IMPORT_ENV_PREFIXES)):
        digest.update(f"{name}={env[name]}\0".encode())
    return digest.hexdigest()[:20]


MAX_SOCKET_PATH = 96  # AF_UNIX paths hold 107 bytes; the server binds a ".<pid>" name first


class UnsafeFolder(OSError):
    """The launcher's folder cannot be trusted (or made): the command runs directly instead."""


def runtime_dirs() -> list[Path]:
    """Candidate private folders, best first: $XDG_RUNTIME_DIR/qbslt, then a per-user one in the temporary folder."""
    user = f"qbslt-{os.getuid()}"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return ([Path(xdg) / "qbslt"] if xdg else []) + [Path(tempfile.gettempdir()) / user, Path("/tmp") / user]


def socket_path(key: str) -> Path:
    """The server's socket in the first candidate folder whose path is short enough for AF_UNIX."""
    for folder in runtime_dirs():
        if len(os.fsencode(folder / f"{key}.sock")) <= MAX_SOCKET_PATH:
            return folder / f"{key}.sock"
    raise UnsafeFolder("no folder with a path short enough for a Unix socket (set QBSLT_LAUNCHER=direct)")


def private_folder(folder: Path) -> Path:
    """Make ``folder`` 0700 if it is missing; raise UnsafeFolder unless it is a real folder of this
    user that no one else can read, write or enter (mkdir, then lstat: no window for a swap)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise UnsafeFolder(f"{folder}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFolder(f"{folder} is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFolder(f"{folder} is not a folder")
    if info.st_uid != os.getuid():
        raise UnsafeFolder(f"{folder} belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})")
    if info.st_mode & 0o077:
        raise UnsafeFolder(f"{folder} has mode {stat.S_IMODE(info.st_mode):o}: group or others can reach it")
    return folder


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process on the other end of a connected Unix socket, from the kernel."""
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _open_private(path: Path, flags: int) -> int:
    """A lock or log file in the private folder: never through a symlink planted at its name."""
    return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


# ----------------------------------------------------------------------------------------------- server
def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if status >= 0 else 1


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _kill_me_with_parent() -> None:
    """In a forked child: have the kernel SIGKILL this process when the server dies (Linux
    ``PR_SET_PDEATHSIG``). Elsewhere a no-op: the server kills its children when it is stopped."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # the server's preloads imported it already

    with contextlib.suppress(OSError, AttributeError):  # no libc or no prctl: the server's own exit path only
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _become_worker(request: dict, fds: list[int], server_pid: int, go: int) -> None:
    """In the forked child: die with the server, wait until the client knows this pid, then run."""
    for signum in (*FORWARDED, signal.SIGCHLD):  # not the server's handlers
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError):  # a group of its own: the server kills what the command starts too
        os.setpgid(0, 0)
    _kill_me_with_parent()
    if os.getppid() != server_pid:  # the server died before prctl took effect
        os._exit(1)
    # The server writes a byte once the client has this pid; end of file: the server died first, and
    # the client, with no pid, may run the command elsewhere: this child must not run it too.
    if os.read(go, 1) != b"g":
        os._exit(1)
    os.close(go)
    _run_child(request, fds)


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the requested ``qbslt`` command, then exit with its code."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stream in (sys.stdout, sys.stderr):  # as a fresh process: line-buffered on a terminal
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=stream.isatty())
    code = 1
    try:
        os.chdir(request["cwd"])  # may be gone: a traceback on the job's stderr, like any error
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["qbslt", *request["argv"]]
        sys.path[0] = request["path0"]  # `python -m` puts the caller's working directory first
        from qbslt.cli import main

        code = main(request["argv"])
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - a traceback on the job's stderr, as a fresh process prints it
        import traceback

        traceback.print_exc()
    finally:
        import logging

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code or 0)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    conn.setblocking(True)
    header, fds, _, _ = socket.recv_fds(conn, HEADER, 3)
    if len(header) != HEADER or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("malformed request")
    size, data = int(header), b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("request cut short")
        data += chunk
    return json.loads(data), fds


def _kill_worker(pid: int) -> None:
    """SIGKILL a child and the processes it started (its process group, see _become_worker)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:  # not yet a group of its own
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _stop_serving(signum, frame):
    raise SystemExit(128 + signum)  # through serve's clean-up: its children die with it


def serve(path: Path) -> None:
    """Preload, listen on ``path``, fork a child per request; exit after IDLE_SECONDS without work.
    Stopped by a signal (or anything else), the server kills the children it still runs."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    private_folder(path.parent)
    server_pid = os.getpid()
    for signum in (signal.SIGTERM, signal.SIGHUP):  # SIGINT raises KeyboardInterrupt already
        signal.signal(signum, _stop_serving)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(path.name + f".{server_pid}")
    old_umask = os.umask(0o077)  # the socket file: this user only, from its first moment
    try:
        listener.bind(str(tmp))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    os.replace(tmp, path)  # clients see the socket only once it accepts
    bound_inode = os.stat(path).st_ino
    print(f"qbslt launcher: pid {server_pid} serving {path}", flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    idle_since = time.monotonic()
    try:
        while children or time.monotonic() - idle_since < IDLE_SECONDS:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    try:
                        if peer_uid(conn) != os.getuid():  # another user: read nothing, run nothing
                            raise ConnectionError("peer is another user")
                        request, fds = _receive(conn)
                    except (ConnectionError, ValueError, OSError):
                        conn.close()
                        continue
                    go_read, go_write = os.pipe()
                    pid = os.fork()
                    if pid == 0:
                        try:
                            os.close(go_write)
                            listener.close()
                            for other in children.values():
                                other.close()
                            conn.close()
                            _become_worker(request, fds, server_pid, go_read)
                        finally:  # never back into the server's loop or its clean-up (the socket is the server's)
                            os._exit(1)
                    os.close(go_read)
                    with contextlib.suppress(OSError):  # here too: _kill_worker may come before the child's own call
                        os.setpgid(pid, pid)
                    for fd in fds:
                        os.close(fd)
                    try:
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    except OSError:  # the client is gone: the child reads end of file and never runs its command
                        os.close(go_write)
                        conn.close()
                        continue
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                    with contextlib.suppress(OSError):  # a child killed meanwhile is reaped below
                        os.write(go_write, b"g")  # the client knows the pid: the command may start
                    os.close(go_write)
                else:  # the client was killed before its child finished: kill the child the same way
                    _kill_worker(key.data)
                    selector.unregister(key.fileobj)
            while True:  # reap every child, those that never started included
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                conn = children.pop(pid, None)
                if conn is not None:
                    with contextlib.suppress(KeyError, ValueError):
                        selector.unregister(conn)
                    with contextlib.suppress(OSError):
                        conn.sendall(json.dumps({"exit": _exit_code(status)}).encode() + b"\n")
                    conn.close()
                idle_since = time.monotonic()
    finally:
        for pid in children:  # no one can report their outcome now: their clients fail (ServerLost)
            _kill_worker(pid)
        with contextlib.suppress(OSError):  # leave a socket that a newer server put there
            if os.stat(path).st_ino == bound_inode:
                path.unlink()
        listener.close()


# ----------------------------------------------------------------------------------------------- client
class ForeignServer(Exception):
    """Whoever answers on the socket is not this user: nothing may be sent to it."""


def _connect(path: Path) -> socket.socket | None:
    """A connection to the server of ``path``; None if none answers. Checks who answered before
    anything is sent: another user's process there raises ForeignServer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    try:
        uid = peer_uid(sock)
    except OSError:
        uid = -1
    if uid != os.getuid():
        sock.close()
        raise ForeignServer(f"{path} is served by uid {uid}, not by this user (uid {os.getuid()})")
    return sock


def _start_server(path: Path) -> socket.socket | None:
    """Connect to the server of ``path``, starting it first if none answers (one starter at a time)."""
    lock = _open_private(path.with_name(path.name + ".lock"), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)
        if sock is not None:
            return sock
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        log = _open_private(path.with_name(path.name + ".log"), os.O_WRONLY | os.O_APPEND)
        try:
            server = subprocess.Popen([sys.executable, "-m", "qbslt.launcher", "--serve", str(path)],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            os.close(log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            if path.exists() and (sock := _connect(path)) is not None:
                return sock
            time.sleep(0.05)
        return None
    finally:
        os.close(lock)


class ServerLost(Exception):
    """The server went away after it started the command: its outcome is unknown."""


def _request(sock: socket.socket, body: bytes) -> int | None:
    """Send the request, forward signals to the child, return the child's exit code; None if the
    server closed before it started the command (it went idle: ask a new one). ServerLost if it
    closed after: the command ran, or runs still."""
    try:
        socket.send_fds(sock, [f"{len(body):0{HEADER}d}".encode()], [0, 1, 2])
        sock.sendall(body)
    except OSError:
        return None
    reader = sock.makefile("rb")
    child: list[int] = []
    pending: list[int] = []  # signals that came before the child's pid: sent to it once known

    def forward(signum, frame):
        if not child:
            pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child[0], signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    while True:
        try:
            line = reader.readline()
        except InterruptedError:
            continue
        except OSError:
            line = b""
        if not line:
            if child:
                raise ServerLost(f"the preloaded server stopped while running pid {child[0]}")
            for signum, handler in previous.items():  # nothing started: signals are this process's again
                signal.signal(signum, handler)
            for signum in pending:
                signal.raise_signal(signum)
            return None
        message = json.loads(line)
        if "pid" in message:
            child.append(message["pid"])
            for signum in pending:
                forward(signum, None)
        elif "exit" in message:
            return int(message["exit"])


def _direct(argv: list[str]) -> int:
    from qbslt.cli import main as cli_main

    return cli_main(argv)


def _exit_like(code: int) -> int:
    """The child's exit code as this process's own: a child killed by signal N kills us with N too,
    so the job's runner sees exactly what running the command directly would have shown. SIGKILL
    (the OOM killer's) has no handler to reset but always kills; a signal whose default is to be
    ignored (SIGCHLD, SIGWINCH, ...) and SIGSTOP, which would stop us rather than end us, give the
    shell's 128+N instead. Never raises: an error here must not end in running the command again."""
    if code >= 0:
        return code
    signum = -code
    with contextlib.suppress(OSError, ValueError):  # ValueError: not a signal number here
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])  # blocked by whoever started us
        if signum != signal.SIGSTOP:
            os.kill(os.getpid(), signum)
    return 128 + signum


def _serverless_reason() -> str | None:
    """Why this command runs in the process itself; None: through the preloaded server."""
    if os.environ.get("QBSLT_LAUNCHER", "server") == "direct":
        return "QBSLT_LAUNCHER=direct"
    if "LOCAL_RANK" in os.environ:
        return "torchrun worker"  # torchrun's workers stay its own processes
    if batch := [name for name in BATCH_JOB_VARIABLES if name in os.environ]:
        return f"batch job ({batch[0]})"
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX") or not hasattr(socket, "SO_PEERCRED"):
        return "no fork, Unix sockets or SO_PEERCRED here"
    return None


class NoServer(Exception):
    """No server took the request (none answers, or the folder is unsafe): nothing ran yet."""


def _run_served(argv: list[str]) -> int:
    """Run ``argv`` through the preloaded server and return the child's exit code. Raises NoServer
    only while no child can have started, ServerLost once one has: only the first may run it directly."""
    try:
        path = socket_path(server_key())
        private_folder(path.parent)
        body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "path0": sys.path[0]})
    except OSError as exc:  # UnsafeFolder too
        raise NoServer(str(exc)) from None
    for _ in range(2):  # a server that went idle between connect and request: start a new one
        try:
            sock = _start_server(path)
        except (OSError, ForeignServer) as exc:
            raise NoServer(str(exc)) from None
        if sock is None:
            break
        with sock:
            code = _request(sock, body.encode())  # no OSError from here on means "run it directly"
        if code is not None:
            return code
    raise NoServer(f"no preloaded server at {path} (see {path}.log)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve(Path(argv[1]))
        return 0
    if _serverless_reason() is not None:
        return _direct(argv)
    try:
        code = _run_served(argv)
    except NoServer as exc:
        print(f"qbslt launcher: {exc}; running directly", file=sys.stderr)
        return _direct(argv)
    except ServerLost as exc:  # never run a command twice
        print(f"qbslt launcher: {exc}", file=sys.stderr)
        return 1
    return _exit_like(code)


if __name__ == "__main__":
    sys.exit(main())
