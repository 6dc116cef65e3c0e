"""Reruns you can trust: pinned CPU numerics, resume only from the same inputs, finite or refused."""

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qbslt import config
from qbslt.atomic import atomic_write_json
from qbslt.numerics import PINNED_ENVIRONMENT
from qbslt.training import fingerprint as fingerprint_module
from qbslt.training.loop import NonFiniteLoss
from qbslt.ssl_ssaw.run import RunInputs, run_stage1

# A machine whose vector unit stops at AVX2 (MKL, oneDNN and ATen each told so), as this one can emulate.
AVX2_MACHINE = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
# Bytes of the kernels that differ between machines: a convolutional backbone, a matrix product, layer norm.
PROBE = """
import hashlib, qbslt, torch, torchvision
from qbslt.numerics import configure_torch
configure_torch()
torch.manual_seed(0)
torch.set_num_threads(1)
net = torchvision.models.resnet18().eval()
with torch.no_grad():
    out = [net(torch.randn(4, 3, 40, 32)), torch.nn.Linear(64, 96)(torch.randn(32, 64)),
           torch.nn.functional.layer_norm(torch.randn(8, 64), (64,)).softmax(-1)]
print(hashlib.sha256(b"".join(t.numpy().tobytes() for t in out)).hexdigest(), torch.backends.cpu.get_cpu_capability())
"""


def _probe(env: dict) -> tuple[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {*AVX2_MACHINE, *PINNED_ENVIRONMENT, "QBSLT_NUMERICS"}}
    result = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                            check=True, timeout=300)
    digest, capability = result.stdout.split()
    return digest, capability


def test_importing_qbslt_pins_the_cpu_kernels_and_native_opts_out():
    show = "import os, qbslt; print(' '.join(os.environ.get(k, '-') for k in %r))" % sorted(PINNED_ENVIRONMENT)
    clean = {k: v for k, v in os.environ.items() if k not in {*PINNED_ENVIRONMENT, "QBSLT_NUMERICS"}}
    pinned = subprocess.run([sys.executable, "-c", show], env=clean, capture_output=True, text=True, check=True)
    assert pinned.stdout.split() == [PINNED_ENVIRONMENT[k] for k in sorted(PINNED_ENVIRONMENT)]
    native = subprocess.run([sys.executable, "-c", show], env={**clean, "QBSLT_NUMERICS": "native"},
                            capture_output=True, text=True, check=True)
    assert native.stdout.split() == ["-"] * len(PINNED_ENVIRONMENT)


def test_pinned_kernels_give_the_same_bytes_on_an_emulated_avx2_machine():
    here, avx2 = _probe({}), _probe(AVX2_MACHINE)
    assert here[1] == "AVX2"  # ATen runs its AVX2 kernels even where the CPU has more
    assert here[0] == avx2[0]
    # The control: without the pins the same emulation changes the bytes (where this CPU has AVX-512),
    # so the equality above is the pins' doing.
    native = _probe({"QBSLT_NUMERICS": "native"})
    if native[1] != "AVX512":
        pytest.skip(f"this CPU's widest ATen kernels are {native[1]}: no wider machine to tell apart")
    assert native[0] != _probe({"QBSLT_NUMERICS": "native", **AVX2_MACHINE})[0]


# ------------------------------------------------------------------------------------------- resume
@pytest.fixture
def tiny(tiny_prepared, tmp_path):
    """The tiny prepared data, its features copied so that a test may change them."""
    features = tmp_path / "features"
    shutil.copytree(tiny_prepared["features"], features)
    return {**tiny_prepared, "features": features}


def _stage1(tiny, out, checkpoints, **overrides):
    cfg = config.stage1_config(config.variant_config(tiny["params"], "ssl_ssaw"))
    for key, value in overrides.items():
        section, name = key.split(".")
        cfg["train"][section][name] = value
    inputs = RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"])
    run_stage1(cfg, 0, inputs, out, checkpoints)
    return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


