"""Keypoints (Sigma's skeleton input): one keypoint store per dataset split, row for row beside the frame store.

Joint layout (``JOINTS``, 75 joints) -- MediaPipe Holistic's, in its order:

* ``pose.<NAME>``: the 33 pose landmarks, ``mediapipe.solutions.pose.PoseLandmark`` (``NOSE`` ...
  ``RIGHT_FOOT_INDEX``);
* ``left_hand.<NAME>``, ``right_hand.<NAME>``: 21 landmarks each, ``HandLandmark`` (``WRIST`` ...
  ``PINKY_TIP``). Left and right are the signer's own hands, as Holistic names them (a signer facing
  the camera shows the left hand on the image's right).

The names are written out here so that the layout needs no MediaPipe; ``tests/test_keypoints.py``
checks them against MediaPipe's own enums.

A store is three files (``data/<profile>/keypoints/<dataset>/``):

* ``<split>.npy``: float32 [frames, 75, 3] -- x and y normalised to the frame (0..1, left/top is 0;
  MediaPipe's convention) and a score (pose: MediaPipe's visibility; hands: 1.0, Holistic gives none;
  rendered joints: 1.0). Memory-mappable (numpy ``.npy``).
* ``<split>.mask.npy``: bool [frames, 75], True where the joint was found *inside the frame*. A joint
  that was not detected (no hand in view), lies outside the frame (MediaPipe extrapolates pose joints
  beyond the image) or, for rendered data, was not drawn or is hidden by the occluder, is False, and
  its three values are NaN: a reader that ignores the mask fails loudly instead of training on zeros.
* ``<split>.json``: the joint names, channels, frame count, extractor and its settings, and the
  sha256 of the frame index the rows follow.

Row ``r`` is frame ``r`` of the frame store: the rows follow the frame index
(``frames/<dataset>/<split>.index.tsv``) video by video, each video's ``offset``/``length`` the same.
:func:`open_keypoint_store` memory-maps a store and checks all of this, failing with one line that
names the file.

Two extractors fill a store (``data.keypoints.extractor``; ``auto``: ``renderer`` for the embedded and
realtext profiles, whose video is rendered, ``mediapipe`` for the paper profile):

* ``renderer``: the sign renderer (:mod:`qbslt.data.synth.render`) knows where it drew the head, the
  shoulders and each hand; the generator writes those positions per video (``keypoints.npy`` in the
  video's frame folder, float32 [T, 75, 3], NaN where nothing was drawn) and :func:`assemble_rendered`
  puts them together in frame-index order. MediaPipe finds nothing in drawn shapes.
* ``mediapipe``: MediaPipe Holistic (``mediapipe==0.10.14``, whose wheel ships the pose and hand
  models: no download at run time) on every frame of the frame store, in video mode, one tracker per
  video (:func:`extract_mediapipe`); :func:`detect_image` runs it on one image (``static_image_mode``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from qbslt.atomic import atomic_paths
from qbslt.errors import KeypointError
from qbslt.profiles import Profile

# mediapipe.solutions.pose.PoseLandmark, in enum order.
POSE_LANDMARKS = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE",
    "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)
# mediapipe.solutions.hands.HandLandmark, in enum order.
HAND_LANDMARKS = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)
# (part, Holistic result attribute, its landmark names); the store's joints are these, in this order.
PARTS = (
    ("pose", "pose_landmarks", POSE_LANDMARKS),
    ("left_hand", "left_hand_landmarks", HAND_LANDMARKS),
    ("right_hand", "right_hand_landmarks", HAND_LANDMARKS),
)
JOINTS = tuple(f"{part}.{name}" for part, _, names in PARTS for name in names)
NUM_JOINTS = len(JOINTS)  # 75
JOINT_INDEX = {name: i for i, name in enumerate(JOINTS)}
CHANNELS = ("x", "y", "score")
BYTES_PER_FRAME = NUM_JOINTS * len(CHANNELS) * 4 + NUM_JOINTS  # float32 points and the bool mask
VERSION = 1

EXTRACTORS = ("renderer", "mediapipe")
RENDERED_NAME = "keypoints.npy"  # the renderer's per-video file, inside the video's frame folder
MEDIAPIPE_VERSION = "0.10.14"
# data.keypoints of params.yaml when it is absent.
DEFAULTS = {"extractor": "auto", "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5}
# Holistic's pose model: 1 (pose_landmark_full) is the one the 0.10.14 wheel ships; 0 (lite) and 2
# (heavy) would be downloaded at run time, so they are not offered.
MODEL_COMPLEXITY = 1
INSTALL_HINT = (f"pip install 'qbslt[keypoints]' (mediapipe=={MEDIAPIPE_VERSION}), or run Snakemake with "
                f"--use-conda (workflow/envs/keypoints.yaml)")


def resolve_extractor(extractor: str, profile: str) -> str:
    """``auto`` -> ``renderer`` for rendered profiles, else ``mediapipe``; an explicit choice stays."""
    if extractor == "auto":
        return "renderer" if Profile.named(profile).rendered_video else "mediapipe"
    if extractor not in EXTRACTORS:
        raise KeypointError(f"data.keypoints.extractor: unknown extractor {extractor!r} "
                            f"(known: auto, {', '.join(EXTRACTORS)})")
    return extractor


# --- files -------------------------------------------------------------------------------------

def mask_path(path: Path | str) -> Path:
    """``<split>.mask.npy`` beside the store ``<split>.npy``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.mask.npy")


