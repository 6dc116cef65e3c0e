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
  forwards SIGINT/SIGTERM/SIGHUP to the child, and exits with the child's exit code; if the client
  dies, the server terminates the child, so killing a job kills its work;
* one server serves one source tree: the socket's name is a hash of the interpreter, the package's
  files (path, size, mtime), ``PRELOAD`` and the environment variables read at import time, so an
  edited source or another checkout gets a fresh server, never stale code;
* the server forks only from its single thread and never touches torch itself (no CUDA context,
  no thread pools), and exits after ``IDLE_SECONDS`` without work.

``QBSLT_LAUNCHER=direct``, torchrun's worker processes and platforms without ``fork`` and Unix
sockets run the command in the process itself, as does the ``qbslt`` console script.
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Modules every heavy command imports (torch, torchvision, transformers, sacrebleu, rouge-score).
# torch._dynamo: the optimisers import it lazily on their first step (1.3 CPU-s a training job).
PRELOAD = ("qbslt.cli", "qbslt.training.runs", "qbslt.training.features", "qbslt.training.tokenizer",
           "qbslt.eval.metrics", "torch._dynamo")
IDLE_SECONDS = float(os.environ.get("QBSLT_LAUNCHER_IDLE_SECONDS", 120))
START_TIMEOUT_SECONDS = 300.0
# Read by torch, transformers, huggingface_hub or Python at import time: part of the server's identity.
IMPORT_ENV_PREFIXES = ("PYTHON", "QBSLT_", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "TORCH", "HF_", "TRANSFORMERS_",
                       "LD_")
HEADER = 16  # bytes: the request's JSON length, zero-padded


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


def socket_path(key: str) -> Path:
    """The server's socket: in $XDG_RUNTIME_DIR, else the temporary folder, else /tmp (short paths)."""
    name = f"qbslt-{os.getuid()}-{key}.sock"
    for base in (os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir(), "/tmp"):
        if base and len(os.fsencode(os.path.join(base, name))) <= MAX_SOCKET_PATH:
            return Path(base) / name
    raise OSError("no folder with a path short enough for a Unix socket (set QBSLT_LAUNCHER=direct)")


# ----------------------------------------------------------------------------------------------- server
def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if status >= 0 else 1


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the requested ``qbslt`` command, then exit with its code."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["qbslt", *request["argv"]]
    sys.path[0] = request["path0"]  # `python -m` puts the caller's working directory first
    for stream in (sys.stdout, sys.stderr):  # as a fresh process: line-buffered on a terminal
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=stream.isatty())
    code = 1
    try:
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


def serve(path: Path) -> None:
    """Preload, listen on ``path``, fork a child per request; exit after IDLE_SECONDS without work."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(path.name + f".{os.getpid()}")
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, path)  # clients see the socket only once it accepts
    bound_inode = os.stat(path).st_ino
    print(f"qbslt launcher: pid {os.getpid()} serving {path}", flush=True)
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
                        request, fds = _receive(conn)
                    except (ConnectionError, ValueError, OSError):
                        conn.close()
                        continue
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        for other in children.values():
                            other.close()
                        conn.close()
                        _run_child(request, fds)
                    for fd in fds:
                        os.close(fd)
                    children[pid] = conn
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    selector.register(conn, selectors.EVENT_READ, pid)
                else:  # the client was killed before its child finished: kill the child the same way
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(key.data, signal.SIGKILL)
                    selector.unregister(key.fileobj)
            while children:
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
        with contextlib.suppress(OSError):  # leave a socket that a newer server put there
            if os.stat(path).st_ino == bound_inode:
                path.unlink()
        listener.close()


# ----------------------------------------------------------------------------------------------- client
def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _start_server(path: Path) -> socket.socket | None:
    """Connect to the server of ``path``, starting it first if none answers (one starter at a time)."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)
        if sock is not None:
            return sock
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        log = open(path.with_name(path.name + ".log"), "ab")
        server = subprocess.Popen([sys.executable, "-m", "qbslt.launcher", "--serve", str(path)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            if path.exists() and (sock := _connect(path)) is not None:
                return sock
            time.sleep(0.05)
        return None


class ServerLost(Exception):
    """The server went away after it started the command: its outcome is unknown."""


def _request(sock: socket.socket, argv: list[str]) -> int | None:
    """Send the request, forward signals to the child, return the child's exit code; None if the
    server closed before it started the command (it went idle: ask a new one)."""
    body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "path0": sys.path[0]}).encode()
    try:
        socket.send_fds(sock, [f"{len(body):0{HEADER}d}".encode()], [0, 1, 2])
        sock.sendall(body)
    except OSError:
        return None
    reader = sock.makefile("rb")
    child: list[int] = []

    def forward(signum, frame):
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child[0], signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
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
            return None
        message = json.loads(line)
        if "pid" in message:
            child.append(message["pid"])
        elif "exit" in message:
            return int(message["exit"])


def _direct(argv: list[str]) -> int:
    from qbslt.cli import main as cli_main

    return cli_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve(Path(argv[1]))
        return 0
    if os.environ.get("QBSLT_LAUNCHER", "server") == "direct" or "LOCAL_RANK" in os.environ \
            or not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX"):
        return _direct(argv)  # torchrun's workers (LOCAL_RANK) stay its own processes
    try:
        path = socket_path(server_key())
    except OSError as exc:
        print(f"qbslt launcher: {exc}; running directly", file=sys.stderr)
        return _direct(argv)
    for _ in range(2):  # a server that went idle between connect and request: start a new one
        sock = _start_server(path)
        if sock is None:
            break
        with sock:
            try:
                code = _request(sock, argv)
            except ServerLost as exc:  # never run a command twice
                print(f"qbslt launcher: {exc}", file=sys.stderr)
                return 1
        if code is not None:
            return code
    print(f"qbslt launcher: no preloaded server at {path} (see {path}.log); running directly", file=sys.stderr)
    return _direct(argv)


if __name__ == "__main__":
    sys.exit(main())
