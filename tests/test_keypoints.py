"""Keypoint stores: the joint layout, MediaPipe Holistic on a real photograph, the renderer's keypoints,
and the store's shapes, masks and checks."""

import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

from qbslt import config
from qbslt.data import keypoints as kp
from qbslt.data.frames import VideoSource, list_frame_files
from qbslt.data.frame_store import read_index, write_store
from qbslt.data.sources import RawDataset
from qbslt.data.synth.generate import generate_dataset, render_settings
from qbslt.data.synth.render import SignRenderer
from qbslt.errors import ConfigError, KeypointError

from conftest import REPO

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(not HAS_MEDIAPIPE, reason=f"mediapipe is not installed ({kp.INSTALL_HINT})")
# Joints a person in an upper-body portrait shows: face and shoulders.
PORTRAIT_JOINTS = ["pose.NOSE", "pose.LEFT_EYE", "pose.RIGHT_EYE", "pose.LEFT_SHOULDER", "pose.RIGHT_SHOULDER"]
DRAWN_POSE = {"pose.NOSE", "pose.LEFT_EAR", "pose.RIGHT_EAR", "pose.LEFT_SHOULDER", "pose.RIGHT_SHOULDER"}


def portrait() -> np.ndarray:
    """Grace Hopper's portrait (matplotlib's sample photograph): RGB uint8 [600, 512, 3]."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def joints(*names: str) -> list[int]:
    return [kp.JOINT_INDEX[n] for n in names]


def hand_joints() -> list[int]:
    return [i for i, name in enumerate(kp.JOINTS) if name.split(".")[0] != "pose"]


# --- layout ------------------------------------------------------------------------------------

def test_joint_layout():
    assert kp.NUM_JOINTS == 75 == 33 + 21 + 21
    assert kp.JOINTS[0] == "pose.NOSE" and kp.JOINTS[33] == "left_hand.WRIST" and kp.JOINTS[54] == "right_hand.WRIST"
    assert len(set(kp.JOINTS)) == 75


@needs_mediapipe
def test_joint_names_are_mediapipes_own():
    import mediapipe as mp

    holistic = mp.solutions.holistic
    assert kp.POSE_LANDMARKS == tuple(lm.name for lm in sorted(holistic.PoseLandmark, key=int))
    assert kp.HAND_LANDMARKS == tuple(lm.name for lm in sorted(holistic.HandLandmark, key=int))


def test_missing_mediapipe_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as if not installed
    with pytest.raises(KeypointError) as info:
        kp.import_mediapipe()
    assert "\n" not in str(info.value) and "pip install 'qbslt[keypoints]'" in str(info.value)


def test_extractor_choice_and_schema():
    assert kp.resolve_extractor("auto", "embedded") == kp.resolve_extractor("auto", "realtext") == "renderer"
    assert kp.resolve_extractor("auto", "paper") == "mediapipe"
    assert kp.resolve_extractor("mediapipe", "embedded") == "mediapipe"
    import yaml

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert config.resolve(raw)["data"]["keypoints"]["extractor"] == "auto"
    raw["data"]["keypoints"]["extractor"] = "openpose"
    with pytest.raises(ConfigError, match="keypoints"):
        config.resolve(raw)


# --- MediaPipe on a real photograph ------------------------------------------------------------

@needs_mediapipe
def test_mediapipe_finds_the_pose_in_a_real_portrait_and_masks_the_hands():
    points, mask = kp.detect_image(portrait())
    assert points.shape == (75, 3) and points.dtype == np.float32 and mask.shape == (75,) and mask.dtype == bool
    face = joints(*PORTRAIT_JOINTS)
    assert mask[face].all()
    xy = points[face, :2]
    assert ((xy > 0) & (xy < 1)).all()
    nose, left, right = (points[kp.JOINT_INDEX[n]] for n in ("pose.NOSE", "pose.LEFT_SHOULDER", "pose.RIGHT_SHOULDER"))
    assert right[0] < nose[0] < left[0] and nose[1] < min(left[1], right[1])  # facing the camera, head above
    assert (points[face, 2] > 0.5).all()  # visibility
    # No hand is in view (the portrait ends above the hands): masked and NaN, never zeros.
    assert not mask[hand_joints()].any() and np.isnan(points[hand_joints()]).all()
    # Hips lie below the picture: MediaPipe extrapolates them, the mask drops them.
    assert not mask[joints("pose.LEFT_HIP", "pose.RIGHT_HIP")].any()
    assert np.isnan(points[~mask]).all() and np.isfinite(points[mask]).all()


@needs_mediapipe
@pytest.mark.parametrize("fmt", ["raw", "jpeg"])
def test_mediapipe_extractor_over_a_frame_store(tmp_path, fmt):
    image = Image.fromarray(portrait()).resize((128, 150), Image.BILINEAR)
    folder = tmp_path / "src" / "hopper"
    folder.mkdir(parents=True)
    for k in range(3):  # a still "video" of three frames, the second one shifted a little
        frame = image.transform(image.size, Image.AFFINE, (1, 0, 2 * (k == 1), 0, 1, 0))
        frame.save(folder / f"{k:04d}.png")
    (tmp_path / "src" / "empty").mkdir()
    sources = [VideoSource("hopper", folder), VideoSource("empty", tmp_path / "src" / "empty")]
    store = tmp_path / "frames" / ("train.npy" if fmt == "raw" else "jpeg/train.jpgs")
    index = tmp_path / "frames" / "train.index.tsv"
    write_store(sources, store, index, (150, 128), progress=False)
    out = tmp_path / "keypoints" / "train.npy"
    meta = kp.extract_mediapipe(store, index, out, {"min_detection_confidence": 0.5}, threads=1, progress=False)
    assert meta["extractor"] == "mediapipe" and meta["settings"]["mediapipe"] == "0.10.14"
    found = kp.open_keypoint_store(out, index)
    assert found.points.shape == (3, 75, 3) and found.mask.shape == (3, 75)
    assert found.mask[:, joints(*PORTRAIT_JOINTS)].all()
    assert not found.mask[:, hand_joints()].any()
    assert sorted(p.name for p in out.parent.iterdir()) == ["train.json", "train.mask.npy", "train.npy"]


# --- the store ---------------------------------------------------------------------------------

def _index(tmp_path, lengths):
    """A frame index of videos of ``lengths`` frames (empty folders stand in for the sources)."""
    import pandas as pd

    offsets = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    path = tmp_path / "frames" / "dev.index.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"name": [f"v{i}" for i in range(len(lengths))], "offset": offsets, "length": lengths,
                  "source": [str(tmp_path / f"v{i}") for i in range(len(lengths))]}).to_csv(path, sep="\t", index=False)
    return path


def test_store_shapes_masks_and_rows(tmp_path):
    index = _index(tmp_path, [2, 0, 3])
    rng = np.random.default_rng(0)
    videos = []
    for length in (2, 0, 3):
        points = rng.uniform(0, 1, (length, 75, 3)).astype(np.float32)
        mask = rng.random((length, 75)) < 0.5
        videos.append((points, mask))
    out = tmp_path / "keypoints" / "dev.npy"
    meta = kp.write_keypoint_store(out, index, iter(videos), "renderer")
    assert meta["frames"] == 5 and meta["videos"] == 3 and meta["joints"] == list(kp.JOINTS)
    store = kp.open_keypoint_store(out, index)
    assert isinstance(store.points, np.memmap) and isinstance(store.mask, np.memmap)
    assert store.points.shape == (5, 75, 3) and store.points.dtype == np.float32
    assert store.mask.shape == (5, 75) and store.mask.dtype == bool
    expected_points = np.concatenate([v[0] for v in videos])
    expected_mask = np.concatenate([v[1] for v in videos])
    assert (store.mask == expected_mask).all()
    np.testing.assert_array_equal(store.points[expected_mask], expected_points[expected_mask])
    assert np.isnan(store.points[~expected_mask]).all()  # masked: NaN, never a silent zero
    assert json.loads(kp.meta_path(out).read_text())["channels"] == ["x", "y", "score"]
    assert not list(out.parent.glob(".*.tmp"))


def test_store_checks_name_the_file_in_one_line(tmp_path):
    index = _index(tmp_path, [2, 3])
    out = tmp_path / "keypoints" / "dev.npy"
    with pytest.raises(KeypointError, match="row 1") as info:
        kp.write_keypoint_store(out, index, iter([kp.empty_points(2), kp.empty_points(4)]), "renderer")
    assert "\n" not in str(info.value)
    assert not out.exists() and not list(out.parent.glob(".*.tmp"))  # atomic: nothing half-written
    kp.write_keypoint_store(out, index, iter([kp.empty_points(2), kp.empty_points(3)]), "renderer")

    def fails(match, *args):
        with pytest.raises(KeypointError, match=match) as info:
            kp.open_keypoint_store(out, *args)
        assert "\n" not in str(info.value)

    other = _index(tmp_path / "other", [2, 2])
    fails(f"{other}.* has 4 frames", other)
    same_rows = _index(tmp_path / "again", [1, 4])  # same frame count, another index
    fails("another frame index", same_rows)
    np.save(kp.mask_path(out), np.zeros((4, 75), bool))
    fails(f"{kp.mask_path(out)}: 4 rows")
    np.save(kp.mask_path(out), np.zeros((5, 74), bool))
    fails(f"{kp.mask_path(out)}: bool \\(5, 74\\)")
    kp.mask_path(out).write_bytes(b"\x93NUMPY")
    fails(f"{kp.mask_path(out)}: truncated or unreadable")
    kp.meta_path(out).unlink()
    fails(f"{kp.meta_path(out)}: missing")


# --- the renderer's keypoints ------------------------------------------------------------------

def test_rendered_video_is_unchanged_and_keypoints_are_where_it_drew():
    settings = {"frames_per_gloss": [3, 5], "transition_frames": [1, 2], "noise_std": 0.0}
    renderer = SignRenderer((40, 32), settings, seed=3)
    glosses = ["REGEN", "MORGEN", "WIND", "NORD", "SONNE"]
    video = renderer.render(glosses, "s1", np.random.default_rng(5))
    again, points = renderer.render_with_keypoints(glosses, "s1", np.random.default_rng(5))
    assert video.tobytes() == again.tobytes()
    assert points.shape == (len(video), 75, 3) and points.dtype == np.float32
    mask = kp.in_view(points)
    drawn = {kp.JOINTS[i] for i in np.flatnonzero(mask.any(axis=0))}
    assert drawn - DRAWN_POSE <= {"right_hand.WRIST", "left_hand.WRIST"} and "right_hand.WRIST" in drawn
    assert mask[:, joints(*DRAWN_POSE)].all() and mask[:, kp.JOINT_INDEX["right_hand.WRIST"]].all()
    assert (points[mask][:, 2] == 1.0).all() and np.isnan(points[~mask]).all()
    # The right hand's recorded centre is painted over the signer's base image (background or body).
    base = np.asarray(renderer._base_image(renderer.signer("s1")))
    x, y = points[:, kp.JOINT_INDEX["right_hand.WRIST"], :2].T
    rows, cols = (y * 40).astype(int).clip(0, 39), (x * 32).astype(int).clip(0, 31)
    painted = (video[np.arange(len(video)), rows, cols] != base[rows, cols]).any(axis=1)
    assert painted.mean() >= 0.8  # a skin-coloured transition hand over the head looks like the head


def test_occluded_and_out_of_frame_joints_are_masked():
    renderer = SignRenderer((40, 32), {"frames_per_gloss": [3, 3], "transition_frames": [1, 1], "noise_std": 0.0})
    signer = renderer.signer("s")
    from qbslt.data.synth.render import Hand

    hands = [Hand(0.3, 0.3, 0.2, "circle", (255, 0, 0)), Hand(1.5, 0.5, 0.2, "circle", (255, 0, 0))]
    whole = (0, 1, (0.0, 0.5, 1.0, 1.0), (0, 0, 0))  # covers the lower half: the shoulders
    points = renderer._keypoints(hands, signer, (0.0, 0.0), whole)
    mask = kp.in_view(points)
    right = points[kp.JOINT_INDEX["right_hand.WRIST"]]
    assert right[0] == pytest.approx(0.3 + signer.offset[0]) and right[1] == pytest.approx(0.3 + signer.offset[1])
    assert not mask[kp.JOINT_INDEX["left_hand.WRIST"]]  # outside the frame
    assert not mask[joints("pose.LEFT_SHOULDER", "pose.RIGHT_SHOULDER")].any()  # under the occluder
    assert mask[kp.JOINT_INDEX["pose.NOSE"]]


def _tiny_cfg():
    return {"seed": 7, "phoenix": {"signers": 3, "train": 6, "dev": 3, "test": 3},
            "csl": {"signers": 3, "train": 6, "dev": 3, "test": 3},
            "render": {"frames_per_gloss": [3, 5], "transition_frames": [1, 2], "noise_std": 6.0},
            "hard_video": {"speed_jitter": 0.3, "coarticulation": 0.5, "drop_frames": 0.1, "occlusion": 0.5,
                           "lighting": 0.1, "noise_std": 8.0},
            "questions": {"partial": 0.5, "disambiguating": 0.2, "unrelated": 0.1, "yes_no": 0.2},
            "inject_defects": True}


@pytest.mark.parametrize("dataset", ["phoenix", "csl"])
def test_generated_videos_carry_their_keypoints_and_the_store_follows_the_frame_index(tmp_path, dataset):
    cfg = _tiny_cfg()
    assert render_settings(cfg)["occlusion"] == 0.5
    generate_dataset(dataset, tmp_path / "raw", cfg, (40, 32), progress=False)
    raw = RawDataset.from_manifest(tmp_path / "raw" / "manifest.json")
    sources = raw.video_sources("train")
    written = [s for s in sources if list_frame_files(s.path)]
    assert written
    for source in written:
        points = np.load(source.path / kp.RENDERED_NAME)
        assert points.shape == (len(list_frame_files(source.path)), 75, 3) and points.dtype == np.float32
    index = tmp_path / "frames" / "train.index.tsv"
    write_store(sources, tmp_path / "frames" / "train.npy", index, (40, 32), progress=False)
    out = tmp_path / "keypoints" / "train.npy"
    kp.assemble_rendered(index, out)
    store = kp.open_keypoint_store(out, index)
    assert len(store) == len(np.load(tmp_path / "frames" / "train.npy", mmap_mode="r"))
    table = read_index(index)
    for row in table.itertuples():
        if row.length:
            expected = np.load(f"{row.source}/{kp.RENDERED_NAME}")
            got = store.points[row.offset:row.offset + row.length]
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_array_equal(got[np.isfinite(got)], expected[np.isfinite(expected)])
    seen = store.mask.mean(axis=0)
    assert seen[kp.JOINT_INDEX["right_hand.WRIST"]] > 0.5 and seen[kp.JOINT_INDEX["pose.NOSE"]] > 0.5
    never = [i for i, name in enumerate(kp.JOINTS) if name not in DRAWN_POSE | {"right_hand.WRIST", "left_hand.WRIST"}]
    assert not store.mask[:, never].any()
    assert store.mask[:, joints(*DRAWN_POSE)].mean() < 1.0  # the occluder hides the body now and then


def test_missing_rendered_keypoints_is_one_line(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "0000.png")
    index = tmp_path / "frames" / "dev.index.tsv"
    write_store([VideoSource("v", folder)], tmp_path / "frames" / "dev.npy", index, (8, 8), progress=False)
    with pytest.raises(KeypointError, match=f"{folder / kp.RENDERED_NAME}: missing") as info:
        kp.assemble_rendered(index, tmp_path / "keypoints" / "dev.npy")
    assert "\n" not in str(info.value)
    np.save(folder / kp.RENDERED_NAME, np.zeros((2, 75, 3), np.float32))
    with pytest.raises(KeypointError, match="video has 1 frames"):
        kp.assemble_rendered(index, tmp_path / "keypoints" / "dev.npy")


def test_cli_writes_the_renderer_store(tmp_path):
    from qbslt.cli import main

    generate_dataset("phoenix", tmp_path / "raw", _tiny_cfg(), (40, 32), progress=False)
    raw = RawDataset.from_manifest(tmp_path / "raw" / "manifest.json")
    index = tmp_path / "frames" / "dev.index.tsv"
    write_store(raw.video_sources("dev"), tmp_path / "frames" / "dev.npy", index, (40, 32), progress=False)
    out = tmp_path / "keypoints" / "dev.npy"
    assert main(["keypoints", "--index", str(index), "--frame-store", str(tmp_path / "frames" / "dev.npy"),
                 "--out", str(out), "--extractor", "renderer", "--no-progress", "--cfg", "{}"]) == 0
    assert kp.open_keypoint_store(out, index).meta["extractor"] == "renderer"
