"""One object per dataset (qbslt.data.datasets): a third dataset is one more object, no edit elsewhere."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from qbslt import config
from qbslt.cli import main
from qbslt.data import annotations, check, datasets, layout
from qbslt.data.datasets import DATASETS, DatasetSpec, VideoListFormat, get_dataset
from qbslt.data.join import render_report_md
from qbslt.errors import AnnotationError, ConfigError

# --- a toy dataset in a layout of its own -----------------------------------------------------
# <root>/clips/<split>/<name>/frame<k>.png, <root>/videos.txt ("name|split|signer|translation"),
# QA files "<name>\t<translation>\t<question>\t<gloss>".

VIDEOS_HEADER = "name|split|signer|translation"


def _read_toy_qa(path, expected_split=None):
    path, records = Path(path), []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 4:
            raise AnnotationError(path, number, f"expected 4 tab-separated fields, found {len(fields)}")
        name, translation, question, gloss = fields
        records.append(annotations.QARecord(name=name, translation=translation, question=question, gloss=gloss,
                                            source=f"{path}:{number}"))
    return records


def _read_toy_videos(path):
    rows = [line.split("|") for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [row for row in rows[1:] if len(row) == 4]


def _toy_videos(root, split):
    return {name: {"signer": signer, "translation": translation, "frames": Path(root) / "clips" / split / name}
            for name, row_split, signer, translation in _read_toy_videos(Path(root) / "videos.txt")
            if row_split == split}


TOY = DatasetSpec(
    name="toy", title="Toy-QA", eval_level="word", release_dir="toy-release", frame_suffix=".png",
    frames_dir=lambda root, split, name: Path(root) / "clips" / split / name,
    frame_name=lambda index: f"frame{index}.png",
    read_qa=_read_toy_qa, videos=_toy_videos,
    video_list=VideoListFormat("videos", lambda first: first == VIDEOS_HEADER, _read_toy_videos),
    read_corpus=None, corpus_name=None, signer_from_name=lambda name: None,
    check_translation=True, real_dir="toy-qa", fetch_root=None, load_synthetic=None)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(DATASETS, "toy", TOY)
    return TOY


def _toy_tree(base: Path) -> Path:
    """A raw toy dataset with one row of every drop reason in each split; returns its manifest."""
    root, qa_dir = TOY.embedded_roots(base)
    videos = [VIDEOS_HEADER]
    for split in layout.SPLITS:
        for name, frames in (("a", 2), ("b", 3), ("c", 0), ("d", 2)):
            videos.append(f"{split}-{name}|{split}|S{name}|the {name} text")
            folder = TOY.frames_dir(root, split, f"{split}-{name}")
            folder.mkdir(parents=True)
            for k in range(frames):
                Image.fromarray(np.full((8, 6, 3), k, np.uint8)).save(folder / TOY.frame_name(k))
        qa = [f"{split}-a\tthe a text\twhat a text ?\tA",
              f"{split}-a\tthe a text\twhat a text ?\tA",  # duplicate name
              f"{split}-b\tthe b text\t\tB",  # empty question
              f"{split}-x\tthe x text\twhat x ?\tX",  # unknown video
              f"{split}-c\tthe c text\twhat c ?\tC",  # no frames
              f"{split}-d\tanother d text\twhat d ?\tD"]  # translation mismatch
        layout.qa_path(qa_dir, split).parent.mkdir(parents=True, exist_ok=True)
        layout.qa_path(qa_dir, split).write_text("\n".join(qa), encoding="utf-8")
    (root / "videos.txt").write_text("\n".join(videos) + "\n", encoding="utf-8")
    manifest = base / "manifest.json"
    manifest.write_text(json.dumps({"dataset": "toy", "root": TOY.release_dir, "qa_dir": "qa"}))
    return manifest


def test_a_registered_toy_dataset_joins_with_no_edit_elsewhere(toy, tmp_path):
    manifest = _toy_tree(tmp_path / "raw")
    frames = tmp_path / "frames"
    for split in layout.SPLITS:
        assert main(["extract-frames", "--manifest", str(manifest), "--split", split, "--size", "4", "4",
                     "--out-npy", str(frames / f"{split}.npy"), "--out-index", str(frames / f"{split}.index.tsv"),
                     "--no-progress"]) == 0
    out = tmp_path / "examples"
    assert main(["join", "--manifest", str(manifest), "--frames-dir", str(frames), "--out-dir", str(out),
                 "--report-json", str(tmp_path / "report.json"), "--report-md", str(tmp_path / "report.md")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    for split in layout.SPLITS:
        entry = report["splits"][split]
        assert (entry["annotated"], entry["kept"]) == (6, 1)
        assert all(n == 1 for n in entry["dropped_by_reason"].values()), entry["dropped_by_reason"]
        assert (out / f"{split}.tsv").read_text().splitlines()[1].startswith(f"{split}-a\tSa\t{split}\t0\t2\t")
    assert "word level" in (tmp_path / "report.md").read_text()


def test_toy_annotations_check_and_eval_level(toy, tmp_path):
    _toy_tree(tmp_path)
    root, qa_dir = TOY.embedded_roots(tmp_path)
    summary = check.check_files("toy", [root / "videos.txt", layout.qa_path(qa_dir, "dev")])
    assert [f["kind"] for f in summary["files"]] == ["videos", "qa"]
    assert summary["rows"] == 12 + 6 and summary["dropped"] == {"duplicate name": 1, "empty question": 1}
    assert get_dataset("toy").read_qa(layout.qa_path(qa_dir, "test"))[0].name == "test-a"
    assert get_dataset("toy").eval_level == "word"
    assert "(the `copy_question` reference system, word level)" in render_report_md("toy", {"splits": {}})


def test_unknown_dataset_is_a_one_line_config_error_naming_it():
    with pytest.raises(ConfigError) as err:
        get_dataset("klingon")
    assert "klingon" in str(err.value) and "\n" not in str(err.value)


def test_the_objects_agree_with_their_frame_files_and_the_params_schema():
    for spec in DATASETS.values():
        assert spec.frame_name(0).endswith(spec.frame_suffix)
        assert get_dataset(spec.name) is spec
    # The schema keeps its own enum (it is data); it must name exactly the registered datasets.
    schema = config.load_schema()
    assert schema["properties"]["data"]["properties"]["datasets"]["items"]["enum"] == list(DATASETS)
    assert set(yaml.safe_load(config.SCHEMA.read_text())["properties"]["data"]["properties"]["synthetic"]
               ["required"]) >= set(DATASETS)
    assert datasets.PHOENIX.eval_level == "word" and datasets.CSL.eval_level == "char"
