import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import DEVICE_SETTINGS

from qbslt import config
from qbslt.errors import QbsltError
from qbslt.eval.metrics import corpus_scores
from qbslt.reports.results import read_predictions
from qbslt.training.batches import mask_words
from qbslt.training.checkpoint import CheckpointMismatch, load_checkpoint, save_checkpoint
from qbslt.ssl_ssaw.run import RunInputs, run_stage1, run_stage2
from qbslt.data.join import read_examples
from qbslt.training.tokenizer import decode, encode, load_tokenizer, train_word_tokenizer
from qbslt.translate import Translator

TIMING_KEYS = {"train_seconds", "samples_per_second"}


def _inputs(tiny):
    return RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"],
                     frame_size=(16, 16))


def _comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def test_tokenizer_roundtrip_and_special_ids(tmp_path):
    tok = train_word_tokenizer(["im norden fällt schnee", "Fällt Schnee im Norden?"], "word")
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.mask_token_id] == [0, 1, 2, 4]
    assert tok.convert_tokens_to_ids("<q>") == 5
    ids = encode(tok, ["im norden fällt schnee"], "word")[0]
    assert decode(tok, ids, "word") == "im norden fällt schnee"
    tok.save_pretrained(str(tmp_path / "tok"))
    assert decode(load_tokenizer(tmp_path / "tok"), ids, "word") == "im norden fällt schnee"
    chars = train_word_tokenizer(["他 今 年 四 岁 。"], "char")
    assert decode(chars, encode(chars, ["他今年四岁。"], "char")[0], "char") == "他 今 年 四 岁 。"


def test_mask_words_masks_at_least_one_word_and_never_eos():
    ids = torch.tensor([[7, 8, 9, 2, 1], [7, 2, 1, 1, 1]])
    mask = ids != 1
    out = mask_words(ids, mask, mask_id=4, eos_id=2, prob=0.0, generator=torch.Generator().manual_seed(0))
    assert ((out == 4).sum(1) == 1).all()
    assert (out[ids == 2] == 2).all() and (out[~mask] == 1).all()


def test_example_set_reads_frames_from_the_memory_map_per_batch(tmp_path):
    """Raw frames stay on disk (a real split is > 100 GB); long videos are subsampled evenly."""
    import numpy as np
    import pandas as pd

    from qbslt.training.batches import ExampleSet

    frames = (np.arange(12 * 16 * 16 * 3) % 251).astype(np.uint8).reshape(12, 16, 16, 3)  # 9 kB
    np.save(tmp_path / "store.npy", frames)
    store = np.load(tmp_path / "store.npy", mmap_mode="r")
    tok = train_word_tokenizer(["a b", "c"], "word")
    examples = pd.DataFrame({"name": ["x", "y"], "question": ["a", "c"], "translation": ["b", "c"],
                             "frame_offset": [0, 3], "num_frames": [3, 9]})
    data = ExampleSet.build(examples, store, tok, tok, "word", max_frames=5, max_text_tokens=8)
    assert isinstance(data.store, np.memmap)  # nothing copied at construction
    assert torch.equal(data.video(0), torch.from_numpy(frames[0:3]))
    assert torch.equal(data.video(1), torch.from_numpy(frames[[3, 5, 7, 9, 11]]))
    import pickle
    sent = pickle.dumps(data)  # what a spawned loader worker receives: the file name, not the frames
    assert len(sent) < 2000 and torch.equal(pickle.loads(sent).video(1), data.video(1))
    np.save(tmp_path / "features.npy", np.ones((12, 4), np.float16))
    features = ExampleSet.build(examples, np.load(tmp_path / "features.npy", mmap_mode="r"), tok, tok, "word", 5, 8)
    assert features.video(1).dtype == torch.float32 and features.video(1).shape == (5, 4)


def test_checkpoint_refuses_other_config(tmp_path):
    save_checkpoint(tmp_path / "last.pt", {"run_config": {"model": {"fusion": "ssaw", "d_model": 32}}, "epoch": 1})
    assert load_checkpoint(tmp_path / "last.pt", {"model": {"fusion": "ssaw", "d_model": 32}})["epoch"] == 1
    with pytest.raises(CheckpointMismatch, match=r"model\.fusion \(checkpoint 'ssaw', now 'tcn'\)"):
        load_checkpoint(tmp_path / "last.pt", {"model": {"fusion": "tcn", "d_model": 32}})
    assert load_checkpoint(tmp_path / "absent.pt", {}) is None


