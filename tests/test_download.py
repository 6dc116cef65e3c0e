"""Download code on files the tests make, served from 127.0.0.1 (no internet)."""

import hashlib
import http.server
import io
import json
import tarfile
import threading

import pytest

from qbslt.data import download, layout
from qbslt.errors import DatasetMissingError, DownloadError


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` ({path: bytes}); honours ``Range: bytes=N-``; can cut a body short."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.server.cut_after
        chunk = body[start:] if cut is None else body[start:start + cut]
        self.server.cut_after = None  # only the first response is cut
        self.wfile.write(chunk)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.requests, httpd.cut_after = {}, [], None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch):
    monkeypatch.setattr(download.time, "sleep", lambda s: None)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DATA = bytes(range(256)) * 400  # 100 kB


def test_download_with_checksum(server, tmp_path):
    server.files["/f.bin"] = DATA
    out = download.download(f"{server.url}/f.bin", tmp_path / "f.bin", sha(DATA), len(DATA), progress=False)
    assert out.read_bytes() == DATA and not (tmp_path / "f.bin.part").exists()


def test_checksum_mismatch_names_both_and_leaves_no_file(server, tmp_path):
    server.files["/f.bin"] = DATA
    with pytest.raises(DownloadError) as info:
        download.download(f"{server.url}/f.bin", tmp_path / "f.bin", "0" * 64, progress=False)
    assert "0" * 64 in str(info.value) and sha(DATA) in str(info.value)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path, monkeypatch):
    server.files["/f.bin"] = DATA
    server.cut_after = 30_000
    monkeypatch.setattr(download, "RETRIES", 1)
    with pytest.raises(DownloadError, match="the next run resumes"):
        download.download(f"{server.url}/f.bin", tmp_path / "f.bin", sha(DATA), len(DATA), progress=False,
                          chunk_size=4096)
    assert (tmp_path / "f.bin.part").stat().st_size == 30_000
    download.download(f"{server.url}/f.bin", tmp_path / "f.bin", sha(DATA), len(DATA), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert server.requests[-1] == ("/f.bin", "bytes=30000-")


def test_retry_within_one_call_resumes(server, tmp_path):
    server.files["/f.bin"] = DATA
    server.cut_after = 10_000
    download.download(f"{server.url}/f.bin", tmp_path / "f.bin", sha(DATA), len(DATA), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert [r for _, r in server.requests] == [None, "bytes=10000-"]


def test_file_url_and_existing_file_is_not_fetched_again(server, tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(DATA)
    out = download.download(source.as_uri(), tmp_path / "out" / "f.bin", sha(DATA), progress=False)
    assert out.read_bytes() == DATA
    server.files["/f.bin"] = DATA
    download.download(f"{server.url}/f.bin", out, sha(DATA), progress=False)
    assert server.requests == []


def test_http_404_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download.download(f"{server.url}/missing", tmp_path / "m", progress=False)


def _tar(path, members):
    """members: list of (name, bytes | ('symlink', target))"""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if isinstance(payload, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, payload[1]
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


PREFIX = layout.PHOENIX_TAR_PREFIX


def test_safe_extract_keeps_only_needed_files(tmp_path):
    tar = _tar(tmp_path / "p.tar.gz", [
        (f"{PREFIX}/annotations/manual/PHOENIX-2014-T.dev.corpus.csv", b"name|video\n"),
        (f"{PREFIX}/annotations/manual/PHOENIX-2014-T.dev.other.csv", b"x"),
        (f"{PREFIX}/features/fullFrame-210x260px/dev/a/images0001.png", b"png"),
        (f"{PREFIX}/features/fullFrame-227x227px/dev/a/images0001.png", b"big"),
        ("README", b"outside the prefix"),
    ])
    count = download.safe_extract(tar, tmp_path / "out", PREFIX, download.phoenix_include, progress=False)
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
                   and not p.name.startswith(".extracted"))
    assert count == 2 and files == [f"{PREFIX}/annotations/manual/PHOENIX-2014-T.dev.corpus.csv",
                                     f"{PREFIX}/features/fullFrame-210x260px/dev/a/images0001.png"]
    (tmp_path / "p.tar.gz").write_bytes(b"")  # marker: a second call does not read the archive
    assert download.safe_extract(tar, tmp_path / "out", PREFIX, download.phoenix_include, progress=False) == 2


@pytest.mark.parametrize("member", ["../evil", f"{PREFIX}/../../evil", "/etc/evil"])
def test_path_traversal_member_is_rejected(tmp_path, member):
    tar = _tar(tmp_path / "p.tar.gz", [(member, b"x")])
    with pytest.raises(DownloadError, match="unsafe member path"):
        download.safe_extract(tar, tmp_path / "out", PREFIX, progress=False)
    assert not (tmp_path / "evil").exists()


def test_symlink_outside_is_rejected(tmp_path):
    tar = _tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/link", ("symlink", "../../../../etc/passwd"))])
    with pytest.raises(DownloadError, match="points outside"):
        download.safe_extract(tar, tmp_path / "out", PREFIX, progress=False)


def _sources(url, commit="0" * 40, sha_train=None):
    files = {s: {"path": f"d/{s}.txt", "sha256": sha(f"{s} rows".encode()) if s != "train" else sha_train}
             for s in ("train", "dev", "test")}
    return {"qa": {"url": url + "/{commit}/{path}", "commit": commit, "csl": files, "phoenix": files},
            "phoenix": {"root": None}, "csl": {"root": None}}


def test_fetch_qa_records_unknown_checksum_then_detects_change(server, tmp_path):
    for split in ("train", "dev", "test"):
        server.files[f"/{'0' * 40}/d/{split}.txt"] = f"{split} rows".encode()
    paths = download.fetch_qa(_sources(server.url), "csl", tmp_path / "qa", progress=False)
    recorded = json.loads((tmp_path / "qa" / "checksums.json").read_text())
    assert recorded == {"train": sha(b"train rows")} and paths["dev"].read_text() == "dev rows"
    paths["train"].unlink()
    server.files[f"/{'0' * 40}/d/train.txt"] = b"changed upstream"
    with pytest.raises(DownloadError, match="recorded on first download"):
        download.fetch_qa(_sources(server.url), "csl", tmp_path / "qa", progress=False)


def test_require_csl_explains_how_to_get_it(tmp_path):
    with pytest.raises(DatasetMissingError) as info:
        download.require_csl(tmp_path / "CSL-Daily")
    message = str(info.value)
    assert download.CSL_REQUEST_URL in message and "split_1.txt" in message and "frames_512x512" in message


def test_fetch_phoenix_uses_a_given_tree_and_names_missing_files(server, tmp_path):
    root = tmp_path / "PHOENIX-2014-T"
    for split in ("train", "dev", "test"):
        path = layout.phoenix_corpus_path(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name|video|start|end|speaker|orth|translation\n")
    sources = {"phoenix": {"root": str(root), "url": f"{server.url}/p.tar.gz", "sha256": None, "bytes": 0}}
    assert download.fetch_phoenix(sources, tmp_path / "raw", progress=False) == root
    assert server.requests == []
    sources["phoenix"]["root"] = str(tmp_path / "elsewhere")
    with pytest.raises(DatasetMissingError, match="PHOENIX-2014T corpus file not found"):
        download.fetch_phoenix(sources, tmp_path / "raw", progress=False)


def test_fetch_phoenix_downloads_and_extracts(server, tmp_path):
    tar = _tar(tmp_path / "p.tar.gz", [(f"{PREFIX}/annotations/manual/PHOENIX-2014-T.{s}.corpus.csv", b"h\n")
                                       for s in ("train", "dev", "test")])
    body = tar.read_bytes()
    server.files["/phoenix-2014-T.v3.tar.gz"] = body
    sources = {"phoenix": {"root": None, "url": f"{server.url}/phoenix-2014-T.v3.tar.gz", "sha256": sha(body),
                           "bytes": len(body)}}
    root = download.fetch_phoenix(sources, tmp_path / "raw", progress=False)
    assert root == tmp_path / "raw" / PREFIX and layout.phoenix_corpus_path(root, "dev").exists()
