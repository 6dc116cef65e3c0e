"""A user's mistake, or a full disk, ends in one line naming the path, and loses nothing: generators
replace only folders they made, the raw frame store reserves its space, Figure 4 is whole or absent,
DVC does not copy the raw data into its cache."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import REPO
from qbslt import config
from qbslt.cli import main
from qbslt.data.datasets import get_dataset
from qbslt.data.frame_store import open_frame_store, write_store
from qbslt.data.frames import VideoSource
from qbslt.data.synth.generate import MARKER_NAME, ForeignFilesError, generate_dataset, render_annotations
from qbslt.errors import FrameError, QbsltError
from qbslt.reports.figure4 import render_figure4

FRAME_SIZE = (16, 16)
SYNTHETIC = {"seed": 7, "phoenix": {"signers": 2, "train": 3, "dev": 2, "test": 2},
             "csl": {"signers": 2, "train": 3, "dev": 2, "test": 2},
             "render": {"frames_per_gloss": [2, 3], "transition_frames": [1, 1], "noise_std": 6.0},
             "questions": {"partial": 0.55, "disambiguating": 0.25, "unrelated": 0.1, "yes_no": 0.1},
             "inject_defects": False}


def generate(out: Path, capsys) -> tuple[int, str]:
    """``qbslt generate`` in process: (exit code, stderr)."""
    cfg = json.dumps({"synthetic": SYNTHETIC, "frame_size": list(FRAME_SIZE)})
    code = main(["generate", "--dataset", "phoenix", "--out", str(out), "--cfg", cfg, "--no-progress"])
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- generators replace only what they made --------------------------------------------------

@pytest.mark.parametrize("folder", ["root", "qa"])
def test_generate_refuses_a_folder_of_foreign_files(tmp_path, capsys, folder):
    out = tmp_path / "raw"
    root, qa_dir = get_dataset("phoenix").embedded_roots(out)
    target = root if folder == "root" else qa_dir
    mine = target / "my_notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("the user's own file")

    code, err = generate(out, capsys)
    assert code != 0
    line = one_error_line(err)
    assert str(target) in line and "nothing was removed" in line
    assert mine.read_text() == "the user's own file"
    assert not (out / "manifest.json").exists()


def test_generate_twice_replaces_its_own_output(tmp_path, capsys):
    out = tmp_path / "raw"
    assert generate(out, capsys)[0] == 0
    root, qa_dir = get_dataset("phoenix").embedded_roots(out)
    assert (root / MARKER_NAME).is_file() and (qa_dir / MARKER_NAME).is_file()
    (qa_dir / "leftover.txt").write_text("from the last run")  # inside our own folder: replaced
    assert generate(out, capsys)[0] == 0
    assert not (qa_dir / "leftover.txt").exists() and (out / "manifest.json").is_file()


def test_a_tree_generated_before_the_marker_is_still_ours(tmp_path):
    """A tree without markers whose manifest names its folders (what the generator wrote before)."""
    generate_dataset("phoenix", tmp_path, SYNTHETIC, FRAME_SIZE, progress=False)
    root, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path)
    for folder in (root, qa_dir):
        (folder / MARKER_NAME).unlink()
    generate_dataset("phoenix", tmp_path, SYNTHETIC, FRAME_SIZE, progress=False)
    assert (root / MARKER_NAME).is_file()

    # Without the manifest the same folders are no longer known to be ours.
    (root / MARKER_NAME).unlink()
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ForeignFilesError, match=str(root)):
        generate_dataset("phoenix", tmp_path, SYNTHETIC, FRAME_SIZE, progress=False)
    assert any(root.iterdir())


def test_a_foreign_manifest_is_not_removed(tmp_path):
    (tmp_path / "manifest.json").write_text("my own manifest")
    with pytest.raises(ForeignFilesError, match="manifest.json"):
        generate_dataset("phoenix", tmp_path, SYNTHETIC, FRAME_SIZE, progress=False)
    assert (tmp_path / "manifest.json").read_text() == "my own manifest"


def test_render_annotations_refuses_inputs_in_the_folders_it_replaces(tmp_path):
    generate_dataset("phoenix", tmp_path, SYNTHETIC, FRAME_SIZE, progress=False)
    _, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path)
    dev = qa_dir / "dev.txt"
    before = dev.read_bytes()
    with pytest.raises(ForeignFilesError, match="dev.txt"):
        render_annotations("phoenix", {"dev": dev}, tmp_path, FRAME_SIZE, SYNTHETIC["render"], seed=1, progress=False)
    assert dev.read_bytes() == before


def test_realtext_data_refuses_a_folder_of_foreign_files(shared_data, tmp_path, capsys):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["profile"] = "realtext"
    raw["data"]["sources"]["realtext"]["local_dir"] = str(shared_data / "phoenix-2014t-qa")
    raw["data"]["sources"]["realtext"]["subset"] = {"train": 2, "dev": 2, "test": 2}
    raw["data"]["frame_size"] = list(FRAME_SIZE)
    data = config.resolve(raw)["data"]
    out = tmp_path / "raw"
    mine = out / "qa" / "dev.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own annotations")

    code = main(["realtext-data", "--dataset", "phoenix", "--out", str(out), "--cfg", json.dumps(data),
                 "--no-progress"])
    assert code != 0
    assert str(out / "qa") in one_error_line(capsys.readouterr().err)
    assert mine.read_text() == "my own annotations"


# --- the raw frame store ---------------------------------------------------------------------

def _sources(tmp_path: Path) -> list[VideoSource]:
    rng = np.random.default_rng(0)
    sources = []
    for name, n in (("a", 3), ("b", 2)):
        folder = tmp_path / "src" / name
        folder.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*FRAME_SIZE, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
        sources.append(VideoSource(name, folder))
    return sources


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_an_interrupted_run_are_removed(tmp_path):
    store = tmp_path / "frames" / "train.npy"
    store.parent.mkdir()
    stale = [store.with_name(f".train.npy.{pid}.tmp") for pid in (_dead_pid(), os.getpid())]
    stale.append(tmp_path / "frames" / f".train.index.tsv.{_dead_pid()}.tmp")
    for path in stale:
        path.write_bytes(b"\0" * 4096)  # half a store of a run that died
    running = store.with_name(f".train.npy.{os.getppid()}.tmp")  # a process still running: not ours to remove
    running.write_bytes(b"x")

    write_store(_sources(tmp_path), store, tmp_path / "frames" / "train.index.tsv", FRAME_SIZE, progress=False)
    assert not any(path.exists() for path in stale)
    assert running.exists()
    assert len(open_frame_store(store)) == 5


def test_a_full_disk_is_one_error_naming_the_store_and_the_bytes(tmp_path, monkeypatch):
    store, index = tmp_path / "frames" / "train.npy", tmp_path / "frames" / "train.index.tsv"
    sources = _sources(tmp_path)
    write_store(sources, store, index, FRAME_SIZE, progress=False)
    before = store.read_bytes()

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(FrameError) as caught:
        write_store(sources, store, index, FRAME_SIZE, progress=False)
    message = str(caught.value)
    assert isinstance(caught.value, QbsltError) and "\n" not in message
    assert message.startswith(f"{store}:") and f"{len(before):,} bytes" in message and "available" in message
    assert sorted(p.name for p in store.parent.iterdir()) == ["train.index.tsv", "train.npy"]  # no temporary
    assert store.read_bytes() == before  # the previous store is kept


# --- Figure 4 --------------------------------------------------------------------------------

def _ssaw(tmp_path: Path) -> Path:
    path = tmp_path / "seed0.json"
    path.write_text(json.dumps({"fusion": "ssaw", "examples": [
        {"name": "ex000", "question": "wo schneit es", "reference": "im norden schneit es", "split": 3,
         "video_len": 2, "question_tokens": ["wo", "schneit", "es"], "weights": [0.5, 0.9, 0.6, 0.2, 0.3]}]}))
    return path


@pytest.mark.parametrize("failing", ["png", "pdf"])
def test_figure4_is_whole_or_absent(tmp_path, monkeypatch, failing):
    png, pdf = tmp_path / "fig" / "figure4.png", tmp_path / "fig" / "figure4.pdf"
    png.parent.mkdir()
    png.write_bytes(b"old png")
    pdf.write_bytes(b"old pdf")
    savefig = matplotlib.figure.Figure.savefig

    def interrupted(self, fname, *args, **kwargs):
        if kwargs.get("format", Path(fname).suffix.lstrip(".")) == failing:
            Path(fname).write_bytes(b"half a figure")
            raise OSError(errno.ENOSPC, "No space left on device")
        return savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted)
    with pytest.raises(OSError):
        render_figure4(_ssaw(tmp_path), png, pdf)
    assert png.read_bytes() == b"old png" and pdf.read_bytes() == b"old pdf"
    assert sorted(p.name for p in png.parent.iterdir()) == ["figure4.pdf", "figure4.png"]

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    render_figure4(_ssaw(tmp_path), png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


# --- DVC -------------------------------------------------------------------------------------

def test_dvc_does_not_cache_the_raw_data():
    """data/<profile>/raw may be the user's own dataset copy or tens of GB of downloads."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = {path: settings for stage in stages.values() for entry in stage.get("outs", [])
            for path, settings in (entry.items() if isinstance(entry, dict) else [(entry, {})])}
    assert outs["data/${profile}/raw"]["cache"] is False
    assert outs["data/${profile}/raw"]["persist"] is True


def test_save_pretrained_never_replaces_a_folder_it_did_not_write(tmp_path):
    """A model folder's tokenizer subfolder is replaced only when it holds a tokenizer."""
    import torch

    from qbslt.errors import QbsltError
    from qbslt.model.pretrained import PretrainedModel

    class Tiny(PretrainedModel, torch.nn.Module):
        def __init__(self):
            torch.nn.Module.__init__(self)
            self.linear = torch.nn.Linear(2, 2)
            self.config = type("Config", (), {"save_pretrained": lambda self, folder: None})()

    class FakeTokenizer:
        def save_pretrained(self, folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / "tokenizer_config.json").write_text("{}")

    folder = tmp_path / "model"
    Tiny().save_pretrained(folder, {"tokenizer": FakeTokenizer()})
    Tiny().save_pretrained(folder, {"tokenizer": FakeTokenizer()})  # its own tokenizer folder: replaced
    (folder / "notes").mkdir()
    (folder / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(QbsltError, match="notes: exists and is not a tokenizer folder"):
        Tiny().save_pretrained(folder, {"notes": FakeTokenizer()})
    assert (folder / "notes" / "mine.txt").read_text() == "keep"