def test_stage1_then_stage2_writes_the_result_contract(tiny, tmp_path):
    cfg = config.variant_config(tiny["params"], "ssl_ssaw")
    summary = run_stage1(config.stage1_config(cfg), 0, _inputs(tiny), tmp_path / "s1", tmp_path / "ck1")
    history = summary["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    metrics = run_stage2(cfg, 0, _inputs(tiny), tmp_path / "s1" / "model.safetensors", out, tmp_path / "ck2",
                         "ssl_ssaw")
    for split in ("dev", "test"):
        # the input-reliance check: decoded again with the video, and the question, of another example
        assert set(metrics[split]) == {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "shuffled_video",
                                       "shuffled_question"}
        assert set(metrics[split]["shuffled_video"]) == {"bleu4"}
    assert metrics["epochs"] == 4 and metrics["parameters"] > 0 and len(metrics["config_hash"]) == 16
    assert metrics["history"][-1]["loss"] < metrics["history"][0]["loss"]
    assert json.loads(out["metrics"].read_text())["test"] == metrics["test"]
    lines = out["predictions"].read_text().splitlines()
    assert lines[0] == "name\treference\tquestion\thypothesis" and len(lines) == 1 + 8
    # The dev predictions: the same columns, every dev example in order, from the pass that scored dev.
    dev = read_predictions(out["dev_predictions"])
    dev_examples = read_examples(tiny["examples"] / "dev.tsv")
    assert list(dev.columns) == ["name", "reference", "question", "hypothesis"]
    assert list(dev["name"]) == list(dev_examples["name"]) and list(dev["reference"]) == list(dev_examples["translation"])
    assert round(corpus_scores(list(dev["hypothesis"]), list(dev["reference"]), "word")["bleu4"], 2) == \
        metrics["dev"]["bleu4"]
    ssaw = json.loads(out["ssaw"].read_text())
    example = ssaw["examples"][0]
    assert ssaw["fusion"] == "ssaw" and len(example["question_tokens"]) == example["split"]
    assert len(example["weights"]) == example["split"] + example["video_len"]
    assert all(0.0 < w < 1.0 for w in example["weights"])
    assert (out["model"] / "model.safetensors").exists() and (out["model"] / "tokenizer").is_dir()

    # The model folder translates a frame folder of the raw dataset through the CLI.
    name, question = out["predictions"].read_text().splitlines()[1].split("\t")[0::2]
    frames = next((tiny["base"] / "raw").rglob(f"fullFrame-210x260px/test/{name}"))
    result = subprocess.run([sys.executable, "-m", "qbslt", "translate", "--checkpoint", str(out["model"]),
                             "--frames", str(frames), "--question", question, "--weights", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "rendered (synthetic) 40x32 video" in result.stderr  # tiny 40x32 frames
    hypothesis = dict(zip(*[line.split("\t") for line in out["predictions"].read_text().splitlines()[:2]]))
    printed, weights = result.stdout.splitlines()
    assert printed == hypothesis["hypothesis"]  # same preprocessing and decoding as the evaluation
    assert json.loads(weights)["split"] == len(json.loads(weights)["question_tokens"])
    # A source without frames is named in the error: an empty folder, a video of no frames, another file.
    translator = Translator.load(out["model"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty.mp4").write_bytes(b"")
    for source in (tmp_path / "empty", tmp_path / "notes.txt"):
        with pytest.raises(QbsltError, match=f"^{re.escape(str(source))}: "):
            translator.translate_source(source, question)
    with pytest.raises(QbsltError, match=re.escape(str(tmp_path / "empty.mp4"))):
        translator.translate_source(tmp_path / "empty.mp4", question)
    missing = subprocess.run([sys.executable, "-m", "qbslt", "translate", "--checkpoint", str(tmp_path),
                              "--video", "x.mp4"], capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "not a model folder" in missing.stderr


@pytest.fixture(scope="module")
def tiny(tiny_prepared):
    return tiny_prepared


# Long enough that a kill after epoch 2 lands mid-run even on a loaded machine (the test polls).
KILL_TEST_EPOCHS = 24


def _train_cmd(tiny, tmp_path, name, epochs=6):
    cfg = config.variant_config(tiny["params"], "qb_concat")
    cfg["train"]["stage2"]["epochs"] = epochs
    cfg["train"]["checkpoint_seconds"] = 0  # a checkpoint every epoch: the kill lands between two
    return [sys.executable, "-m", "qbslt", "train", "--dataset", "phoenix", "--variant", "qb_concat",
            "--examples-dir", str(tiny["examples"]), "--features-dir", str(tiny["features"]),
            "--decoder-tokenizer", str(tiny["tokenizer"]), "--text-tokenizer", str(tiny["tokenizer"]),
            "--checkpoint-dir", str(tmp_path / name / "ck"), "--metrics", str(tmp_path / name / "m.json"),
            "--predictions", str(tmp_path / name / "p.tsv"), "--dev-predictions", str(tmp_path / name / "p.dev.tsv"),
            "--ssaw", str(tmp_path / name / "w.json"),
            "--model-dir", str(tmp_path / name / "model"), "--cfg", json.dumps(cfg)]


def test_kill_and_resume_gives_the_same_metrics(tiny, tmp_path):
    """SIGKILL mid-training, rerun: the resumed run ends exactly like an uninterrupted one."""
    subprocess.run(_train_cmd(tiny, tmp_path, "straight", KILL_TEST_EPOCHS), check=True, capture_output=True,
                   timeout=600)

    cmd = _train_cmd(tiny, tmp_path, "killed", KILL_TEST_EPOCHS)
    checkpoints = tmp_path / "killed" / "ck"  # one folder per run identity (config hash)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, checkpoint = time.monotonic() + 300, None
    while time.monotonic() < deadline and proc.poll() is None:
        found = sorted(checkpoints.glob("*/last.pt"))
        if found and torch.load(found[0], weights_only=True)["epoch"] >= 2:
            checkpoint = found[0]
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (tmp_path / "killed" / "m.json").exists()
    epoch_at_kill = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 2 <= epoch_at_kill < KILL_TEST_EPOCHS

    resumed = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    assert f"resumed from {checkpoint} after epoch {epoch_at_kill}" in resumed.stderr
    straight = json.loads((tmp_path / "straight" / "m.json").read_text())
    killed = json.loads((tmp_path / "killed" / "m.json").read_text())
    assert _comparable(killed) == _comparable(straight)
    assert (tmp_path / "killed" / "p.tsv").read_text() == (tmp_path / "straight" / "p.tsv").read_text()


def test_changed_config_never_resumes_the_old_checkpoint(tiny, tmp_path):
    cmd = _train_cmd(tiny, tmp_path, "run")
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    cfg = json.loads(cmd[-1])
    cfg["model"]["dropout"] = 0.3
    result = subprocess.run(cmd[:-1] + [json.dumps(cfg)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "resumed" not in result.stderr
    assert len(list((tmp_path / "run" / "ck").iterdir())) == 2  # one checkpoint folder per config


def _fake_pretrained_mbart(tiny, folder, extra_words=()):
    """A saved ("pretrained") tiny mBART and word tokenizer without <q>, larger than the corpus."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MBartConfig, MBartForConditionalGeneration, PreTrainedTokenizerFast

    base = load_tokenizer(tiny["tokenizer"])
    words = [t for t, _ in sorted(base.get_vocab().items(), key=lambda kv: kv[1]) if t != "<q>"] + list(extra_words)
    raw = Tokenizer(models.WordLevel({t: i for i, t in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>", mask_token="<mask>").save_pretrained(str(folder))
    MBartForConditionalGeneration(MBartConfig(vocab_size=len(words), d_model=32, encoder_layers=1, decoder_layers=1,
                                              encoder_attention_heads=4, decoder_attention_heads=4,
                                              encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128)
                                  ).save_pretrained(str(folder))
    return len(words)


def _train_one_epoch_from(tiny, tmp_path, tokenizer_dir, mbart_path):
    cfg = config.variant_config(tiny["params"], "ssl_ssaw")
    cfg["model"]["mbart_path"] = mbart_path
    cfg["train"]["stage2"]["epochs"] = 1
    inputs = RunInputs("phoenix", tiny["examples"], tiny["features"], tokenizer_dir, tokenizer_dir, (16, 16))
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    return run_stage2(cfg, 0, inputs, None, out, tmp_path / "ck", "ssl_ssaw")


def test_pretrained_path_gets_the_question_separator_and_trains(tiny, tmp_path):
    """Paper-profile code path: a saved ("pretrained") mBART and tokenizer without <q>."""
    from qbslt.training.tokenizer import build_tokenizer

    size = _fake_pretrained_mbart(tiny, tmp_path / "mbart")
    build_tokenizer(tiny["examples"] / "train.tsv", "word", str(tmp_path / "mbart"), tmp_path / "tok")
    tok = load_tokenizer(tmp_path / "tok")
    assert len(tok) == size + 1 and tok.convert_tokens_to_ids("<q>") == size
    metrics = _train_one_epoch_from(tiny, tmp_path, tmp_path / "tok", str(tmp_path / "mbart"))
    assert metrics["parameters"] > 0 and (tmp_path / "p.tsv").exists()


def test_vocabulary_trimming_keeps_only_corpus_tokens(tiny, tmp_path):
    from qbslt.training.tokenizer import TRIMMED_MODEL_DIR, build_tokenizer

    unused = [f"unbenutzt{i}" for i in range(500)]
    size = _fake_pretrained_mbart(tiny, tmp_path / "mbart", unused)
    build_tokenizer(tiny["examples"] / "train.tsv", "word", str(tmp_path / "mbart"), tmp_path / "tok",
                    trim_model_from=str(tmp_path / "mbart"))
    tok = load_tokenizer(tmp_path / "tok")
    assert len(tok) < size - 400 and tok.convert_tokens_to_ids("unbenutzt3") == tok.unk_token_id
    text = read_examples(tiny["examples"] / "train.tsv")["translation"][0]
    assert decode(tok, encode(tok, [text], "word")[0], "word") == text
    assert tok.convert_ids_to_tokens([tok.convert_tokens_to_ids("<q>")]) == ["<q>"]
    # The runs load the trimmed mBART saved beside the tokenizer, whatever mbart_path says.
    metrics = _train_one_epoch_from(tiny, tmp_path, tmp_path / "tok", str(tmp_path / "mbart"))
    model_config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (tmp_path / "tok" / TRIMMED_MODEL_DIR).is_dir() and model_config["vocab_size"] == len(tok)
    assert metrics["parameters"] > 0


def test_trained_backbone_on_raw_frames_with_crop(tiny, tmp_path):
    """Paper-profile path on CPU: no precomputed features, the CNN trains on cropped, augmented uint8 frames."""
    params = config.variant_config(tiny["params"], "ssl_ssaw")
    params["model"]["freeze_backbone"] = False
    params["train"]["crop_size"] = 12
    params["train"]["augment"] = {"temporal_scale": 0.2, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2}
    # Two loader processes, as the paper profile reads frames (pinned memory on a GPU).
    params["train"].update(**DEVICE_SETTINGS, workers=2)
    params["train"]["stage2"].update(epochs=1)
    frames_dir = tiny["base"] / "frames"  # {split}.npy: uint8 [N, 16, 16, 3]
    inputs = RunInputs("phoenix", tiny["examples"], frames_dir, tiny["tokenizer"], tiny["tokenizer"], (16, 16))
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    metrics = run_stage2(params, 0, inputs, None, out, tmp_path / "ck", "ssl_ssaw")
    assert metrics["parameters"] > 11_000_000  # the ResNet-18 is part of the model now
    assert json.loads((tmp_path / "model" / "pipeline.json").read_text())["crop_size"] == 12


def test_cached_feature_recipe_keeps_the_stage_1_backbone_and_reads_its_features(tiny, tmp_path):
    """train.stage2.freeze_backbone: stage 1 trains the CNN on frames; `qbslt features --stage1` caches that
    CNN's features (centre crop, eval mode); stage 2 reads them, and its model keeps the stage-1 CNN unchanged,
    so the model folder translates raw frames through the backbone the features came from."""
    import numpy as np

    from qbslt.cli import main as cli_main
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel, stage1_backbone_weights
    from qbslt.training.augment import crop_frames
    from qbslt.training.checkpoint import load_weights

    params = config.variant_config(tiny["params"], "ssl_ssaw")
    params["model"]["freeze_backbone"] = False
    params["train"]["crop_size"] = 12
    params["train"]["stage1"].update(epochs=1)
    params["train"]["stage2"].update(epochs=1, freeze_backbone=True)
    frames_dir = tiny["base"] / "frames"  # {split}.npy: uint8 [N, 16, 16, 3]
    frames_inputs = RunInputs("phoenix", tiny["examples"], frames_dir, tiny["tokenizer"], tiny["tokenizer"], (16, 16))
    run_stage1(config.stage1_config(params), 0, frames_inputs, tmp_path / "s1", tmp_path / "ck1")
    stage1 = tmp_path / "s1" / "model.safetensors"
    cache = tmp_path / "cache"
    for split in ("train", "dev", "test"):
        assert cli_main(["features", "--backbone", "resnet18", "--frames", str(frames_dir / f"{split}.npy"),
                         "--out", str(cache / f"{split}.npy"), "--stage1", str(stage1), "--crop-size", "12",
                         "--device", "cpu", "--no-progress", "--cfg", '{"backbone_pretrained": false}']) == 0
    backbone = stage1_backbone_weights(load_weights(stage1), str(stage1))
    cached = np.load(cache / "dev.npy")
    assert cached.shape[1] == 512

    inputs = RunInputs("phoenix", tiny["examples"], cache, tiny["tokenizer"], tiny["tokenizer"], (16, 16))
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json", "model": tmp_path / "model"}
    metrics = run_stage2(params, 0, inputs, stage1, out, tmp_path / "ck2", "ssl_ssaw")
    assert metrics["test"]["bleu4"] >= 0
    model = QBSLTModel.from_pretrained(tmp_path / "model")
    kept = {k: v for k, v in model.video_embedding.backbone.state_dict().items()}
    assert kept.keys() == backbone.keys() and all(torch.equal(kept[k], backbone[k]) for k in kept)
    # the cached features are the saved backbone's features of the centre-cropped frames
    frames = torch.from_numpy(np.load(frames_dir / "dev.npy", mmap_mode="r")[:5].copy())
    again = model.video_embedding.backbone.extract_features(crop_frames(frames, 12, None))
    assert torch.allclose(again, torch.from_numpy(cached[:5]), atol=1e-4)


def test_stage_1_features_need_a_trained_backbone(tiny, tmp_path):
    from qbslt.errors import ConfigError
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import stage1_backbone_weights

    with pytest.raises(ConfigError, match="s1.safetensors: no trained backbone"):
        stage1_backbone_weights({"video_embedding.temporal.proj.weight": torch.zeros(1)}, "s1.safetensors")


def _regression_problem():
    """A linear regression in the collator protocol of ``fit``: (model factory, collator, rows)."""
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1

    class Regression(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(3, 1)

        def forward(self, batch, objective):
            return {"loss": torch.nn.functional.mse_loss(self.linear(batch["x"]).squeeze(1), batch["y"])}

    class Rows:  # the collator protocol: plan (training process) and assemble (loader worker)
        def plan(self, indices, generator):
            return indices

        def assemble(self, indices):
            return {"index": torch.tensor(indices), "x": x[indices], "y": y[indices]}

    return Regression, Rows(), len(x)


def _train_cfg(micro=None):
    return {"compile": False, "precision": "fp32", "grad_clip": 0.0, "micro_batch_size": micro, "workers": 0}


def test_micro_batches_give_the_gradients_of_the_whole_batch(tmp_path):
    """train.micro_batch_size trades memory for passes: the same updates as one pass per batch."""
    from qbslt.training.batches import split_batch
    from qbslt.training.loop import fit

    batch = {"index": torch.arange(5), "x": torch.arange(10).view(5, 2)}
    assert [p["index"].tolist() for p in split_batch(batch, 2)] == [[0, 1], [2, 3], [4]]
    assert split_batch(batch, None) == [batch] == split_batch(batch, 8)
    Regression, rows, n = _regression_problem()
    stage = {"epochs": 3, "batch_size": 4, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "warmup_steps": 0}
    weights, histories = [], []
    for micro in (None, 1, 3):
        model = Regression()
        result = fit(model, rows, n, "regression", stage, _train_cfg(micro), {"micro": micro}, 0,
                     tmp_path / str(micro), torch.device("cpu"))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        histories.append([h["loss"] for h in result.history])
    for w, h in zip(weights[1:], histories[1:]):
        assert torch.allclose(w, weights[0], atol=1e-6)
        assert h == pytest.approx(histories[0], abs=2e-5)  # history is rounded to 5 decimals


@pytest.mark.parametrize("checkpoint_seconds, saved_after", [(0, [1, 2, 3]), (1e9, [3])])
def test_checkpoints_follow_checkpoint_seconds_and_always_the_last_epoch(tmp_path, monkeypatch, checkpoint_seconds,
                                                                          saved_after):
    from qbslt.training import loop

    saved = []
    monkeypatch.setattr(loop, "save_checkpoint", lambda path, state: saved.append(state["epoch"]))
    Regression, rows, n = _regression_problem()
    stage = {"epochs": 3, "batch_size": 4, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "warmup_steps": 0}
    loop.fit(Regression(), rows, n, "regression", stage, {**_train_cfg(), "checkpoint_seconds": checkpoint_seconds},
             {}, 0, tmp_path, torch.device("cpu"))
    assert saved == saved_after


@pytest.mark.parametrize("eval_every, dev_passes", [(1, 3), (2, 2), (3, 0), (5, 0)])
def test_dev_passes_run_only_when_they_choose_between_epochs(tmp_path, eval_every, dev_passes):
    """Dev scoring every eval_every epochs and after the last; the last alone chooses nothing, so
    no pass runs and the last epoch's weights are the result."""
    from qbslt.training.loop import fit

    Regression, rows, n = _regression_problem()
    stage = {"epochs": 3, "batch_size": 4, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "warmup_steps": 0,
             "eval_every": eval_every}
    scores = iter([1.0, 3.0, 2.0])
    calls = []

    def evaluate(model):
        calls.append(model.training)
        return next(scores)

    result = fit(Regression(), rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path, torch.device("cpu"),
                 evaluate=evaluate)
    assert len(calls) == dev_passes and not any(calls)  # evaluated in eval mode
    scored = [h["epoch"] for h in result.history if "dev_score" in h]
    assert scored == [e for e in (1, 2, 3) if dev_passes and (e % eval_every == 0 or e == 3)]
    assert result.best_epoch == (scored[1] if dev_passes else 3)  # the epoch that scored 3.0
    assert (tmp_path / "best.safetensors").exists() == bool(dev_passes)


def test_loader_workers_do_not_change_the_batches():
    """Frames are read in worker processes, every random draw is made in order in this one."""
    from qbslt.training.augment import VideoAugment
    from qbslt.training.batches import Collator, ExampleSet, batch_loader
    import numpy as np
    import pandas as pd

    store = np.random.default_rng(0).integers(0, 256, (40, 10, 12, 3), dtype=np.uint8)
    tok = train_word_tokenizer(["a b c", "d e"], "word")
    examples = pd.DataFrame({"name": list("pqrst"), "question": ["a"] * 5, "translation": ["b c", "d", "e", "a b", "c"],
                             "frame_offset": [0, 8, 16, 24, 32], "num_frames": [8] * 5})
    data = ExampleSet.build(examples, store, tok, tok, "word", max_frames=8, max_text_tokens=8)
    collator = Collator(data, text_pad_id=tok.pad_token_id, decoder_pad_id=tok.pad_token_id, mask_id=tok.mask_token_id,
                        eos_id=tok.eos_token_id, mask_prob=0.3, training=True,
                        augment=VideoAugment(crop=8, temporal_scale=0.3, brightness=0.2, contrast=0.2, saturation=0.2,
                                             max_frames=8))
    runs = []
    for workers in (0, 2):
        loader = batch_loader(collator, [[0, 1], [2, 3], [4]], torch.Generator().manual_seed(5), workers)
        runs.append(list(loader))
    for one, other in zip(*runs):
        assert one.keys() == other.keys() and "video_colour" in one and "masked_text_ids" in one
        assert all(torch.equal(one[k], other[k]) for k in one)


def test_length_buckets_pad_less_and_keep_every_example_once():
    from qbslt.training.loop import epoch_batches

    lengths = [int(x) for x in torch.randint(5, 90, (500,), generator=torch.Generator().manual_seed(1))]
    plain = epoch_batches(500, 32, seed=0, epoch=3)
    bucketed = epoch_batches(500, 32, seed=0, epoch=3, lengths=lengths)
    assert plain == epoch_batches(500, 32, seed=0, epoch=3)  # unchanged without lengths
    assert bucketed == epoch_batches(500, 32, seed=0, epoch=3, lengths=lengths)  # deterministic per epoch
    assert sorted(i for b in bucketed for i in b) == list(range(500))
    assert bucketed != epoch_batches(500, 32, seed=0, epoch=4, lengths=lengths)  # batch order reshuffled

    def padded(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    assert padded(bucketed) < 0.7 * padded(plain)
    assert padded(bucketed) - sum(lengths) < 0.1 * sum(lengths)


def test_inputs_of_other_examples_move_only_that_input(tiny):
    from qbslt.ssl_ssaw.run import gloss_tokenizer, load_split

    cfg = config.variant_config(tiny["params"], "question_gloss_text")
    decoder_tok = load_tokenizer(tiny["tokenizer"])
    gloss_tok = gloss_tokenizer(cfg, _inputs(tiny))
    data = load_split(_inputs(tiny), "dev", cfg, decoder_tok, decoder_tok, gloss_tok)
    order = [1, 2, 3, 4, 5, 6, 7, 0]
    video = data.with_inputs_of(order, "video")
    assert [list(r) for r in video.frame_rows] == [list(data.frame_rows[j]) for j in order]
    assert video.gloss_ids == [data.gloss_ids[j] for j in order]
    assert video.question_ids == data.question_ids and video.label_ids == data.label_ids
    question = data.with_inputs_of(order, "question")
    assert question.question_ids == [data.question_ids[j] for j in order]
    assert question.question_dec_ids == [data.question_dec_ids[j] for j in order]
    assert question.gloss_ids == data.gloss_ids and question.label_ids == data.label_ids
    # the glosses are read word by word: no gloss of the training split is unknown
    train = load_split(_inputs(tiny), "train", cfg, decoder_tok, decoder_tok, gloss_tok)
    assert gloss_tok.unk_token_id not in {t for ids in train.gloss_ids for t in ids}


def test_gloss_text_reference_reads_the_glosses(tiny, tmp_path):
    """gloss_text: the glosses replace the video; stage 2 trains from the shared stage 1, and its reliance
    check shuffles the glosses (no question to shuffle)."""
    cfg = config.variant_config(tiny["params"], "gloss_text")
    assert config.stage1_config(cfg) == config.stage1_config(config.variant_config(tiny["params"], "sign_only"))
    run_stage1(config.stage1_config(cfg), 0, _inputs(tiny), tmp_path / "s1", tmp_path / "ck1")
    out = {"metrics": tmp_path / "m.json", "predictions": tmp_path / "p.tsv", "dev_predictions": tmp_path / "p.dev.tsv",
           "ssaw": tmp_path / "w.json",
           "model": tmp_path / "model"}
    metrics = run_stage2(cfg, 0, _inputs(tiny), tmp_path / "s1" / "model.safetensors", out, tmp_path / "ck2",
                         "gloss_text")
    assert "shuffled_video" in metrics["test"] and "shuffled_question" not in metrics["test"]
    assert (out["model"] / "gloss_tokenizer").is_dir()
    refused = subprocess.run([sys.executable, "-m", "qbslt", "translate", "--checkpoint", str(out["model"]),
                              "--video", "x.mp4"], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "reads glosses, not video" in refused.stderr


def test_one_decoding_pass_over_a_split_and_its_shuffled_copies_equals_separate_passes(tiny):
    """run_stage2 decodes a split and its reliance copies as one ExampleSet, sorted by decoder-prefix
    length (fewer generate calls): the same hypotheses, in input order, as a pass per copy, and the
    SSAW weights of the first examples."""
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
    from qbslt.training.batches import ExampleSet
    from qbslt.ssl_ssaw.run import decoding_order, load_split, make_collator, predict, run_model_config

    cfg = config.variant_config(tiny["params"], "ssl_ssaw_prefix")  # the reading with a decoder prefix per example
    tok = load_tokenizer(tiny["tokenizer"])
    torch.manual_seed(0)
    model = QBSLTModel(run_model_config(cfg, _inputs(tiny), tok, tok)).eval()
    assert model.config.question_prefix
    data = load_split(_inputs(tiny), "dev", cfg, tok, tok)
    n, order = len(data), [1, 2, 3, 4, 5, 6, 7, 0]
    copies = [data, data.with_inputs_of(order, "video"), data.with_inputs_of(order, "question")]
    views = ExampleSet.concat(copies)
    assert len(views) == 3 * n and views.store is data.store and views.names == data.names * 3
    assert [len(views.question_dec_ids[i]) for i in decoding_order(model, views)] == \
        sorted(len(q) for q in views.question_dec_ids)

    def run(d, weights_for=0):
        return predict(model, d, make_collator(d, tok, tok), tok, "word", 5, 2, 6, weights_for, tok)

    together, weights = run(views, weights_for=3)
    assert len(set(together)) > 3  # not one sentence for all: the comparison below means something
    assert together == [h for part in copies for h in run(part)[0]]
    assert [w["name"] for w in weights] == data.names[:3]
    with pytest.raises(ValueError, match="share one split"):
        ExampleSet.concat([data, load_split(_inputs(tiny), "test", cfg, tok, tok)])


@pytest.mark.parametrize("deterministic", [True, False])
def test_train_deterministic_is_the_setting_every_run_makes(monkeypatch, deterministic):
    """`train.deterministic` reaches torch.use_deterministic_algorithms (on in every profile of params.yaml)."""
    from qbslt.ssl_ssaw import run
    from qbslt.training.settings import TrainSettings

    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda on, warn_only=False: calls.append(on))
    tree = config.load("params.yaml")
    run._setup(TrainSettings.from_dict({**tree["train"], "deterministic": deterministic}, "train"), seed=0)
    assert calls == ([True] if deterministic else [])
    assert all(config.load("params.yaml", p)["train"]["deterministic"] for p in ("embedded", "realtext", "paper"))


def test_channels_last_backbone_computes_the_same_features():
    """`train.channels_last` (CUDA): the same function of the frames, in another memory format."""
    from qbslt.model.configuration import VideoConfig
    from qbslt.model.video_embedding import FrameBackbone

    torch.manual_seed(0)
    backbone = FrameBackbone(VideoConfig(backbone="resnet18", backbone_pretrained=False, freeze_backbone=False)).eval()
    frames = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = backbone(frames)
        after = backbone.to_channels_last()(frames)
    assert backbone.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(before, after, atol=1e-5)


def test_a_question_only_run_reads_no_frame_and_trains_the_same(tiny, tmp_path, monkeypatch):
    """model.inputs = question: the batches read no frame of the store, and the run's metrics and
    predictions are those of the run that read them (the model never looks at the video)."""
    from qbslt.training import batches

    from qbslt.ssl_ssaw import run as ssl_run

    cfg = config.variant_config(tiny["params"], "question_only")
    cfg["train"]["stage2"].update(epochs=2, eval_every=1)
    # bf16 (a no-op on the CPU): decoding, dev passes included, runs under the training's precision
    cfg["train"]["precision"] = "bf16"
    precisions = []
    monkeypatch.setattr(ssl_run, "autocast", lambda device, precision: precisions.append(precision)
                        or contextlib.nullcontext())

    def run(name: str) -> dict:
        out = {k: tmp_path / name / f for k, f in (("metrics", "m.json"), ("predictions", "p.tsv"),
                                                      ("dev_predictions", "d.tsv"), ("ssaw", "s.json"))}
        out["model"] = tmp_path / name / "model"
        run_stage2(cfg, 0, _inputs(tiny), None, out, tmp_path / name / "ckpt", "question_only")
        return {"metrics": _comparable(json.loads(out["metrics"].read_text())),
                "predictions": out["predictions"].read_text()}

    reads = []
    original = batches.VideoAugment.read
    monkeypatch.setattr(batches.VideoAugment, "read", lambda self, store, plan: reads.append(1) or original(
        self, store, plan))
    without = run("without")
    assert reads == []
    assert precisions and set(precisions) == {"bf16"}

    make = ssl_run.make_collator
    monkeypatch.setattr(ssl_run, "make_collator", lambda *a, **k: make(*a, **{**k, "read_video": True}))
    with_frames = run("with")  # every collator reads the frames again, as before
    assert reads  # the same run, reading every frame as before
    assert with_frames == without
