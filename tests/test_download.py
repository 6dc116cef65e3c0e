"""Downloads, verification and safe extraction, on files the tests create.

Everything is served from a temporary folder by a small HTTP server on 127.0.0.1 (no internet).
The server honours ``Range: bytes=N-`` (206 / 416), records every request, and can be told to cut
a response short or to fail with a status, to simulate interrupted and flaky downloads.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import logging
import random
import re
import tarfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from qbslt.data import download, extract, http_download, layout, verify
from qbslt.errors import DatasetMissingError, DownloadError

PREFIX = layout.PHOENIX_TAR_PREFIX
DATA = random.Random(0).randbytes(100_000)
TIMEOUT = 10  # seconds, for every request a test makes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# local HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.root``; honours ``Range: bytes=N-``; obeys ``server.cuts`` / ``server.failures``."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        srv = self.server
        path = unquote(urlsplit(self.path).path)
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((path, rng))
            failure = srv.failures.pop(path, None)
            cut = srv.cuts.pop(path, None)
        if failure is not None:
            self.send_error(failure)
            return
        file = srv.root / path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and not srv.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])  # a cut body: the connection just closes

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A ThreadingHTTPServer on 127.0.0.1:<free port> serving ``tmp_path / "www"``."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root = tmp_path / "www"
    httpd.root.mkdir()
    httpd.lock = threading.Lock()
    httpd.requests, httpd.cuts, httpd.failures, httpd.ignore_range = [], {}, {}, False
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch):
    monkeypatch.setattr(http_download, "RETRY_DELAY", 0.0)


def serve(server, name: str, data: bytes) -> str:
    """Put ``data`` at ``/<name>`` on the server; returns its URL."""
    path = server.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"{server.url}/{name}"


def ranges(server) -> list[str | None]:
    return [rng for _, rng in server.requests]


# --------------------------------------------------------------------------------------------------
# download


def test_sha256sum_streams_a_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    assert verify.sha256sum(path, chunk_size=4096) == sha(DATA)


def test_download_with_checksum_and_size(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "out" / "f.bin"
    out = http_download.download(url, dest, sha256=sha(DATA), expected_bytes=len(DATA), progress=False,
                            chunk_size=4096, timeout=TIMEOUT)
    assert out == dest and dest.read_bytes() == DATA
    assert not http_download.part_path(dest).exists()
    assert ranges(server) == [None]


def test_checksum_mismatch_names_both_and_creates_no_file(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        http_download.download(url, dest, sha256=wrong, progress=False, timeout=TIMEOUT)
    message = str(info.value)
    assert url in message and wrong in message and sha(DATA) in message
    assert not dest.exists() and not http_download.part_path(dest).exists()
    assert (tmp_path / "f.bin.part.bad").read_bytes() == DATA
    # the bad bytes were moved aside: the next run starts from zero (no Range request)
    http_download.download(url, dest, sha256=sha(DATA), progress=False, timeout=TIMEOUT)
    assert dest.read_bytes() == DATA and ranges(server) == [None, None]


def test_size_mismatch_is_an_error(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    with pytest.raises(DownloadError, match=f"got {len(DATA)} bytes, expected {len(DATA) + 1}"):
        http_download.download(url, tmp_path / "f.bin", expected_bytes=len(DATA) + 1, progress=False, timeout=TIMEOUT)
    assert not (tmp_path / "f.bin").exists()


def test_interrupted_download_leaves_part_and_next_call_resumes(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    server.cuts["/f.bin"] = 30_000
    with pytest.raises(DownloadError, match="resumes"):
        http_download.download(url, dest, sha256=sha(DATA), expected_bytes=len(DATA), progress=False,
                          chunk_size=4096, timeout=TIMEOUT, attempts=1)
    assert not dest.exists()
    assert http_download.part_path(dest).stat().st_size == 30_000
    http_download.download(url, dest, sha256=sha(DATA), expected_bytes=len(DATA), progress=False,
                      chunk_size=4096, timeout=TIMEOUT)
    assert dest.read_bytes() == DATA and not http_download.part_path(dest).exists()
    assert ranges(server) == [None, "bytes=30000-"]


def test_transient_failures_are_retried_within_one_call(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    server.cuts["/f.bin"] = 10_000
    http_download.download(url, dest, sha256=sha(DATA), progress=False, chunk_size=4096, timeout=TIMEOUT, attempts=3)
    assert dest.read_bytes() == DATA
    assert ranges(server) == [None, "bytes=10000-"]
    dest.unlink()
    server.failures["/f.bin"] = 503
    http_download.download(url, dest, sha256=sha(DATA), progress=False, timeout=TIMEOUT, attempts=2)
    assert dest.read_bytes() == DATA


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    http_download.part_path(dest).write_bytes(b"stale bytes from another version")
    server.ignore_range = True
    http_download.download(url, dest, sha256=sha(DATA), progress=False, timeout=TIMEOUT)
    assert dest.read_bytes() == DATA
    assert ranges(server) == ["bytes=32-"]


def test_complete_part_answered_with_416_is_finished(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    http_download.part_path(dest).write_bytes(DATA)
    http_download.download(url, dest, sha256=sha(DATA), expected_bytes=len(DATA), progress=False, timeout=TIMEOUT)
    assert dest.read_bytes() == DATA
    assert ranges(server) == [f"bytes={len(DATA)}-"]


def test_http_404_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        http_download.download(f"{server.url}/missing.bin", tmp_path / "m.bin", progress=False, timeout=TIMEOUT,
                          attempts=3)
    assert len(server.requests) == 1 and not (tmp_path / "m.bin").exists()


def test_file_url(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    dest = tmp_path / "out" / "f.bin"
    assert http_download.download(source.as_uri(), dest, sha256=sha(DATA), progress=False) == dest
    assert dest.read_bytes() == DATA and not http_download.part_path(dest).exists()
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        http_download.download(source.as_uri(), tmp_path / "g.bin", sha256="1" * 64, progress=False)


def test_existing_valid_dest_makes_no_request(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.write_bytes(DATA)
    assert http_download.download(url, dest, sha256=sha(DATA), expected_bytes=len(DATA), progress=False) == dest
    assert server.requests == []


def test_existing_invalid_dest_is_downloaded_again(server, tmp_path):
    url = serve(server, "f.bin", DATA)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"corrupt")
    http_download.download(url, dest, sha256=sha(DATA), progress=False, timeout=TIMEOUT)
    assert dest.read_bytes() == DATA and len(server.requests) == 1


# --------------------------------------------------------------------------------------------------
# safe extraction


def make_tar(path: Path, members: list[tuple[str, object]]) -> Path:
    """A .tar.gz of ``(name, bytes | ("symlink" | "hardlink", target))`` members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if isinstance(payload, tuple):
                info.type = tarfile.SYMTYPE if payload[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = payload[1]
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


PNG = b"\x89PNG\r\n\x1a\n fake"
CORPUS = "annotations/manual/PHOENIX-2014-T.{}.corpus.csv"
FRAMES = "features/fullFrame-210x260px"
KEPT = [f"{PREFIX}/{CORPUS.format(split)}" for split in layout.SPLITS] + [
    f"{PREFIX}/{FRAMES}/train/vid1/images0001.png",
    f"{PREFIX}/{FRAMES}/train/vid1/images0002.png",
    f"{PREFIX}/{FRAMES}/dev/vid2/images0001.png",
]


def phoenix_tar(path: Path) -> Path:
    """A tiny tarball in the PHOENIX-2014T v3 layout, with members that must not be extracted."""
    members = [(name, b"name|video|start|end|speaker|orth|translation\n" if name.endswith(".csv") else PNG)
               for name in KEPT]
    members += [
        (f"{PREFIX}/features/fullFrame-227x227px/train/vid1/images0001.png", PNG),
        (f"{PREFIX}/annotations/automatic/train.alignment", b"x"),
        (f"{PREFIX}/README", b"readme"),
        ("PHOENIX-2014-T-release-v3/other/outside.txt", b"outside the prefix"),
    ]
    return make_tar(path, members)


def extracted_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if (p.is_file() or p.is_symlink()) and not p.name.startswith(".extracted-"))


