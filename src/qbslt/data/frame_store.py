"""Frame stores: every frame of one dataset split in one file, read by rows, in one of two formats.

One interface (``FrameStore``): ``len(store)``, ``store.shape`` (N, H, W, 3), ``store.dtype`` (uint8),
``store[rows]`` -> uint8 ndarray [len(rows), H, W, 3], ``store.read(rows, window)`` -> uint8 tensor
(optionally cropped), pickled as its file name (data-loader workers reopen it, never receive its
contents). ``data.frame_store.format`` chooses the format (docs/model-choices.md, "Frame store"):

raw   ``<split>.npy``: uint8 [N, H, W, 3] (numpy ``.npy``), memory-mapped. Reading is a copy, the
      fastest; the file holds H*W*3 bytes a frame (PHOENIX at 256x256: ~190 GB). Embedded and
      realtext default.
jpeg  ``jpeg/<split>.jpgs``: every frame's JPEG at ``data.frame_store.quality`` (4:2:0) -- or the
      source's own PNG/JPEG file, byte for byte, when it already is an 8-bit RGB image of the
      store's frame size -- back to back in one file with an offsets array. Decoded per batch, in
      the data-loader workers (libjpeg-turbo/libpng through ``torchvision.io``), or on the GPU
      (``decode_device="cuda"``: nvJPEG) where CUDA is present. Paper profile default.

The compressed file (little-endian)::

    magic    8 bytes  b"QBSLTJS1"
    header   uint64 length, then JSON {"version", "height", "width", "frames", "quality",
             "videos": [[name, first row, frames], ...]}, zero-padded to a multiple of 8 bytes
    offsets  int64 [frames + 1]: where each frame's bytes start in the data section (last: its size)
    crc32    uint32 [frames]: of each frame's bytes, padded to a multiple of 8 bytes
    data     the encoded frames, back to back

Beside each store, ``<split>.index.tsv`` has one row per video (name, offset, length, source) into
its frames (``write_store`` writes both, ``read_index`` reads the index). The raw store is written
with ``numpy.lib.format.open_memmap`` (a 100 GB store never sits in memory), its disk space reserved
before the first frame (a memory map writing into a full disk dies of SIGBUS; a reservation fails with
a ``FrameError`` naming the bytes needed and free). Both are written to a temporary name and renamed
at the end, so an interrupted run leaves no half-written store behind; the next run removes the
temporaries an interrupted one left.
Decoding (:mod:`qbslt.data.frames`) runs on a thread pool: PIL and PyAV release the GIL.

A corrupt entry (checksum or decoder error) or a truncated file fails with a one-line
``FrameError`` naming the store, the video and the frame. The compressed store lives in its own
folder (``jpeg/``) so that a folder always holds one format: ``store_path`` finds it by split.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import logging
import os
import shutil
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from qbslt.atomic import atomic_paths, temporary_path
from qbslt.data.frames import VIDEO_SUFFIXES, VideoSource, count_frames, list_frame_files, read_frames
from qbslt.errors import FrameError

if TYPE_CHECKING:
    import pandas as pd
    import torch

# torch and torchvision (and pandas, tqdm) are imported where frames are read or written, not here:
# the workflow imports this module for its file names (store_name) at every `snakemake` call, and
# torch's import is seconds.
# torchvision 0.29 deprecates its image decoders in favour of TorchCodec; the pinned version has them.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

@functools.cache
def _torchvision_decoder():
    """(decode_image, ImageReadMode) of torchvision (libjpeg-turbo / libpng: faster than PIL here,
    benchmarks/frame_store.py), or None for a torchvision without image decoding (PIL then)."""
    try:
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:
        return None
    return decode_image, ImageReadMode


FORMATS = ("raw", "jpeg")
RAW_SUFFIX = ".npy"
COMPRESSED_SUFFIX = ".jpgs"
COMPRESSED_DIR = "jpeg"
INDEX_COLUMNS = ["name", "offset", "length", "source"]
DEFAULT_QUALITY = 90
MAGIC = b"QBSLTJS1"
VERSION = 1
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
log = logging.getLogger(__name__)


def store_name(split: str, fmt: str = "raw") -> str:
    """Path of a split's frame store relative to the dataset's frames folder."""
    if fmt == "raw":
        return f"{split}{RAW_SUFFIX}"
    if fmt == "jpeg":
        return f"{COMPRESSED_DIR}/{split}{COMPRESSED_SUFFIX}"
    raise ValueError(f"unknown frame store format {fmt!r} (known: {', '.join(FORMATS)})")


def store_format(path: Path | str) -> str:
    """Format of a store file, from its name."""
    suffix = Path(path).suffix
    if suffix == RAW_SUFFIX:
        return "raw"
    if suffix == COMPRESSED_SUFFIX:
        return "jpeg"
    raise FrameError(f"{path}: not a frame store name (expected {RAW_SUFFIX} or {COMPRESSED_SUFFIX})")


def store_path(directory: Path | str, split: str) -> Path:
    """The one store of ``split`` in ``directory``: ``<split>.npy`` (raw frames or features) or
    ``<split>.jpgs``."""
    directory = Path(directory)
    found = [p for p in (directory / f"{split}{RAW_SUFFIX}", directory / f"{split}{COMPRESSED_SUFFIX}")
             if p.exists()]
    if len(found) != 1:
        what = "no store" if not found else "two stores"
        raise FrameError(f"{directory}: {what} of split {split!r} ({split}{RAW_SUFFIX}, {split}{COMPRESSED_SUFFIX}): "
                         f"expected exactly one")
    return found[0]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class FrameStore:
    """The interface both formats implement (see the module docstring)."""

    path: Path
    shape: tuple[int, int, int, int]
    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def frame_hw(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, (int, np.integer)):
            return self.read([rows]).numpy()[0]
        return self.read(rows).numpy()

    def read(self, rows, window: tuple[int, int, int] | None = None) -> torch.Tensor:
        """Frames ``rows`` (int array or slice) as uint8 [T, H, W, 3]; ``window`` = (top, left,
        size): only that ``size`` x ``size`` square of each frame."""
        raise NotImplementedError

    def __getstate__(self) -> dict:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, shape={self.shape})"


class RawFrameStore(FrameStore):
    """uint8 [N, H, W, 3] ``.npy``, memory-mapped: rows are copied out, nothing is decoded."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.array = np.load(self.path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise FrameError(f"{self.path}: truncated or unreadable frame store: {_one_line(exc)}") from exc
        if self.array.dtype != np.uint8 or self.array.ndim != 4 or self.array.shape[3] != 3:
            raise FrameError(f"{self.path}: not a frame store (dtype {self.array.dtype}, shape {self.array.shape}; "
                             f"expected uint8 [N, H, W, 3])")
        self.shape = tuple(self.array.shape)

    def __getitem__(self, rows) -> np.ndarray:
        return np.array(self.array[rows])

    def read(self, rows, window: tuple[int, int, int] | None = None) -> torch.Tensor:
        import torch

        if window is None:
            return torch.from_numpy(self.array[rows])
        top, left, size = window
        # One indexing step: only the crop window is copied out of the memory map.
        return torch.from_numpy(self.array[rows, top:top + size, left:left + size])


