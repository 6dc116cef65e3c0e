"""Frame stores: raw memory map (today's) and compressed (JPEG in one indexed file), one interface."""

import multiprocessing
import operator
import pickle

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from qbslt.data import frame_store
from qbslt.data.frame_store import (CompressedFrameStore, FrameStore, RawFrameStore, open_frame_store,
                                    open_video_store, store_path)
from qbslt.data.frames import VideoSource, read_frames
from qbslt.data.frame_store import write_store
from qbslt.errors import FrameError
from qbslt.training.augment import VideoAugment, VideoPlan
from qbslt.training.batches import Collator, ExampleSet, batch_loader

from conftest import write_test_video

SIZE = (36, 44)  # store frame size (H, W)
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def _photo() -> Image.Image:
    with cbook.get_sample_data("grace_hopper.jpg") as f:  # a real photograph (matplotlib ships it)
        return Image.open(f).convert("RGB").resize((128, 150), Image.BILINEAR)


def _photo_frames(path, n, size_hw, seed=0, suffix=".png"):
    """``n`` frame files: windows of a photograph shifted a little per frame (motion)."""
    path.mkdir(parents=True)
    photo, rng = _photo(), np.random.default_rng(seed)
    h, w = size_hw
    for i in range(n):
        x, y = rng.integers(0, photo.width - w), rng.integers(0, photo.height - h)
        photo.crop((x, y, x + w, y + h)).save(path / f"images{i + 1:04d}{suffix}")
    return path




def _sources(tmp_path, frame_hw=(60, 70)):
    """Frame folders at another size than the store's (re-encoded), a video, an empty and a missing one."""
    return [VideoSource("a", _photo_frames(tmp_path / "src" / "a", 3, frame_hw, seed=1)),
            VideoSource("b", _photo_frames(tmp_path / "src" / "b", 4, frame_hw, seed=2, suffix=".jpg")),
            VideoSource("empty", tmp_path / "src" / "empty"),
            VideoSource("v", write_test_video(tmp_path / "src" / "v.mp4", 3)),
            VideoSource("missing", tmp_path / "src" / "missing")]


def _stores(tmp_path, sources, quality=90):
    write_store(sources, tmp_path / "s.npy", tmp_path / "raw.index.tsv", SIZE, threads=2, progress=False)
    write_store(sources, tmp_path / "jpeg" / "s.jpgs", tmp_path / "s.index.tsv", SIZE, threads=2, progress=False,
                quality=quality)
    return open_frame_store(tmp_path / "s.npy"), open_frame_store(tmp_path / "jpeg" / "s.jpgs")


def test_raw_store_is_todays_store_byte_for_byte(tmp_path):
    sources = _sources(tmp_path)
    write_store(sources, tmp_path / "s.npy", tmp_path / "s.index.tsv", SIZE, threads=2, progress=False)
    today = np.concatenate([read_frames(s.path, SIZE) for s in sources])
    np.save(tmp_path / "today.npy", today)  # same array, same .npy header as open_memmap writes
    assert (tmp_path / "s.npy").read_bytes() == (tmp_path / "today.npy").read_bytes()
    store = open_frame_store(tmp_path / "s.npy")
    assert isinstance(store, RawFrameStore) and store.shape == (10, *SIZE, 3) and len(store) == 10
    memmap = np.load(tmp_path / "s.npy", mmap_mode="r")
    rows = np.array([4, 0, 0, 9, 5])
    assert np.array_equal(store[rows], memmap[rows]) and np.array_equal(store[2:7], memmap[2:7])
    # VideoAugment.read: the store object gives exactly what indexing the memory map gave.
    augment = VideoAugment(crop=20)
    for plan in (VideoPlan(rows), VideoPlan(rows, top=3, left=11)):
        got = augment.read(store, plan)
        want = augment.read(memmap, plan)
        assert got.dtype == torch.uint8 and torch.equal(got, want)


def test_compressed_store_round_trip_on_photographs(tmp_path):
    raw, jpeg = _stores(tmp_path, _sources(tmp_path))
    assert isinstance(jpeg, CompressedFrameStore) and isinstance(jpeg, FrameStore)
    assert jpeg.shape == raw.shape == (10, *SIZE, 3) and jpeg.dtype == np.uint8 and jpeg.quality == 90
    assert (tmp_path / "s.index.tsv").read_text() == (tmp_path / "raw.index.tsv").read_text()
    decoded, exact = jpeg[np.arange(10)].astype(float), raw[np.arange(10)].astype(float)
    error = np.abs(decoded - exact)
    assert error.mean() < 4 and np.percentile(error, 99) < 30  # JPEG q=90 on photographic content
    psnr = 10 * np.log10(255**2 / ((decoded - exact) ** 2).mean())
    assert psnr > 30
    assert jpeg[3].shape == (*SIZE, 3) and np.array_equal(jpeg[3], jpeg[np.array([3])][0])
    assert np.array_equal(jpeg[2:5], jpeg[np.array([2, 3, 4])])
    window = jpeg.read(np.array([1, 1, 8]), (5, 7, 20))
    assert window.shape == (3, 20, 20, 3) and torch.equal(window, jpeg.read(np.array([1, 1, 8]))[:, 5:25, 7:27])
    assert (tmp_path / "jpeg" / "s.jpgs").stat().st_size < (tmp_path / "s.npy").stat().st_size / 3