def test_safe_extract_keeps_only_needed_phoenix_files(tmp_path):
    tar = phoenix_tar(tmp_path / "p.tar.gz")
    out = tmp_path / "out"
    count = extract.safe_extract(tar, out, PREFIX, download.phoenix_include, progress=False)
    assert count == len(KEPT)
    assert extracted_files(out) == sorted(KEPT)
    assert (out / f"{PREFIX}/{FRAMES}/train/vid1/images0002.png").read_bytes() == PNG
    assert extract.extraction_marker(tar, out).is_file()


def test_reextraction_is_skipped_via_marker(tmp_path):
    tar = phoenix_tar(tmp_path / "p.tar.gz")
    out = tmp_path / "out"
    count = extract.safe_extract(tar, out, PREFIX, download.phoenix_include, progress=False)
    (out / KEPT[0]).unlink()
    tar.write_bytes(b"")  # not a tarball any more: a second call must not read it
    assert extract.safe_extract(tar, out, PREFIX, download.phoenix_include, progress=False) == count
    assert not (out / KEPT[0]).exists()


@pytest.mark.parametrize("member", ["../evil", f"{PREFIX}/../../evil", f"{PREFIX}/a/../../../evil", "ABSOLUTE"])
def test_path_traversal_member_is_rejected(tmp_path, member):
    if member == "ABSOLUTE":
        member = str(tmp_path / "evil")
    tar = make_tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/ok.txt", b"ok"), (member, b"evil")])
    with pytest.raises(DownloadError, match="unsafe member") as info:
        extract.safe_extract(tar, tmp_path / "out" / "deeper", PREFIX, progress=False)
    assert member in str(info.value)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()
    assert not extract.extraction_marker(tar, tmp_path / "out" / "deeper").exists()