def _section_sizes(frames: int) -> tuple[int, int]:
    crc_bytes = 4 * frames
    return 8 * (frames + 1), crc_bytes + (-crc_bytes) % 8


class CompressedFrameStore(FrameStore):
    """``.jpgs``: encoded frames in one file, decoded per read (CPU, or ``decode_device="cuda"``)."""

    def __init__(self, path: Path | str, decode_device: str | None = None):
        self.path = Path(path)
        self.decode_device = decode_device
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(16)
                if len(head) < 16 or head[:8] != MAGIC:
                    raise FrameError(f"{self.path}: not a compressed frame store (or truncated in its header)")
                (header_len,) = struct.unpack("<Q", head[8:16])
                header_bytes = f.read(header_len)
            if len(header_bytes) != header_len:
                raise FrameError(f"{self.path}: truncated in its header ({size} bytes)")
            header = json.loads(header_bytes.decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FrameError(f"{self.path}: unreadable frame store header: {_one_line(exc)}") from exc
        if header.get("version") != VERSION:
            raise FrameError(f"{self.path}: frame store version {header.get('version')} (this code reads {VERSION})")
        n, height, width = int(header["frames"]), int(header["height"]), int(header["width"])
        self.shape = (n, height, width, 3)
        self.quality = header.get("quality")
        self.names = [v[0] for v in header["videos"]]
        self.video_offsets = np.array([v[1] for v in header["videos"]], dtype=np.int64)
        offsets_at = 16 + header_len + (-header_len) % 8
        offsets_bytes, crc_bytes = _section_sizes(n)
        self.data_at = offsets_at + offsets_bytes + crc_bytes
        if size < self.data_at:
            raise FrameError(f"{self.path}: truncated in its offsets table ({size} of at least {self.data_at} bytes)")
        self._file = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.offsets = np.frombuffer(self._file, dtype="<i8", count=n + 1, offset=offsets_at)
        self.crc = np.frombuffer(self._file, dtype="<u4", count=n, offset=offsets_at + offsets_bytes)
        if self.data_at + int(self.offsets[-1]) > size:
            first = int(np.searchsorted(self.data_at + self.offsets[1:], size, side="right"))
            raise FrameError(f"{self.where(first)}: truncated store: this frame and every later one lie beyond "
                             f"the end of the file ({size} of {self.data_at + int(self.offsets[-1])} bytes)")

    def __getstate__(self) -> dict:
        return {"path": str(self.path), "decode_device": self.decode_device}

    def where(self, row: int) -> str:
        """``<store>: video <name> frame <j>`` of store row ``row``."""
        video = int(np.searchsorted(self.video_offsets, row, side="right")) - 1
        if video < 0:
            return f"{self.path}: row {row}"
        return f"{self.path}: video {self.names[video]} frame {row - int(self.video_offsets[video])}"

    def encoded(self, row: int) -> np.ndarray:
        """The stored bytes of one frame, checksum-verified."""
        row = int(row)
        if not 0 <= row < len(self):
            raise IndexError(f"{self.path}: row {row} out of range [0, {len(self)})")
        start, end = self.data_at + int(self.offsets[row]), self.data_at + int(self.offsets[row + 1])
        data = self._file[start:end]
        if end <= start or zlib.crc32(data) != int(self.crc[row]):
            raise FrameError(f"{self.where(row)}: corrupt entry (checksum mismatch)")
        return data

    def decode(self, row: int) -> torch.Tensor:
        """One frame as uint8 [3, H, W] (CPU)."""
        import torch

        data = np.array(self.encoded(row))
        decoder = _torchvision_decoder()
        try:
            if decoder is not None:
                decode_image, mode = decoder
                image = decode_image(torch.from_numpy(data), mode=mode.RGB)
            else:
                with Image.open(io.BytesIO(data)) as pil:
                    image = torch.from_numpy(np.array(pil.convert("RGB"))).permute(2, 0, 1)
        except (RuntimeError, ValueError, OSError, SyntaxError) as exc:
            raise FrameError(f"{self.where(row)}: cannot decode: {_one_line(exc)}") from exc
        if tuple(image.shape) != (3, *self.frame_hw) or image.dtype != torch.uint8:
            raise FrameError(f"{self.where(row)}: decoded to {image.dtype} {tuple(image.shape)}, store frames are "
                             f"uint8 {(3, *self.frame_hw)}")
        return image

    def _rows(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            return np.arange(*rows.indices(len(self)), dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        return rows.reshape(-1) if rows.ndim == 0 else rows

    def read(self, rows, window: tuple[int, int, int] | None = None) -> torch.Tensor:
        import torch

        rows = self._rows(rows)
        top, left, size = window if window is not None else (0, 0, None)
        h, w = (size, size) if size is not None else self.frame_hw
        if self.decode_device is not None and self.decode_device != "cpu" and torch.cuda.is_available():
            return self._read_on_device(rows, top, left, h, w)
        out = torch.empty((len(rows), h, w, 3), dtype=torch.uint8)
        for k, row in enumerate(rows):
            out[k] = self.decode(row)[:, top:top + h, left:left + w].permute(1, 2, 0)
        return out

    def _read_on_device(self, rows: np.ndarray, top: int, left: int, h: int, w: int) -> torch.Tensor:
        """nvJPEG: all frames of the read in one batched call; a failure is re-decoded on the CPU so
        that the error names the frame."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        device = torch.device(self.decode_device)
        datas = [torch.from_numpy(np.array(self.encoded(r))) for r in rows]
        if not datas:
            return torch.empty((0, h, w, 3), dtype=torch.uint8, device=device)
        try:
            images = decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # a PNG entry (passed-through source) or a corrupt one
            images = [self.decode(r).to(device) for r in rows]
        return torch.stack([im[:, top:top + h, left:left + w].permute(1, 2, 0) for im in images])


def open_frame_store(path: Path | str, decode_device: str | None = None) -> FrameStore:
    """A frame store of either format, by its file name."""
    if store_format(path) == "jpeg":
        return CompressedFrameStore(path, decode_device)
    return RawFrameStore(path)


def open_video_store(path: Path | str):
    """What a run reads per example: a ``FrameStore`` (raw or compressed frames), or the memory map
    of a frozen backbone's float features [N, D]."""
    path = Path(path)
    if store_format(path) == "raw":
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            raise FrameError(f"{path}: truncated or unreadable store: {_one_line(exc)}") from exc
        if array.dtype != np.uint8:
            return array  # features
        del array
    return open_frame_store(path)


# --- writing ---------------------------------------------------------------------------------

def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, "JPEG", quality=int(quality), subsampling="4:2:0")
    return buffer.getvalue()


def passthrough_bytes(path: Path, size_hw: tuple[int, int]) -> bytes | None:
    """A source frame file's own bytes when it can be stored as it is: an 8-bit RGB PNG (no
    transparency) or an RGB JPEG of exactly the store's frame size that decodes. None otherwise (the
    frame is then resized and re-encoded)."""
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n" and (data[12:16] != b"IHDR" or data[24:26] != b"\x08\x02"):
        return None  # not 8-bit truecolour
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG") or image.mode != "RGB" or image.size != (size_hw[1], size_hw[0]):
                return None
            if "transparency" in image.info:
                return None
            image.load()  # a truncated or corrupt file fails here, naming itself (below)
    except (OSError, ValueError, SyntaxError) as exc:
        raise FrameError(f"{path}: cannot decode frame: {exc}") from exc
    return data


def _ordered(pool: ThreadPoolExecutor, fn: Callable, items: Iterable, window: int) -> Iterator:
    """``pool.map`` with at most ``window`` results in flight: encoded videos wait in memory only
    until they are written, in order."""
    pending: list = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    while pending:
        yield pending.pop(0).result()


def write_compressed(sources: Sequence, lengths: Sequence[int], out: Path, size_hw: tuple[int, int],
                     quality: int = DEFAULT_QUALITY, threads: int = 1,
                     progress: Callable[[Iterator], Iterator] | None = None) -> None:
    """Write the compressed store of ``sources`` (``VideoSource``s of ``lengths`` frames) to ``out``
    (the caller writes to a temporary name and renames). Frame files that can be stored as they are
    (``passthrough_bytes``) are copied; every other frame is resized and JPEG-encoded."""
    height, width = size_hw
    first = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    n = int(first[-1])
    header = json.dumps({"version": VERSION, "height": height, "width": width, "frames": n, "quality": int(quality),
                         "videos": [[s.name, int(first[i]), int(lengths[i])] for i, s in enumerate(sources)]},
                        ensure_ascii=False).encode("utf-8")
    header_len = len(header)
    header += b"\0" * ((-header_len) % 8)
    offsets_at = 16 + len(header)
    offsets_bytes, crc_bytes = _section_sizes(n)
    offsets, crc = np.zeros(n + 1, dtype="<i8"), np.zeros(n, dtype="<u4")

    def encode(i: int) -> list[bytes]:
        path = sources[i].path
        if path.is_dir():
            kept = [passthrough_bytes(f, size_hw) for f in list_frame_files(path)]
            encoded = kept
            if any(b is None for b in kept):
                frames = read_frames(path, size_hw)
                encoded = [b if b is not None else encode_jpeg(frame, quality) for b, frame in zip(kept, frames)]
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            encoded = [encode_jpeg(frame, quality) for frame in read_frames(path, size_hw)]
        else:
            encoded = []
        if len(encoded) != lengths[i]:
            raise FrameError(f"{path}: frame count changed during extraction ({lengths[i]} → {len(encoded)})")
        return encoded

    with open(out, "wb") as f, ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        f.write(MAGIC + struct.pack("<Q", header_len) + header)
        f.write(b"\0" * (offsets_bytes + crc_bytes))  # filled in at the end
        position = 0
        videos = _ordered(pool, encode, range(len(sources)), window=2 * max(1, threads))
        for i, encoded in enumerate(progress(videos) if progress else videos):
            for j, data in enumerate(encoded):
                row = int(first[i]) + j
                f.write(data)
                crc[row] = zlib.crc32(data)
                position += len(data)
                offsets[row + 1] = position
        f.seek(offsets_at)
        f.write(offsets.tobytes())
        f.write(crc.tobytes())
        f.flush()
        os.fsync(f.fileno())


# --- writing, indexing and opening a store ----------------------------------------------------

def write_store(sources: Sequence[VideoSource], out_store: Path, out_index: Path, size_hw: tuple[int, int],
                threads: int = 1, progress: bool = True, desc: str = "frames",
                quality: int | None = None) -> pd.DataFrame:
    """Decode every source into the frame store ``out_store`` and write ``out_index``; returns the
    index table. The store's name gives its format: ``.npy`` raw, ``.jpgs`` compressed (JPEG at
    ``quality``, default ``DEFAULT_QUALITY``)."""
    import pandas as pd
    from tqdm import tqdm

    out_store, out_index = Path(out_store), Path(out_index)
    fmt = store_format(out_store)
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    for target in (out_store, out_index):
        remove_stale_temporaries(target)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        lengths = list(pool.map(lambda s: count_frames(s.path), sources))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    try:
        with atomic_paths(out_store, out_index) as (tmp_store, tmp_index):
            if fmt == "raw":
                _write_raw(sources, lengths, offsets, tmp_store, size_hw, threads, progress, desc, out_store)
            else:
                write_compressed(sources, lengths, tmp_store, size_hw,
                                 DEFAULT_QUALITY if quality is None else quality, threads,
                                 lambda videos: tqdm(videos, total=len(sources), desc=desc, unit="video",
                                                     disable=not progress))
            index = pd.DataFrame({"name": [s.name for s in sources], "offset": offsets[:-1],
                                  "length": lengths, "source": [str(s.path) for s in sources]},
                                 columns=INDEX_COLUMNS)
            index.to_csv(tmp_index, sep="\t", index=False)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        # The compressed store and the index are written, not mapped: a full disk is an error here.
        raise FrameError(f"{out_store}: the disk filled up while writing the frame store "
                         f"({_bytes(shutil.disk_usage(out_store.parent).free)} free now)") from exc
    return index


def _bytes(n: int) -> str:
    return f"{n:,} bytes ({n / 1e9:.1f} GB)"


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries (:func:`qbslt.atomic.temporary_path`) of ``target`` that an interrupted
    run left: this process's own name, or that of a process no longer running. A store's can be
    100 GB, the space the next run needs."""
    prefix, suffix = f".{target.name}.", ".tmp"
    if not target.parent.is_dir():
        return
    for path in target.parent.iterdir():
        pid = path.name[len(prefix):-len(suffix)] if path.name.startswith(prefix) and path.name.endswith(suffix) else ""
        if pid.isdigit() and (path == temporary_path(target) or not _running(int(pid))):
            log.info("%s: removing the temporary file of an interrupted run", path)
            path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def reserve_space(path: Path, size: int, target: Path) -> None:
    """Allocate ``size`` bytes of the file ``path`` on disk now (``posix_fallocate``); too little
    space removes ``path`` and raises a ``FrameError`` naming ``target``, the bytes needed and free."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None or size <= 0:
        return  # no such call here (macOS): the writes go unreserved
    fd = os.open(path, os.O_RDWR)
    try:
        fallocate(fd, 0, size)
        return
    except OSError as exc:
        error = exc
    finally:
        os.close(fd)
    if error.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
        log.warning("%s: the file system cannot reserve space (%s); writing unreserved", target, error.strerror)
        return
    path.unlink(missing_ok=True)  # first: the free space below counts what its partial allocation held
    if error.errno in DISK_FULL:
        raise FrameError(f"{target}: not enough disk space for the frame store: {_bytes(size)} needed, "
                         f"{_bytes(shutil.disk_usage(path.parent).free)} available") from error
    raise FrameError(f"{target}: cannot reserve {_bytes(size)} for the frame store: {error.strerror}") from error


def _write_raw(sources: Sequence[VideoSource], lengths: list[int], offsets: np.ndarray, out: Path,
               size_hw: tuple[int, int], threads: int, progress: bool, desc: str, target: Path) -> None:
    from tqdm import tqdm

    # open_memmap writes the header and a sparse file of the final size (and is closed at once); its
    # blocks are reserved before the map is reopened to write: a write into a hole of a full disk
    # is a SIGBUS, not an error.
    np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=(int(offsets[-1]), *size_hw, 3))
    reserve_space(out, out.stat().st_size, target)
    store = np.load(out, mmap_mode="r+")

    def fill(i: int) -> None:
        frames = read_frames(sources[i].path, size_hw)
        if len(frames) != lengths[i]:
            raise FrameError(f"{sources[i].path}: frame count changed during extraction "
                             f"({lengths[i]} → {len(frames)})")
        store[offsets[i]:offsets[i + 1]] = frames  # noqa: F821 (ruff reads the `del store` below as unbinding it)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(tqdm(pool.map(fill, range(len(sources))), total=len(sources), desc=desc,
                  unit="video", disable=not progress))
    store.flush()
    del store


def read_index(path: Path | str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype={"name": str, "source": str}, keep_default_na=False)


def open_store(npy_path: Path | str) -> np.ndarray:
    """Memory-map a raw frame store: uint8 [N, H, W, 3] (either format, one interface:
    :func:`open_frame_store`)."""
    return np.load(npy_path, mmap_mode="r")
