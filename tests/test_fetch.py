"""The paper profile's raw-data step (`qbslt fetch`): manifest from real sources, clear errors."""

import json

from qbslt.cli import main
from qbslt.data import layout
from qbslt.data.sources import RawDataset


def _sources(tmp_path, csl_root):
    upstream = tmp_path / "upstream" / ("0" * 40) / "dialogue_csldaily"
    upstream.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (upstream / f"{split}.txt").write_text("000001|S1_P0001_T00|2|我|我 。|我 。|谁？|")
    files = {s: {"path": f"dialogue_csldaily/{s}.txt", "sha256": None} for s in ("train", "dev", "test")}
    return {"phoenix": {"root": None, "url": "", "bytes": 0, "sha256": None},
            "csl": {"root": str(csl_root)},
            "qa": {"url": (tmp_path / "upstream").as_uri() + "/{commit}/{path}", "commit": "0" * 40,
                   "phoenix": files, "csl": files}}


def test_fetch_csl_writes_a_manifest_the_loaders_read(tmp_path):
    root = tmp_path / "CSL-Daily"
    layout.csl_split_path(root).parent.mkdir(parents=True)
    layout.csl_split_path(root).write_text("name|split\nS1_P0001_T00|train\n")
    (root / layout.CSL_FRAME_DIR / "S1_P0001_T00").mkdir(parents=True)
    out = tmp_path / "raw" / "csl"
    assert main(["fetch", "--dataset", "csl", "--out", str(out), "--no-progress",
                 "--cfg", json.dumps(_sources(tmp_path, root))]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"] == "csl" and set(manifest["qa_sha256"]) == {"train", "dev", "test"}
    raw = RawDataset.from_manifest(out / "manifest.json")
    assert [r.name for r in raw.qa_records("train")] == ["S1_P0001_T00"]
    assert [s.name for s in raw.video_sources("train")] == ["S1_P0001_T00"]


def test_fetch_missing_csl_fails_with_instructions(tmp_path, capsys):
    out = tmp_path / "raw" / "csl"
    code = main(["fetch", "--dataset", "csl", "--out", str(out), "--no-progress",
                 "--cfg", json.dumps(_sources(tmp_path, tmp_path / "absent"))])
    err = capsys.readouterr().err
    assert code != 0 and "request" in err and "split_1.txt" in err and "Traceback" not in err
    assert not (out / "manifest.json").exists()