@pytest.mark.parametrize("link", [("symlink", "../../../../etc/passwd"), ("symlink", "/etc/passwd"),
                                  ("symlink", "a/../../../.."), ("hardlink", "../outside.txt")])
def test_link_pointing_outside_is_rejected(tmp_path, link):
    tar = make_tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/link", link)])
    with pytest.raises(DownloadError, match="points outside") as info:
        extract.safe_extract(tar, tmp_path / "out", PREFIX, progress=False)
    assert f"{PREFIX}/link" in str(info.value)
    assert not (tmp_path / "out" / PREFIX / "link").is_symlink()


def test_link_escaping_through_a_linked_folder_is_rejected(tmp_path):
    tar = make_tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/sub/up", ("symlink", "..")),
                                           (f"{PREFIX}/sub/escape", ("symlink", "up/../../../x"))])
    with pytest.raises(DownloadError, match="unsafe member .*sub/escape"):
        extract.safe_extract(tar, tmp_path / "out", PREFIX, progress=False)


def test_link_inside_the_tree_is_extracted(tmp_path):
    tar = make_tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/data/a.txt", b"a"),
                                           (f"{PREFIX}/data/b.txt", ("symlink", "a.txt"))])
    assert extract.safe_extract(tar, tmp_path / "out", PREFIX, progress=False) == 2
    assert (tmp_path / "out" / PREFIX / "data" / "b.txt").read_bytes() == b"a"


def test_phoenix_include():
    assert download.phoenix_include("annotations/manual/PHOENIX-2014-T.dev.corpus.csv")
    assert download.phoenix_include("features/fullFrame-210x260px/test/some_video-1/images0117.png")
    assert not download.phoenix_include("annotations/manual/PHOENIX-2014-T.dev.corpus.csv", splits=("train",))
    assert not download.phoenix_include("features/fullFrame-210x260px/train/v/images0001.png", splits=("dev",))
    assert not download.phoenix_include("features/fullFrame-227x227px/train/v/images0001.png")
    assert not download.phoenix_include("features/fullFrame-210x260px/train/images0001.png")
    assert not download.phoenix_include("annotations/automatic/train.alignment")


# --------------------------------------------------------------------------------------------------
# datasets


COMMIT = "0" * 40


def qa_sources(server, pinned_train: bool = False) -> dict:
    """A ``data.sources`` block whose QA URLs point at the test server."""
    entries = {split: {"path": f"dialogue/{split}.txt", "sha256": sha(f"{split} rows".encode())}
               for split in layout.SPLITS}
    if not pinned_train:
        entries["train"]["sha256"] = None
    return {"qa": {"url": server.url + "/{commit}/{path}", "commit": COMMIT, "csl": entries},
            "phoenix": {"root": None}, "csl": {"root": None}}


def serve_qa(server, train: bytes = b"train rows") -> None:
    for split in layout.SPLITS:
        serve(server, f"{COMMIT}/dialogue/{split}.txt", train if split == "train" else f"{split} rows".encode())