def meta_path(path: Path | str) -> Path:
    """``<split>.json`` beside the store ``<split>.npy``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def empty_points(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(points NaN [frames, 75, 3], mask False [frames, 75]): nothing found."""
    return (np.full((frames, NUM_JOINTS, 3), np.nan, dtype=np.float32),
            np.zeros((frames, NUM_JOINTS), dtype=bool))


def in_view(points: np.ndarray) -> np.ndarray:
    """Mask of the joints that are present and inside the frame (x, y in [0, 1])."""
    x, y = points[..., 0], points[..., 1]
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)


def _masked(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points with every joint outside the mask set to NaN, mask)."""
    points = np.array(points, dtype=np.float32)
    mask = in_view(points)
    points[~mask] = np.nan
    return points, mask


def _index_spans(index_path: Path) -> tuple[list[tuple[int, int]], list[str], int]:
    """([(offset, length)], [source], total frames) of a frame index; contiguous or KeypointError."""
    from qbslt.data.frame_store import read_index

    try:
        index = read_index(index_path)
    except (OSError, ValueError, KeyError) as exc:
        raise KeypointError(f"{index_path}: unreadable frame index: {exc}") from exc
    offsets, lengths = [int(v) for v in index["offset"]], [int(v) for v in index["length"]]
    position = 0
    for name, offset, length in zip(index["name"], offsets, lengths):
        if offset != position:
            raise KeypointError(f"{index_path}: video {name} starts at row {offset}, expected {position} "
                                f"(the index is not contiguous)")
        position += length
    return list(zip(offsets, lengths)), [str(s) for s in index["source"]], position


def write_keypoint_store(out: Path | str, index_path: Path | str,
                         videos: Iterable[tuple[np.ndarray, np.ndarray]], extractor: str,
                         settings: Mapping | None = None) -> dict:
    """Write the store ``out`` (``<split>.npy``, ``.mask.npy``, ``.json``, atomically) from ``videos``:
    (points [T, 75, 3], mask [T, 75]) per row of the frame index ``index_path``, in its order. Returns
    the metadata."""
    out, index_path = Path(out), Path(index_path)
    spans, _, frames = _index_spans(index_path)
    with atomic_paths(out, mask_path(out), meta_path(out)) as (tmp_points, tmp_mask, tmp_meta):
        points = np.lib.format.open_memmap(tmp_points, mode="w+", dtype=np.float32, shape=(frames, NUM_JOINTS, 3))
        mask = np.lib.format.open_memmap(tmp_mask, mode="w+", dtype=np.bool_, shape=(frames, NUM_JOINTS))
        count = 0
        for (offset, length), (p, m) in zip(spans, videos):
            if p.shape != (length, NUM_JOINTS, 3) or m.shape != (length, NUM_JOINTS):
                raise KeypointError(f"{index_path}: row {count}: keypoints {p.shape} / mask {m.shape} for a video of "
                                    f"{length} frames (expected ({length}, {NUM_JOINTS}, 3) / ({length}, {NUM_JOINTS}))")
            points[offset:offset + length] = np.where(m[..., None], p, np.float32(np.nan))
            mask[offset:offset + length] = m
            count += 1
        if count != len(spans):
            raise KeypointError(f"{index_path}: keypoints for {count} of {len(spans)} videos")
        points.flush()
        mask.flush()
        del points, mask
        meta = {"version": VERSION, "frames": frames, "videos": len(spans), "joints": list(JOINTS),
                "channels": list(CHANNELS), "extractor": extractor, "settings": dict(settings or {}),
                "index": str(index_path), "index_sha256": _sha256(index_path)}
        tmp_meta.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


class KeypointStore:
    """A memory-mapped keypoint store: ``points`` float32 [N, 75, 3], ``mask`` bool [N, 75], ``meta``."""

    def __init__(self, path: Path | str, index_path: Path | str | None = None):
        self.path = Path(path)
        self.meta = self._read_meta()
        self.points = self._load(self.path, np.float32, (NUM_JOINTS, 3))
        self.mask = self._load(mask_path(self.path), np.bool_, (NUM_JOINTS,))
        if len(self.points) != len(self.mask):
            raise KeypointError(f"{mask_path(self.path)}: {len(self.mask)} rows, its store {self.path} has "
                                f"{len(self.points)}")
        if len(self.points) != self.meta["frames"]:
            raise KeypointError(f"{self.path}: {len(self.points)} rows, {meta_path(self.path)} says "
                                f"{self.meta['frames']}")
        if index_path is not None:
            self.check_index(index_path)

    def _read_meta(self) -> dict:
        path = meta_path(self.path)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeypointError(f"{path}: missing (every keypoint store has one; rerun the keypoints step)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeypointError(f"{path}: unreadable keypoint metadata: {exc}") from exc
        if meta.get("version") != VERSION:
            raise KeypointError(f"{path}: keypoint store version {meta.get('version')} (this code reads {VERSION})")
        if tuple(meta.get("joints", ())) != JOINTS:
            raise KeypointError(f"{path}: joint layout differs from qbslt.data.keypoints.JOINTS "
                                f"({len(meta.get('joints', ()))} joints)")
        return meta

    @staticmethod
    def _load(path: Path, dtype, tail: tuple[int, ...]) -> np.ndarray:
        try:
            array = np.load(path, mmap_mode="r")
        except FileNotFoundError:
            raise KeypointError(f"{path}: missing (rerun the keypoints step)") from None
        except (OSError, ValueError, EOFError) as exc:
            raise KeypointError(f"{path}: truncated or unreadable: {str(exc).strip().splitlines()[0]}") from exc
        if array.dtype != dtype or array.shape[1:] != tail:
            raise KeypointError(f"{path}: {array.dtype} {array.shape}, expected {np.dtype(dtype)} [N, "
                                f"{', '.join(map(str, tail))}]")
        return array

    def check_index(self, index_path: Path | str) -> None:
        """The rows follow ``index_path``: same frame count and the very index the store was written from."""
        index_path = Path(index_path)
        _, _, frames = _index_spans(index_path)
        if frames != len(self.points):
            raise KeypointError(f"{self.path}: {len(self.points)} rows, but the frame index {index_path} has "
                                f"{frames} frames (rerun the keypoints step)")
        if _sha256(index_path) != self.meta["index_sha256"]:
            raise KeypointError(f"{self.path}: written from another frame index than {index_path} "
                                f"(rerun the keypoints step)")

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(points, mask) of ``rows`` (copies)."""
        return np.array(self.points[rows]), np.array(self.mask[rows])

    def __repr__(self) -> str:
        return f"KeypointStore({str(self.path)!r}, frames={len(self)}, extractor={self.meta['extractor']!r})"


