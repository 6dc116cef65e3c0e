"""Node-local staging of the video stores (cluster.stage_dir): a copy once per node, the same reads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from qbslt.data import staging


def test_a_store_is_copied_once_and_reused(tmp_path, monkeypatch):
    store = tmp_path / "shared" / "train.npy"
    store.parent.mkdir()
    np.save(store, np.arange(1000, dtype=np.float32).reshape(100, 10))
    node = tmp_path / "node"
    node.mkdir()
    staged = staging.stage(store, node)
    assert staged != store and staged.is_relative_to(node) and staged.read_bytes() == store.read_bytes()
    monkeypatch.setattr(shutil, "copyfile", lambda *a: pytest.fail("copied again"))
    assert staging.stage(store, node) == staged  # another job on the node: the copy is reused
    assert not [p for p in node.rglob("*") if p.is_file() and p != staged]  # no temporary left


def test_no_folder_or_no_space_reads_the_shared_store(tmp_path, monkeypatch, caplog):
    store = tmp_path / "train.npy"
    np.save(store, np.zeros((10, 4), np.float32))
    assert staging.stage(store, None) == store
    assert staging.stage(store, tmp_path / "missing") == store
    node = tmp_path / "node"
    node.mkdir()
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with caplog.at_level("WARNING", logger="qbslt"):
        assert staging.stage(store, node) == store
    assert "reading it from the shared file system" in caplog.text and not any(node.iterdir())


def test_the_stage_dir_setting_expands_on_the_node(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_TMPDIR", raising=False)
    assert staging.stage_dir(None) is None
    assert staging.stage_dir("$SLURM_TMPDIR") is None  # not in a SLURM job: no copy
    monkeypatch.setenv("SLURM_TMPDIR", str(tmp_path))
    assert staging.stage_dir("$SLURM_TMPDIR/qbslt") == tmp_path / "qbslt"


def test_a_run_reads_the_staged_copy_and_fingerprints_the_shared_one(tiny_prepared, tmp_path):
    tiny = tiny_prepared
    from qbslt import config
    from qbslt.ssl_ssaw.run import RunInputs, input_files, load_split
    from qbslt.training.tokenizer import load_tokenizer

    cfg = config.variant_config(tiny["params"], "ssl_ssaw")
    tok = load_tokenizer(tiny["tokenizer"])
    shared = RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"])
    node = tmp_path / "node"
    node.mkdir()
    local = RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"],
                      stage_dir=node)
    a, b = load_split(shared, "dev", cfg, tok, tok), load_split(local, "dev", cfg, tok, tok)
    assert str(b.store.filename).startswith(str(node)) and not str(a.store.filename).startswith(str(node))
    assert all(torch.equal(a.video(i), b.video(i)) for i in range(len(a)))
    assert input_files(local, ("dev",)) == input_files(shared, ("dev",))  # the resume fingerprint's files