def test_fetch_qa_records_null_checksum_then_detects_change(server, tmp_path, caplog):
    serve_qa(server)
    out = tmp_path / "qa"
    with caplog.at_level(logging.WARNING, logger="qbslt.download"):
        paths = download.fetch_qa(qa_sources(server), "csl", out, progress=False)
    assert {split: p.read_text() for split, p in paths.items()} == {s: f"{s} rows" for s in layout.SPLITS}
    record = json.loads((out / verify.CHECKSUMS_FILE).read_text())
    assert record == {"train.txt": {"url": f"{server.url}/{COMMIT}/dialogue/train.txt", "sha256": sha(b"train rows")}}
    assert "RECORDED" in caplog.text and sha(b"train rows") in caplog.text

    server.requests.clear()
    download.fetch_qa(qa_sources(server), "csl", out, progress=False)  # all present and verified
    assert server.requests == []

    paths["train"].unlink()
    serve_qa(server, train=b"changed upstream")
    with pytest.raises(DownloadError, match="recorded checksum changed") as info:
        download.fetch_qa(qa_sources(server), "csl", out, progress=False)
    assert sha(b"train rows") in str(info.value) and sha(b"changed upstream") in str(info.value)
    assert not paths["train"].exists()


def test_fetch_qa_checks_pinned_checksums(server, tmp_path):
    serve_qa(server, train=b"not the pinned content")
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download.fetch_qa(qa_sources(server, pinned_train=True), "csl", tmp_path / "qa", progress=False)
    assert not (tmp_path / "qa" / verify.CHECKSUMS_FILE).exists()


def make_csl(root: Path, frames: bool = True, split_file: bool = True) -> Path:
    if frames:
        (layout.csl_frames_dir(root, "S000001_P0000_T00")).mkdir(parents=True)
    if split_file:
        layout.csl_split_path(root).parent.mkdir(parents=True)
        layout.csl_split_path(root).write_text("name|split\nS000001_P0000_T00|train\n")
    return root


def test_require_csl_explains_how_to_get_it(tmp_path):
    with pytest.raises(DatasetMissingError) as info:
        download.require_csl(tmp_path / "CSL-Daily")
    message = str(info.value)
    assert download.CSL_REQUEST_URL in message and "split_1.txt" in message
    assert "frames_512x512" in message and "000000.jpg" in message


def test_require_csl_names_the_missing_part(tmp_path):
    root = make_csl(tmp_path / "CSL-Daily", frames=False)
    with pytest.raises(DatasetMissingError, match="missing .*frames_512x512"):
        download.require_csl(root)
    root = make_csl(tmp_path / "other", split_file=False)
    with pytest.raises(DatasetMissingError, match="missing .*split_1.txt"):
        download.require_csl(root)
    assert download.require_csl(make_csl(tmp_path / "complete")) == tmp_path / "complete"


def test_fetch_phoenix_with_configured_root_does_not_download(server, tmp_path):
    root = tmp_path / "PHOENIX-2014-T"
    for split in layout.SPLITS:
        path = layout.phoenix_corpus_path(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name|video|start|end|speaker|orth|translation\n")
    sources = {"phoenix": {"root": str(root), "url": f"{server.url}/phoenix-2014-T.v3.tar.gz",
                           "sha256": "0" * 64, "bytes": 1}}
    assert download.fetch_phoenix(sources, tmp_path / "raw", progress=False) == root
    assert server.requests == [] and not (tmp_path / "raw").exists()

    sources["phoenix"]["root"] = str(tmp_path / "elsewhere")
    with pytest.raises(DatasetMissingError, match="not found .*elsewhere"):
        download.fetch_phoenix(sources, tmp_path / "raw", progress=False)
    assert server.requests == []


def test_fetch_phoenix_downloads_extracts_then_skips(server, tmp_path):
    body = phoenix_tar(tmp_path / "p.tar.gz").read_bytes()
    url = serve(server, "phoenix-2014-T.v3.tar.gz", body)
    sources = {"phoenix": {"root": None, "url": url, "sha256": sha(body), "bytes": len(body)}}
    raw = tmp_path / "raw"
    root = download.fetch_phoenix(sources, raw, progress=False)
    assert root == raw / PREFIX
    assert all(layout.phoenix_corpus_path(root, split).is_file() for split in layout.SPLITS)
    assert (layout.phoenix_frames_dir(root, "dev", "vid2") / "images0001.png").read_bytes() == PNG
    assert not (raw / "PHOENIX-2014-T-release-v3" / "other").exists()
    assert len(server.requests) == 1
    assert download.fetch_phoenix(sources, raw, progress=False) == root
    assert len(server.requests) == 1