def open_keypoint_store(path: Path | str, index_path: Path | str | None = None) -> KeypointStore:
    """Memory-map the keypoint store ``path``; with ``index_path`` (the frame index) check the rows follow it."""
    return KeypointStore(path, index_path)


# --- renderer ----------------------------------------------------------------------------------

def read_rendered(source: Path | str, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(points, mask) of one rendered video from ``<frame folder>/keypoints.npy`` (NaN: not drawn)."""
    path = Path(source) / RENDERED_NAME
    try:
        points = np.load(path)
    except FileNotFoundError:
        raise KeypointError(f"{path}: missing: the raw data was not written by a renderer that records keypoints "
                            f"(regenerate it, or set data.keypoints.extractor: mediapipe)") from None
    except (OSError, ValueError, EOFError) as exc:
        raise KeypointError(f"{path}: unreadable: {str(exc).strip().splitlines()[0]}") from exc
    if points.dtype != np.float32 or points.shape != (length, NUM_JOINTS, 3):
        raise KeypointError(f"{path}: {points.dtype} {points.shape}, expected float32 ({length}, {NUM_JOINTS}, 3) "
                            f"(the video has {length} frames in the frame index)")
    return _masked(points)


def assemble_rendered(index_path: Path | str, out: Path | str) -> dict:
    """The keypoint store of a rendered split: each video's ``keypoints.npy``, in frame-index order."""
    spans, sources, _ = _index_spans(Path(index_path))
    videos = (read_rendered(source, length) if length else empty_points(0)
              for (_, length), source in zip(spans, sources))
    return write_keypoint_store(out, index_path, videos, "renderer")


# --- MediaPipe ---------------------------------------------------------------------------------

def import_mediapipe():
    """``mediapipe`` with its legacy ``solutions`` API (0.10.14), or a one-line KeypointError saying how
    to install it."""
    # protobuf 4.25, which mediapipe 0.10.14 pins, warns about its own API on every Holistic result
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        import mediapipe
    except ImportError as exc:
        raise KeypointError(f"the MediaPipe keypoint extractor needs mediapipe: {INSTALL_HINT}") from exc
    if not hasattr(mediapipe, "solutions"):
        raise KeypointError(f"mediapipe {getattr(mediapipe, '__version__', '?')} has no solutions.holistic: "
                            f"{INSTALL_HINT}")
    return mediapipe


def holistic(mp, settings: Mapping | None = None, static_image_mode: bool = False):
    """A MediaPipe Holistic solution: video mode (tracking across frames) or ``static_image_mode``."""
    s = {**DEFAULTS, **(settings or {})}
    return mp.solutions.holistic.Holistic(
        static_image_mode=static_image_mode, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=True,
        enable_segmentation=False, refine_face_landmarks=False,
        min_detection_confidence=float(s["min_detection_confidence"]),
        min_tracking_confidence=float(s["min_tracking_confidence"]))


def from_results(results) -> tuple[np.ndarray, np.ndarray]:
    """(points [75, 3], mask [75]) of one Holistic result; parts it did not find stay masked."""
    points = np.full((NUM_JOINTS, 3), np.nan, dtype=np.float32)
    start = 0
    for part, attribute, names in PARTS:
        found = getattr(results, attribute, None)
        if found is not None:
            scored = part == "pose"  # hand landmarks carry no visibility in Holistic
            points[start:start + len(names)] = [(lm.x, lm.y, lm.visibility if scored else 1.0)
                                                for lm in found.landmark[:len(names)]]
        start += len(names)
    return _masked(points)


def detect_image(image: np.ndarray, settings: Mapping | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of one RGB uint8 image [H, W, 3] (``static_image_mode``): (points [75, 3], mask [75])."""
    mp = import_mediapipe()
    with holistic(mp, settings, static_image_mode=True) as solution:
        return from_results(solution.process(np.ascontiguousarray(image)))


def detect_video(frames: np.ndarray, settings: Mapping | None = None, mp=None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of one video, RGB uint8 [T, H, W, 3], in video mode (one tracker for the video)."""
    mp = mp or import_mediapipe()
    points, mask = empty_points(len(frames))
    if not len(frames):
        return points, mask
    with holistic(mp, settings) as solution:
        for t, frame in enumerate(frames):
            points[t], mask[t] = from_results(solution.process(np.ascontiguousarray(frame)))
    return points, mask


_WORKER: dict = {}


def _worker_init(store_path: str, settings: dict) -> None:
    from qbslt.data.frame_store import open_frame_store

    _WORKER.update(store=open_frame_store(store_path), settings=settings, mp=import_mediapipe())


def _worker_video(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    offset, length = span
    if not length:
        return empty_points(0)
    frames = _WORKER["store"][offset:offset + length]
    return detect_video(frames, _WORKER["settings"], _WORKER["mp"])


def extract_mediapipe(store_path: Path | str, index_path: Path | str, out: Path | str,
                      settings: Mapping | None = None, threads: int = 1, progress: bool = True) -> dict:
    """The keypoint store of a frame store (either format): MediaPipe Holistic on every frame, video by
    video; ``threads`` > 1 runs that many worker processes (one video each at a time)."""
    from tqdm import tqdm

    version = import_mediapipe().__version__  # fail before any work, in one line
    settings = {k: v for k, v in {**DEFAULTS, **(settings or {})}.items() if k != "extractor"}
    settings["model_complexity"] = MODEL_COMPLEXITY
    spans, _, _ = _index_spans(Path(index_path))
    store = str(store_path)
    desc = f"keypoints {Path(index_path).stem.split('.')[0]}"

    def videos() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if threads <= 1:
            _worker_init(store, settings)
            try:
                yield from map(_worker_video, spans)
            finally:
                _WORKER.clear()
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: MediaPipe's and torch's threads do not survive a fork
        with ProcessPoolExecutor(max_workers=threads, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(store, settings)) as pool:
            yield from pool.map(_worker_video, spans, chunksize=1)

    return write_keypoint_store(out, index_path, tqdm(videos(), total=len(spans), desc=desc, unit="video",
                                                      disable=not progress),
                                "mediapipe", {**settings, "mediapipe": version})