def test_resume_only_from_the_same_inputs_and_code(tiny, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="qbslt.train")
    checkpoints = tmp_path / "ck"
    first = _stage1(tiny, tmp_path / "a", checkpoints)

    # Nothing changed: the finished checkpoint resumes and nothing trains.
    caplog.clear()
    assert _stage1(tiny, tmp_path / "b", checkpoints) == first
    assert "resumed from" in caplog.text and "epoch 1/" not in caplog.text

    # The training data changed: retrained from the start, as a fresh run on the new data.
    train = tiny["features"] / "train.npy"
    values = np.load(train)
    np.save(train, values + np.float32(0.5))
    caplog.clear()
    changed = _stage1(tiny, tmp_path / "c", checkpoints)
    assert "not resuming" in caplog.text and "video/train changed" in caplog.text
    assert changed != first
    assert _stage1(tiny, tmp_path / "d", tmp_path / "fresh") == changed

    # The code changed (as after a fix under `snakemake -f`): retrained.
    monkeypatch.setattr(fingerprint_module, "code_version", lambda: "0.1.0+edited")
    caplog.clear()
    _stage1(tiny, tmp_path / "e", checkpoints)
    assert "not resuming" in caplog.text and "code changed" in caplog.text


def test_file_hashes_are_cached_by_identity(tmp_path, monkeypatch):
    monkeypatch.setenv(fingerprint_module.CACHE_VARIABLE, str(tmp_path / "cache"))
    data = tmp_path / "x.bin"
    data.write_bytes(b"abc")
    first = fingerprint_module.file_digest(data)
    assert first == hashlib.sha256(b"abc").hexdigest()
    assert len(list((tmp_path / "cache").iterdir())) == 1
    data.write_bytes(b"abd")  # another content (and mtime): hashed again
    assert fingerprint_module.file_digest(data) == hashlib.sha256(b"abd").hexdigest()


def test_an_unreadable_checkpoint_is_kept_aside_and_training_starts_over(tiny, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="qbslt.train")
    first = _stage1(tiny, tmp_path / "a", tmp_path / "ck")
    (last,) = (tmp_path / "ck").glob("*/last.pt")
    last.write_bytes(last.read_bytes()[:100])  # truncated
    caplog.clear()
    assert _stage1(tiny, tmp_path / "b", tmp_path / "ck") == first
    assert "unreadable checkpoint" in caplog.text
    assert (last.parent / "last.pt.unreadable").exists()


# ------------------------------------------------------------------------------------ finite or refused
def test_a_non_finite_loss_stops_training_naming_the_step_and_the_loss(tiny, tmp_path):
    with pytest.raises(NonFiniteLoss, match=r"stage1: epoch \d+, step \d+: \w+ is (nan|inf)"):
        # a finite but absurd learning rate (an infinite one is refused when the settings are read)
        _stage1(tiny, tmp_path / "a", tmp_path / "ck", **{"stage1.lr": 1e30})
    assert not (tmp_path / "a" / "model.safetensors").exists()


def test_metrics_are_strict_json(tmp_path):
    atomic_write_json(tmp_path / "ok.json", {"bleu4": 1.5, "missing": None})
    assert json.loads((tmp_path / "ok.json").read_text()) == {"bleu4": 1.5, "missing": None}
    with pytest.raises(ValueError, match="bad.json"):
        atomic_write_json(tmp_path / "bad.json", {"bleu4": float("nan")})
    assert not (tmp_path / "bad.json").exists()


def test_each_epoch_logs_its_elapsed_time_and_eta(tiny, tmp_path, caplog):
    """A job's log (no terminal, so no progress bar) says how far training is and how long it has left."""
    caplog.set_level(logging.INFO, logger="qbslt.train")
    _stage1(tiny, tmp_path / "a", tmp_path / "ck")
    epochs = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()]
    assert epochs and all(re.search(r"\(elapsed \d+:\d\d, ETA \d+:\d\d\)$", m) for m in epochs), epochs
    assert epochs[-1].endswith("ETA 0:00)")
