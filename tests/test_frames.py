import numpy as np
import pytest
from PIL import Image

from qbslt.data.frames import VideoSource
from qbslt.data.frame_store import open_store, read_index, write_store
from qbslt.errors import FrameError

from conftest import write_test_video


def _folder(path, n, suffix=".png", value=0):
    path.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((20, 16, 3), value + i, np.uint8)).save(path / f"images{i + 1:04d}{suffix}")
    return path




def test_store_from_folders_and_video(tmp_path):
    sources = [VideoSource("a", _folder(tmp_path / "a", 3)),
               VideoSource("b", _folder(tmp_path / "b", 2, ".jpg", value=100)),
               VideoSource("empty", _folder(tmp_path / "empty", 0)),
               VideoSource("missing", tmp_path / "missing"),
               VideoSource("v", write_test_video(tmp_path / "v.mp4", 4))]
    index = write_store(sources, tmp_path / "s.npy", tmp_path / "s.index.tsv", (8, 6), threads=2, progress=False)
    assert list(index["length"]) == [3, 2, 0, 0, 4]
    store = open_store(tmp_path / "s.npy")
    assert store.shape == (9, 8, 6, 3) and store.dtype == np.uint8
    assert isinstance(store, np.memmap)
    assert store[0].mean() == 0 and store[2].mean() == 2  # PNG frames in file order, exact
    assert abs(float(store[3].mean()) - 100) < 3  # JPG, lossy
    on_disk = read_index(tmp_path / "s.index.tsv")
    assert list(on_disk["offset"]) == [0, 3, 5, 5, 5] and list(on_disk["name"]) == ["a", "b", "empty", "missing", "v"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_corrupt_frame_names_the_file_and_leaves_no_output(tmp_path):
    folder = _folder(tmp_path / "a", 2)
    (folder / "images0002.png").write_bytes(b"not a png")
    with pytest.raises(FrameError, match=r"images0002\.png: cannot decode frame"):
        write_store([VideoSource("a", folder)], tmp_path / "s.npy", tmp_path / "s.index.tsv", (8, 6), progress=False)
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "s.index.tsv").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_corrupt_video_names_the_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(FrameError, match=r"bad\.mp4: cannot decode video"):
        write_store([VideoSource("bad", bad)], tmp_path / "s.npy", tmp_path / "s.index.tsv", (8, 6), progress=False)