def test_source_frames_of_the_store_size_are_kept_as_they_are(tmp_path):
    """PNG frames already at the store's size: their own bytes, decoded exactly (lossless)."""
    folder = _photo_frames(tmp_path / "a", 3, SIZE)
    raw, jpeg = _stores(tmp_path, [VideoSource("a", folder)])
    stored = [bytes(jpeg.encoded(row)) for row in range(3)]
    assert stored == [f.read_bytes() for f in sorted(folder.iterdir())]
    assert np.array_equal(jpeg[np.arange(3)], raw[np.arange(3)])


def test_store_pickles_as_its_file_name_and_reopens_in_a_spawned_process(tmp_path):
    raw, jpeg = _stores(tmp_path, _sources(tmp_path))
    rows = np.array([0, 5, 9])
    for store in (raw, jpeg):
        sent = pickle.dumps(store)
        assert len(sent) < 500  # the file name, not the frames
        assert np.array_equal(pickle.loads(sent)[rows], store[rows])
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # what loader workers under spawn do
        assert np.array_equal(pool.apply(operator.getitem, (jpeg, rows)), jpeg[rows])


def test_collated_batches_are_the_same_from_either_store_and_any_worker_count(tmp_path):
    """Lossless (passed-through PNG) compressed store: training batches equal the raw store's."""
    from qbslt.training.tokenizer import train_word_tokenizer
    import pandas as pd

    sources = [VideoSource(n, _photo_frames(tmp_path / n, k, SIZE, seed=k)) for n, k in (("x", 4), ("y", 6))]
    raw, jpeg = _stores(tmp_path, sources)
    tok = train_word_tokenizer(["a b", "c"], "word")
    examples = pd.DataFrame({"name": ["x", "y"], "question": ["a", "c"], "translation": ["b", "c"],
                             "frame_offset": [0, 4], "num_frames": [4, 6]})
    augment = VideoAugment(crop=24, temporal_scale=0.2, brightness=0.2, max_frames=8)
    batches = {}
    for name, store, workers in (("raw", raw, 0), ("jpeg", jpeg, 0), ("jpeg-worker", jpeg, 1)):
        data = ExampleSet.build(examples, store, tok, tok, "word", max_frames=5, max_text_tokens=8)
        assert len(pickle.dumps(data)) < 4000
        collator = Collator(data, text_pad_id=0, decoder_pad_id=0, mask_id=1, eos_id=2, augment=augment,
                            training=True)
        loader = batch_loader(collator, [[0, 1], [1]], torch.Generator().manual_seed(0), workers=workers)
        batches[name] = [b["video"] for b in loader]
    for other in ("jpeg", "jpeg-worker"):
        assert all(torch.equal(a, b) for a, b in zip(batches["raw"], batches[other]))
    assert batches["raw"][0].shape[2:] == (24, 24, 3)


def _row_bytes(store: CompressedFrameStore, row: int) -> tuple[int, int]:
    return store.data_at + int(store.offsets[row]), store.data_at + int(store.offsets[row + 1])


