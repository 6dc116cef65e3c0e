import os
from pathlib import Path

import numpy as np
import pytest

import qbslt  # noqa: F401 - first: pins the CPU kernels (qbslt.numerics) before any test module imports torch

# Under pytest-xdist the workers share the cores: one torch thread each (set before torch is imported),
# or their thread pools oversubscribe the machine and every test slows down.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QBSLT_SHARED_DATA", REPO.parent / "shared" / "data"))
# QBSLT_TEST_DEVICE=cuda runs the paper-profile smoke runs (trained backbone, pretrained text path)
# on a GPU in bf16, as the paper profile trains; CPU in fp32 otherwise.
TEST_DEVICE = os.environ.get("QBSLT_TEST_DEVICE", "cpu")
DEVICE_SETTINGS = {"device": TEST_DEVICE, "precision": "bf16" if TEST_DEVICE == "cuda" else "fp32"}


@pytest.fixture
def shared_data() -> Path:
    """The real annotation files beside the checkout (../shared/data); skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATA} (the ../shared/data folder beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory):
    """A tiny embedded PHOENIX dataset taken through every data step, plus tokenizer and features.

    Returns a dict of paths and the resolved params (tiny model and schedule) for training tests.
    """
    import yaml

    from qbslt import config
    from qbslt.data.frame_store import read_index, write_store
    from qbslt.data.join import join_split, write_examples
    from qbslt.data.sources import RawDataset
    from qbslt.data.synth.generate import generate_dataset
    from qbslt.training.features import write_features
    from qbslt.training.tokenizer import build_tokenizer

    base = tmp_path_factory.mktemp("tiny")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["synthetic"]["phoenix"].update(train=24, dev=8, test=8)
    raw["data"]["frame_size"] = [16, 16]
    raw["model"].update(d_model=32, ffn_dim=64, contrastive_dim=32)
    raw["train"]["stage1"].update(epochs=2, batch_size=8)
    raw["train"]["stage2"].update(epochs=4, batch_size=8, eval_every=2, extra_epochs=0)  # tests count the epochs
    raw["eval"].update(num_beams=2, max_new_tokens=20)
    params = config.resolve(raw)
    generate_dataset("phoenix", base / "raw", params["data"]["synthetic"], (16, 16), progress=False)
    manifest = RawDataset.from_manifest(base / "raw" / "manifest.json")
    for split in ("train", "dev", "test"):
        write_store(manifest.video_sources(split), base / "frames" / f"{split}.npy",
                    base / "frames" / f"{split}.index.tsv", (16, 16), progress=False)
        table, _ = join_split(manifest, split, read_index(base / "frames" / f"{split}.index.tsv"))
        write_examples(table, base / "examples" / f"{split}.tsv")
        write_features(base / "frames" / f"{split}.npy", base / "features" / f"{split}.npy", "resnet18", False,
                       progress=False)
    build_tokenizer(base / "examples" / "train.tsv", "word", None, base / "tokenizer")
    return {"base": base, "params": params, "examples": base / "examples", "features": base / "features",
            "tokenizer": base / "tokenizer"}


def write_test_video(path: Path, n: int) -> Path:
    """An mp4 of ``n`` flat 32x32 frames of value 10*i (decodable with PyAV)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 10 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path



def pytest_collection_modifyitems(config, items):
    """Order for pytest-xdist (pyproject's addopts: ``-n auto --dist worksteal``). Worksteal hands worker k
    the k-th contiguous share of this list, and an idle worker later takes the tail of a busy one's queue.
    The end-to-end tests (the longest) are dealt round-robin to the fronts of the shares, so the longest
    runs start at once on different workers and the short tests fill in around them."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    slow = [item for item in items if item.get_closest_marker("e2e")]
    rest = [item for item in items if not item.get_closest_marker("e2e")]
    ordered, remaining = [], len(items)
    for k in range(workers):
        size = remaining // (workers - k)          # what worksteal sends worker k first
        share = slow[k::workers]
        take = max(0, size - len(share))
        ordered += share + rest[:take]
        rest, remaining = rest[take:], remaining - size
    items[:] = ordered + rest