def test_corrupt_entry_fails_naming_video_and_frame(tmp_path):
    _, jpeg = _stores(tmp_path, _sources(tmp_path))
    path = tmp_path / "jpeg" / "s.jpgs"
    start, end = _row_bytes(jpeg, 4)  # video b (rows 3-6), frame 1
    blob = bytearray(path.read_bytes())
    blob[(start + end) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    store = open_frame_store(path)
    assert store[np.array([0, 3, 5])].shape == (3, *SIZE, 3)  # the other entries still read
    with pytest.raises(FrameError, match=r"s\.jpgs: video b frame 1: corrupt entry") as err:
        store[np.array([2, 4])]
    assert "\n" not in str(err.value)
    with pytest.raises(FrameError, match=r"video b frame 1"):
        VideoAugment(crop=20).read(store, VideoPlan(np.array([4]), top=0, left=0))


def test_undecodable_entry_fails_naming_video_and_frame(tmp_path, monkeypatch):
    """Bytes that pass the checksum but are no image (e.g. a broken source file kept as it is)."""
    monkeypatch.setattr(frame_store, "encode_jpeg", lambda frame, quality: b"\xff\xd8 not a jpeg")
    _, jpeg = _stores(tmp_path, _sources(tmp_path))
    with pytest.raises(FrameError, match=r"s\.jpgs: video v frame 2: cannot decode") as err:
        jpeg[np.array([9])]
    assert "\n" not in str(err.value)


def test_truncated_store_fails_naming_video_and_frame(tmp_path):
    raw, jpeg = _stores(tmp_path, _sources(tmp_path))
    path = tmp_path / "jpeg" / "s.jpgs"
    start, _ = _row_bytes(jpeg, 8)  # video v (rows 7-9), frame 1
    with open(path, "r+b") as f:
        f.truncate(start + 10)
    with pytest.raises(FrameError, match=r"s\.jpgs: video v frame 1: truncated store") as err:
        open_frame_store(path)
    assert "\n" not in str(err.value)
    with open(path, "r+b") as f:
        f.truncate(40)  # inside the header
    with pytest.raises(FrameError, match=r"s\.jpgs: truncated"):
        open_frame_store(path)
    npy = tmp_path / "s.npy"
    with open(npy, "r+b") as f:
        f.truncate(npy.stat().st_size - 100)
    with pytest.raises(FrameError, match=r"s\.npy: truncated or unreadable"):
        open_frame_store(npy)


@pytest.mark.parametrize("name", ["s.npy", "s.jpgs"])
def test_interrupted_write_leaves_no_store(tmp_path, monkeypatch, name):
    sources = _sources(tmp_path)
    calls = []

    def interrupted(path, size_hw):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return read_frames(path, size_hw)

    monkeypatch.setattr("qbslt.data.frame_store.read_frames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_store(sources, tmp_path / "out" / name, tmp_path / "out" / "s.index.tsv", SIZE, progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # no store, no index, no temporary file
    bad = _photo_frames(tmp_path / "bad", 2, (60, 70))
    (bad / "images0002.png").write_bytes(b"not a png")
    with pytest.raises(FrameError, match=r"images0002\.png: cannot decode frame"):
        write_store([VideoSource("bad", bad)], tmp_path / "out" / name, tmp_path / "out" / "s.index.tsv", SIZE,
                    progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_gpu_decoding_option_falls_back_to_the_cpu(tmp_path):
    _, jpeg = _stores(tmp_path, _sources(tmp_path))
    on_device = CompressedFrameStore(tmp_path / "jpeg" / "s.jpgs", decode_device="cuda")
    rows = np.array([0, 4, 8])
    got = on_device.read(rows, (2, 3, 20)).cpu()
    want = jpeg.read(rows, (2, 3, 20))
    if torch.cuda.is_available():  # nvJPEG may round differently from libjpeg-turbo
        assert (got.float() - want.float()).abs().mean() < 2
    else:
        assert torch.equal(got, want)
    assert pickle.loads(pickle.dumps(on_device)).decode_device == "cuda"


def test_store_path_finds_the_one_store_of_a_split(tmp_path):
    raw, jpeg = _stores(tmp_path, _sources(tmp_path))
    assert store_path(tmp_path, "s") == tmp_path / "s.npy"
    assert store_path(tmp_path / "jpeg", "s") == tmp_path / "jpeg" / "s.jpgs"
    assert isinstance(open_video_store(tmp_path / "jpeg" / "s.jpgs"), CompressedFrameStore)
    assert isinstance(open_video_store(tmp_path / "s.npy"), RawFrameStore)
    np.save(tmp_path / "f.npy", np.zeros((10, 4), np.float32))
    assert isinstance(open_video_store(tmp_path / "f.npy"), np.memmap)  # frozen-backbone features
    (tmp_path / "jpeg" / "s.npy").write_bytes((tmp_path / "s.npy").read_bytes())
    with pytest.raises(FrameError, match="two stores of split 's'"):
        store_path(tmp_path / "jpeg", "s")
    with pytest.raises(FrameError, match="no store"):
        store_path(tmp_path, "dev")
    assert frame_store.store_name("dev", "raw") == "dev.npy" and frame_store.store_name("dev", "jpeg") == "jpeg/dev.jpgs"


def test_features_read_through_the_store_interface(tmp_path):
    """Frozen-backbone features of a lossless compressed store equal those of the raw store."""
    from qbslt.training.features import write_features

    sources = [VideoSource("x", _photo_frames(tmp_path / "x", 3, SIZE))]
    _stores(tmp_path, sources)
    write_features(tmp_path / "s.npy", tmp_path / "f_raw.npy", "resnet18", False, batch_size=2, progress=False)
    write_features(tmp_path / "jpeg" / "s.jpgs", tmp_path / "f_jpeg.npy", "resnet18", False, batch_size=2,
                   progress=False)
    assert np.array_equal(np.load(tmp_path / "f_raw.npy"), np.load(tmp_path / "f_jpeg.npy"))
