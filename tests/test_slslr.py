"""SL-SLR (Table 10): gloss segments, clips split by signer, losses, weighting, augmentation, protocols,
a tiny end-to-end run, stage 0 and the DAG-time config checks."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO
from qbslt import config
from qbslt.data.keypoints import JOINT_INDEX, NUM_JOINTS
from qbslt.data.synth import phoenix_grammar
from qbslt.data.synth.render import SignRenderer
from qbslt.errors import ConfigError
from qbslt.slslr import configuration_slslr as slslr_config
from qbslt.slslr.augment import generic_indices, make_views, sign_indices
from qbslt.slslr.clips import ClipError, ClipSet, read_segments, signer_split
from qbslt.slslr.informative import informative_weights
from qbslt.slslr.losses import free_negative_loss, info_nce_loss
from qbslt.slslr.modeling_slslr import ClipEncoder
from qbslt.slslr.protocols import finetune, label_subset, linear_probe, topk_accuracy

HARD = {"frames_per_gloss": [3, 5], "transition_frames": [1, 2], "noise_std": 6.0, "speed_jitter": 0.3,
        "coarticulation": 0.5, "drop_frames": 0.3, "occlusion": 0.2, "lighting": 0.1}
GLOSSES = ["MONTAG", "NORD", "REGEN", "WIND", "STARK", "GRAD"]


def params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


# --- gloss segments ----------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [HARD, {**HARD, "drop_frames": 0.0, "speed_jitter": 0.0, "coarticulation": 0.0}])
def test_segments_follow_the_rendered_video(settings):
    r = SignRenderer((16, 16), settings, seed=3, vocabulary=phoenix_grammar.GLOSS_VOCAB,
                     homonyms=phoenix_grammar.HOMONYMS)
    for k in range(5):
        video, points, segments = r.render_annotated(GLOSSES, f"S{k}", np.random.default_rng(k))
        again, again_points = r.render_with_keypoints(GLOSSES, f"S{k}", np.random.default_rng(k))
        assert np.array_equal(video, again) and np.array_equal(points, again_points, equal_nan=True)
        assert [g for g, _, _ in segments] == GLOSSES
        ends = [0] + [e for _, _, e in segments]
        assert all(ends[i] <= s < e for i, (_, s, e) in enumerate(segments))  # ordered, disjoint, non-empty
        assert segments[-1][2] == len(video)  # the last sign ends the video
        if not settings["drop_frames"] and not settings["speed_jitter"]:
            assert {e - s for _, s, e in segments} == {r.signer(f"S{k}").frames_per_gloss}


def test_generated_segments_files_match_frames_and_signers(slr_data):
    from qbslt.data.frames import list_frame_files
    from qbslt.data.frame_store import read_index
    from qbslt.data.synth.render import SEGMENTS_NAME

    index = read_index(slr_data["index"]["phoenix"])
    written = index[index["length"] > 0]
    assert len(written)
    for _, row in written.iterrows():
        source = Path(row["source"])
        segments = read_segments(source / SEGMENTS_NAME, int(row["length"]))
        assert segments[-1][2] == row["length"] == len(list_frame_files(source))
    bad = slr_data["base"] / "bad.tsv"
    bad.write_text("gloss\tstart\tend\nA\t0\t9\n")
    with pytest.raises(ClipError, match="does not fit"):
        read_segments(bad, 5)
    with pytest.raises(ClipError, match="missing"):
        read_segments(slr_data["base"] / "none.tsv", 5)


# --- clips ---------------------------------------------------------------------------------------

def test_signer_split_holds_out_a_share_and_keeps_one_for_training():
    train, test = signer_split("phoenix", [f"S{i}" for i in range(10)], 0.3)
    assert len(test) == 3 and len(train) == 7 and not set(train) & set(test)
    assert signer_split("phoenix", ["a", "b"], 0.9) == (["a"], ["b"]) or signer_split("phoenix", ["a", "b"], 0.9) == (
        ["b"], ["a"])
    with pytest.raises(ClipError, match="at least two"):
        signer_split("csl", ["a"], 0.3)


def test_clip_index_split_by_signer(slr_data):
    for dataset in ("phoenix", "csl"):
        clips = slr_data["clips"][dataset]
        train, test = clips[clips["split"] == "train"], clips[clips["split"] == "test"]
        assert len(train) and len(test)
        assert not set(train["signer"]) & set(test["signer"])
        assert set(train["gloss"]) == set(test["gloss"])  # only glosses seen in both splits
        assert (clips["sign_start"] >= 0).all() and (clips["sign_end"] <= clips["length"]).all()
        assert (clips["sign_start"] <= 2).all() and (clips["length"] - clips["sign_end"] <= 2).all()  # margin 2


# --- losses --------------------------------------------------------------------------------------

def test_free_negative_loss_is_zero_for_identical_views_and_has_no_negative_term():
    torch.manual_seed(0)
    p = torch.randn(4, 8)
    assert free_negative_loss(p, p.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert free_negative_loss(p, -p).item() == pytest.approx(4.0)
    z = torch.randn(4, 8)
    assert free_negative_loss(p, z).item() > 0
    # Each sample's term involves that sample only: replacing another sample changes the batch loss by
    # exactly that sample's own change (no sample is pushed away from another).
    other_p, other_z = torch.randn(1, 8), torch.randn(1, 8)
    a = free_negative_loss(torch.cat([p[:1], p[1:2]]), torch.cat([z[:1], z[1:2]]))
    b = free_negative_loss(torch.cat([p[:1], other_p]), torch.cat([z[:1], other_z]))
    assert (a - b).item() == pytest.approx((free_negative_loss(p[1:2], z[1:2]) - free_negative_loss(other_p, other_z)).item() / 2,
                                           abs=1e-6)
    # The target is not trained (stop-gradient).
    p.requires_grad_(True), z.requires_grad_(True)
    free_negative_loss(p, z).backward()
    assert z.grad is None and p.grad is not None


def test_info_nce_on_a_hand_checkable_case():
    e = torch.eye(2)
    # Two clips, orthogonal; each view's positive has similarity 1, the two negatives 0 (tau = 1).
    assert info_nce_loss(e, e, 1.0).item() == pytest.approx(np.log(1 + 2 / np.e), abs=1e-6)
    # One clip: the positive is the only candidate.
    assert info_nce_loss(e[:1], e[:1], 0.5).item() == pytest.approx(0.0, abs=1e-6)
    # Unlike the free-negative loss, it depends on the other clips of the batch.
    close = torch.tensor([[1.0, 0.0], [0.9, 0.1]])
    assert info_nce_loss(close, close, 1.0).item() > info_nce_loss(e, e, 1.0).item()


# --- informative weights and augmentation ------------------------------------------------------

def hand_track(xs, visible=None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints with the right wrist at x = xs[t] (y fixed), hidden where ``visible`` is False."""
    t = len(xs)
    points = np.full((t, NUM_JOINTS, 3), np.nan, np.float32)
    mask = np.zeros((t, NUM_JOINTS), bool)
    j = JOINT_INDEX["right_hand.WRIST"]
    for i, x in enumerate(xs):
        if visible is None or visible[i]:
            points[i, j], mask[i, j] = (x, 0.5, 1.0), True
    return points, mask


def test_informative_weights_favour_moving_hands_over_rest():
    # rest, rest, moving, moving, moving, rest, hands out of view
    points, mask = hand_track([0.2, 0.2, 0.3, 0.5, 0.7, 0.7, 0.7], [1, 1, 1, 1, 1, 1, 0])
    w = informative_weights(points, mask, floor=0.2, motion=0.8)
    assert w[3] == w.max() and w[3] > w[0] and w[2] > w[0] and w[4] > w[5]
    assert w[6] == w.min() and w.min() >= 0.2 and w.max() <= 1.0
    still = informative_weights(*hand_track([0.4] * 4), floor=0.2, motion=0.8)
    assert np.allclose(still, 0.2 + 0.8 * 0.2 * 0.5)  # no motion: only "hands in view" (1 of 2 hands)


def test_sign_augmentation_varies_the_sign_gently_in_order_and_the_rest_strongly():
    weights = np.array([0.2, 0.25, 0.9, 1.0, 0.95, 0.8, 0.3, 0.2], np.float32)
    sign = np.flatnonzero(weights >= 0.5)
    rng = np.random.default_rng(0)
    views = []
    for _ in range(200):
        index, noise = sign_indices(weights, rng, keep=0.5, rest_drop=0.5, rest_repeat=0.3, rest_noise=0.5,
                                    sign_speed=0.5, sign_noise=0.1)
        in_sign = np.isin(index, sign)
        assert np.all(np.diff(index) >= 0) and in_sign.any()                   # in order, never empty
        assert np.all(noise[in_sign] == np.float32(0.1)) and np.all(noise[~in_sign] >= 0.5 * (1 - 0.3) - 1e-6)
        views.append(tuple(index[in_sign]))
    # the sign frames themselves differ between views: some repeated, some skipped, never reordered
    assert len(set(views)) >= 4  # 4 sign frames resampled to 2..6
    assert any(len(v) > len(sign) for v in views) and any(len(v) < len(sign) for v in views)


def test_sign_augmentation_keeps_the_sign_frames_and_generic_does_not():
    weights = np.array([0.2, 0.25, 0.9, 1.0, 0.95, 0.3, 0.2], np.float32)
    sign = np.flatnonzero(weights >= 0.5)
    rng = np.random.default_rng(0)
    changed, generic_lost = 0, 0
    for _ in range(200):
        index, noise = sign_indices(weights, rng, keep=0.5, rest_drop=0.5, rest_repeat=0.3, rest_noise=0.5)
        assert list(index[np.isin(index, sign)]) == list(sign)  # each sign frame once, in order
        assert np.all(noise[np.isin(index, sign)] == 0) and np.all(np.diff(index) >= 0)
        changed += len(index) != len(weights)
        g, _ = generic_indices(len(weights), rng, crop=0.6, speed=0.3, drop=0.2, noise=0.5)
        generic_lost += not set(sign) <= set(g.tolist())
    assert changed > 100 and generic_lost > 20


def test_views_gather_frames_and_pad():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    w = torch.tensor([[0.2, 1.0, 1.0, 0.2, 0.2], [1.0, 0.2, 0.2, 0, 0]])
    view, m, vw = make_views(x, mask, w, "sign", {"keep": 0.5, "rest_drop": 1.0, "rest_repeat": 0.0,
                                                  "rest_noise": 0.0}, np.random.default_rng(0), torch.ones(3))
    assert m.tolist() == [[True, True], [True, False]]
    assert torch.equal(view[0], x[0, 1:3]) and torch.equal(view[1, 0], x[1, 0]) and vw[0].tolist() == [1.0, 1.0]


# --- the model folder ------------------------------------------------------------------------------

@pytest.mark.parametrize("objective", ["free_negative", "infonce"])
def test_the_model_round_trips_through_its_folder(tmp_path, objective):
    """SL-SLR's model in the Hugging Face shape: save_pretrained writes config.json and the weights,
    from_pretrained rebuilds the same model (the EMA target of the free-negative objective included)."""
    from qbslt.slslr.configuration_slslr import SLSLRConfig
    from qbslt.slslr.modeling_slslr import SLSLRModel

    video = slslr_config.encoder_config({"backbone": "resnet18", "d_model": 16, "temporal_blocks": 1,
                                         "temporal_kernel": 3, "input_norm": True})
    torch.manual_seed(0)
    model = SLSLRModel(SLSLRConfig.of(video, projector_dim=8, predictor_dim=4, objective=objective))
    model.save_pretrained(tmp_path / "slslr")
    loaded = SLSLRModel.from_pretrained(tmp_path / "slslr")
    assert loaded.config == model.config and loaded.config.video() == video
    assert json.loads((tmp_path / "slslr" / "config.json").read_text())["model_type"] == "slslr"
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(ConfigError, match="sl-slr model config: key 'objective'"):
        SLSLRConfig.of(video, 8, 4, "byol")


# --- protocols -----------------------------------------------------------------------------------

def test_recalibrated_batchnorm_is_the_clean_clips_average_and_leaves_weights_alone():
    from qbslt.slslr.protocols import recalibrate

    data = toy_clips(n_per_class=8, dim=32)
    encoder = ClipEncoder(slslr_config.encoder_config({"backbone": "resnet18", "d_model": 8, "temporal_blocks": 1,
                                                       "temporal_kernel": 3, "input_norm": False})).eval()
    encoder.temporal.blocks[0].conv = torch.nn.Conv1d(32, 8, 3, padding=1)  # the toy features are 32-d
    bn = encoder.temporal.blocks[0].bn
    assert torch.equal(bn.running_mean, torch.zeros(8))  # a fresh encoder: statistics 0 / 1
    calibrated = recalibrate(encoder, data, batch_size=1000)
    with torch.no_grad():
        x = torch.from_numpy(data.features).transpose(1, 2)
        h = encoder.temporal.blocks[0].conv(x).transpose(1, 2).reshape(-1, 8)
    cbn = calibrated.temporal.blocks[0].bn
    assert torch.allclose(cbn.running_mean, h.mean(0), atol=1e-4)
    assert torch.allclose(cbn.running_var, h.var(0), rtol=1e-3)
    assert torch.equal(bn.running_mean, torch.zeros(8)) and not calibrated.training  # a copy, in eval mode
    same = {k: v for k, v in calibrated.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in same.items())


def test_effective_rank_and_signer_probe():
    from qbslt.slslr.protocols import effective_rank, signer_probe

    g = torch.Generator().manual_seed(0)
    line = torch.randn(200, 1, generator=g) * torch.ones(1, 8)
    assert effective_rank(line) == pytest.approx(1.0, abs=0.01)
    assert 7.0 < effective_rank(torch.randn(5000, 8, generator=g)) <= 8.0
    signers = np.array(["a", "b"] * 100)
    probe = {"epochs": 100, "lr": 0.1, "weight_decay": 0.0}
    told = torch.randn(200, 4, generator=g) + 4 * torch.from_numpy((signers == "a").astype(np.float32))[:, None]
    result = signer_probe(told, signers, probe, seed=0)
    assert result["signer_top1"] > 95 and result["signers"] == 2 and 40 <= result["signer_chance"] <= 65
    blind = signer_probe(torch.randn(200, 4, generator=g), signers, probe, seed=0)
    assert blind["signer_top1"] < 75


def toy_clips(n_per_class=30, classes=4, length=4, dim=512, seed=0) -> ClipSet:
    """Clips whose frames carry a class-specific direction plus noise: separable."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    feats = centres[labels][:, None, :] + rng.normal(size=(len(labels), length, dim)).astype(np.float32)
    mask = np.ones((len(labels), length), bool)
    return ClipSet(feats.astype(np.float32), mask, np.ones_like(mask, np.float32), labels,
                   np.where(np.arange(len(labels)) % 3 == 0, "test", "train"), mask.copy(),
                   np.array([f"s{i % 2}" for i in range(len(labels))]), [f"G{i}" for i in range(classes)])


def test_topk_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([1, 2])
    assert topk_accuracy(logits, labels, 1) == 50.0 and topk_accuracy(logits, labels, 2) == 100.0
    assert topk_accuracy(logits, labels, 5) == 100.0


def test_linear_probe_and_finetune_separate_a_toy_set():
    torch.manual_seed(0)
    data = toy_clips()
    train, test = data.subset("train"), data.subset("test")
    encoder = ClipEncoder(slslr_config.encoder_config({"backbone": "resnet18", "d_model": 16, "temporal_blocks": 2,
                                                       "temporal_kernel": 3, "input_norm": True})).eval()
    from qbslt.slslr.protocols import embed

    probe = linear_probe(embed(encoder, train, 64), torch.from_numpy(train.labels), embed(encoder, test, 64),
                         torch.from_numpy(test.labels), 4, epochs=200, lr=0.05, weight_decay=0.0, seed=0)
    assert probe["top1"] >= 90
    labelled = label_subset(train.labels, 0.1, np.random.default_rng(0))
    assert np.bincount(train.labels[labelled]).tolist() == [2, 2, 2, 2]  # per class round(0.1 * 20)
    sub = train.take(labelled)
    tuned = finetune(encoder, sub, test, epochs=40, lr=0.003, weight_decay=0.0, batch_size=64, seed=0)
    assert tuned["top1"] >= 90


# --- end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def slr_data(tmp_path_factory):
    """Tiny rendered PHOENIX- and CSL-like datasets: the training split's frames, features, keypoints, clips."""
    from qbslt.data.frame_store import write_store
    from qbslt.data.keypoints import assemble_rendered
    from qbslt.data.sources import RawDataset
    from qbslt.data.synth.generate import generate_dataset
    from qbslt.slslr.clips import build_clip_index, write_clip_index
    from qbslt.training.features import write_features

    base = tmp_path_factory.mktemp("slr")
    raw = params()
    for d in ("phoenix", "csl"):
        raw["data"]["synthetic"][d].update(train=40, dev=2, test=2)
    tree = config.resolve(raw)
    out = {"base": base, "tree": tree, "clips": {}, "index": {}, "inputs": {}}
    for d in ("phoenix", "csl"):
        generate_dataset(d, base / d / "raw", tree["data"]["synthetic"], (16, 16), progress=False)
        manifest = RawDataset.from_manifest(base / d / "raw" / "manifest.json")
        store, index = base / d / "frames" / "train.npy", base / d / "frames" / "train.index.tsv"
        write_store(manifest.video_sources("train"), store, index, (16, 16), progress=False)
        write_features(store, base / d / "features.npy", "resnet18", False, progress=False)
        assemble_rendered(index, base / d / "keypoints" / "train.npy")
        clips = build_clip_index(d, base / d / "raw" / "manifest.json", index, 2, 0.3)
        write_clip_index(clips, base / d / "clips.tsv", base / d / "clips.json")
        out["clips"][d], out["index"][d] = clips, index
        out["inputs"][d] = {"clips": base / d / "clips.tsv", "features": base / d / "features.npy",
                            "keypoints": base / d / "keypoints" / "train.npy"}
    return out


def test_tiny_end_to_end_run_table_and_stage0(slr_data, tmp_path):
    from qbslt.slslr.run import run_seed
    from qbslt.reports.table10 import write_table10

    tree = slr_data["tree"]
    cfg = {k: v for k, v in tree["slslr"].items() if k not in slslr_config.RUN_EXCLUDED_KEYS}
    cfg.update(batch_size=32, pretrain={**cfg["pretrain"], "epochs": 1}, probe={**cfg["probe"], "epochs": 20},
               finetune={**cfg["finetune"], "epochs": 2})
    encoder_keys = {k: tree["model"][k] for k in slslr_config.ENCODER_MODEL_KEYS}
    encoders = {("phoenix", "sl_slr"): tmp_path / "enc" / "phoenix_sl_slr.safetensors"}
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}.json"
        result = run_seed(cfg, encoder_keys, slr_data["inputs"], seed, out, encoders)
        runs.append(out)
        rows = pd.DataFrame(result["rows"])
        assert set(rows["method"]) == set(tree["slslr"]["methods"])
        assert set(rows["protocol"]) == {"linear", "semi_1", "semi_10", "transfer"}
        transfer = rows[rows["protocol"] == "transfer"]
        assert set(zip(transfer["source"], transfer["dataset"])) == {("phoenix", "csl"), ("csl", "phoenix")}
        assert rows[["top1", "top5"]].apply(lambda c: c.between(0, 100)).all().all()
        assert (rows["top5"] >= rows["top1"]).all()
        for d in ("phoenix", "csl"):
            assert len(result["pretrain"][d]["sl_slr"]["history"]) == 1
            assert result["pretrain"][d]["no_pretrain"]["history"] == []
        diagnostics = pd.DataFrame(result["diagnostics"])
        assert len(diagnostics) == 2 * len(tree["slslr"]["methods"])
        assert diagnostics["effective_rank"].between(1, diagnostics["dim"]).all()
        assert diagnostics["signer_top1"].between(0, 100).all()
    again = run_seed(cfg, encoder_keys, slr_data["inputs"], 0, tmp_path / "again.json")
    assert again["rows"] == json.loads(runs[0].read_text())["rows"]  # deterministic per seed

    paths = write_table10(runs, tmp_path / "tables")
    md = (tmp_path / "tables" / "table10.md").read_text()
    assert md.startswith("Table 10") and "sl_slr" in md and "simclr" in md and " ± " in md
    assert "effective rank" in md and "signer top-1" in md
    table = pd.read_csv(tmp_path / "tables" / "table10.csv")
    assert len(table) == len(pd.DataFrame(result["rows"]))
    linear = table[(table["protocol"] == "linear") & (table["dataset"] == "phoenix")].set_index("method")
    mean_rank = np.mean([d["effective_rank"] for r in runs for d in json.loads(r.read_text())["diagnostics"]
                         if d["dataset"] == "phoenix" and d["method"] == "sl_slr"])
    assert linear.loc["sl_slr", "effective_rank_mean"] == pytest.approx(mean_rank, abs=0.01)
    assert linear["signer_top1_mean"].notna().all() and (linear["n"] == 2).all()
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex"]

    # Stage 0: the encoder loads into SSL-SSAW's temporal module, and only there.
    from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
    from qbslt.training.checkpoint import load_stage0
    from qbslt.training.checkpoint import load_weights

    model = QBSLTModel(QBSLTConfig.from_params(tree["model"], vocab_size=50, bert_vocab_size=50))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = load_stage0(model, encoders[("phoenix", "sl_slr")])
    saved = load_weights(encoders[("phoenix", "sl_slr")])
    after = model.state_dict()
    assert loaded and all(torch.equal(after[k], saved[k.removeprefix("video_embedding.temporal.")]) for k in loaded)
    assert all(torch.equal(after[k], before[k]) for k in after if k not in loaded)
    small = QBSLTModel(QBSLTConfig.from_params({**tree["model"], "d_model": 32, "ffn_dim": 64,
                                                "contrastive_dim": 32}, vocab_size=50, bert_vocab_size=50))
    with pytest.raises(ConfigError, match="does not fit"):
        load_stage0(small, encoders[("phoenix", "sl_slr")])


# --- config --------------------------------------------------------------------------------------

def test_every_method_is_built_and_checked_at_dag_time():
    tree = config.resolve(params())
    assert set(slslr_config.method_configs(tree)) == set(tree["slslr"]["methods"])
    raw = params()
    raw["slslr"]["methods"]["sl_slr"]["objectve"] = "free_negative"
    with pytest.raises(ConfigError, match="slslr.methods.sl_slr.objectve"):
        config.resolve(raw)
    raw = params()
    raw["slslr"]["methods"]["bad"] = {"objective": "none", "augment": "sign", "weighting": False}
    with pytest.raises(ConfigError, match="slslr.methods.bad"):
        slslr_config.method_configs(config.resolve(raw))
    raw = params()
    raw["slslr"]["augment"]["sign"].update(rest_drop=0.8, rest_repeat=0.4)
    with pytest.raises(ConfigError, match="slslr.augment.sign"):
        slslr_config.method_configs(config.resolve(raw))
    raw = params()
    del raw["slslr"]["pretrain"]
    with pytest.raises(ConfigError, match="slslr"):
        config.resolve(raw)


def test_stage0_variant_is_checked_and_leaves_the_other_variants_alone():
    raw = params()
    tree = config.resolve(raw)
    variants = {(d, v): config.variant_config(tree, v) for d in tree["data"]["datasets"]
                for v in config.dataset_variants(tree, d)}
    assert slslr_config.stage0_methods(tree, variants) == {("phoenix", "ssl_ssaw_slr"): "sl_slr"}
    plain, slr = variants[("phoenix", "ssl_ssaw")], variants[("phoenix", "ssl_ssaw_slr")]
    assert set(config.stage1_config(plain)) == {"model", "train"} and "stage0" not in plain
    assert config.stage1_key(plain) != config.stage1_key(slr)
    assert {k: v for k, v in slr.items() if k != "stage0"} == plain
    raw["experiment"]["variants"]["ssl_ssaw_slr"]["stage0"] = "sl_slrr"
    with pytest.raises(ConfigError, match="experiment.variants.ssl_ssaw_slr.stage0"):
        config.resolve(raw)
    raw = params()
    raw["experiment"]["variants"]["ssl_ssaw_slr"]["stage0"] = "no_pretrain"
    tree = config.resolve(raw)
    with pytest.raises(ConfigError, match="not pre-trained"):
        slslr_config.stage0_methods(tree, {("phoenix", "ssl_ssaw_slr"): config.variant_config(tree, "ssl_ssaw_slr")})
    # Paper profile: no isolated-sign clips (null), so no Table 10; a stage-0 variant there fails naming the key.
    paper = config.resolve(params(), "paper")
    assert slslr_config.clip_source(paper) is None
    assert "ssl_ssaw_slr" not in config.dataset_variants(paper, "phoenix")
    with pytest.raises(ConfigError, match="experiment.variants.ssl_ssaw_slr.stage0"):
        slslr_config.stage0_methods(paper, {("phoenix", "ssl_ssaw_slr"): config.variant_config(paper, "ssl_ssaw_slr")})


# --- an isolated-sign dataset (slslr.isolated_dataset; the paper profile's clips) ---------------

def write_isolated_dataset(root: Path, signers=("s1", "s2", "s3", "s4"), glosses=("book", "drink")) -> Path:
    """Frame folders of PNGs (one video per signer and gloss; one of them an mp4 via PyAV) and the CSV."""
    from PIL import Image

    rows = ["video,gloss,signer"]
    rng = np.random.default_rng(0)
    for i, signer in enumerate(signers):
        for j, gloss in enumerate(glosses):
            frames = rng.integers(0, 255, (3 + i + j, 24, 20, 3), dtype=np.uint8)
            if (i, j) == (0, 0):
                import av

                video = f"videos/{signer}_{gloss}.mp4"
                (root / "videos").mkdir(parents=True, exist_ok=True)
                with av.open(str(root / video), "w") as container:
                    stream = container.add_stream("mpeg4", rate=25)
                    stream.width, stream.height, stream.pix_fmt = 20, 24, "yuv420p"
                    for frame in frames:
                        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                    container.mux(stream.encode())
            else:
                video = f"frames/{signer}_{gloss}"
                (root / video).mkdir(parents=True)
                for t, frame in enumerate(frames):
                    Image.fromarray(frame).save(root / video / f"{t:04d}.png")
            rows.append(f"{video},{gloss},{signer}")
    (root / "isolated.csv").write_text("\n".join(rows) + "\n")
    return root / "isolated.csv"


def test_isolated_dataset_becomes_a_frame_store_and_clips_split_by_signer(tmp_path):
    from qbslt.cli import main
    from qbslt.data.frame_store import open_store, read_index
    from qbslt.slslr.clips import read_clip_index

    write_isolated_dataset(tmp_path / "raw")
    out = tmp_path / "data"
    assert main(["slslr-isolated", "--name", "toy", "--root", str(tmp_path / "raw"), "--index", "isolated.csv",
                 "--size", "16", "16", "--out-store", str(out / "train.npy"), "--out-index",
                 str(out / "train.index.tsv"), "--clips", str(out / "clips.tsv"), "--summary", str(out / "clips.json"),
                 "--test-signer-share", "0.25", "--no-progress"]) == 0
    index, store = read_index(out / "train.index.tsv"), open_store(out / "train.npy")
    assert len(index) == 8 and store.shape == (int(index["length"].sum()), 16, 16, 3)
    assert index.set_index("name").at["videos/s1_book.mp4", "length"] == 3  # decoded by PyAV
    clips = read_clip_index(out / "clips.tsv")
    assert len(clips) == 8 and set(clips["gloss"]) == {"book", "drink"}
    # One clip per video, the sign spanning it; exactly one of four signers held out, all of their clips.
    assert (clips["sign_start"] == 0).all() and (clips["sign_end"] == clips["length"]).all()
    assert (clips.set_index("name")["offset"] == index.set_index("name")["offset"]).all()
    test_signers = set(clips.loc[clips["split"] == "test", "signer"])
    assert len(test_signers) == 1 and not test_signers & set(clips.loc[clips["split"] == "train", "signer"])
    assert json.loads((out / "clips.json").read_text())["clips"] == {"train": 6, "test": 2}

    # Then as in the paper DAG: frozen features and MediaPipe keypoints of that store, one SL-SLR seed on
    # the one dataset (no transfer protocol), Table 10 naming it.
    from qbslt.slslr.run import run_seed
    from qbslt.reports.table10 import write_table10
    from qbslt.training.features import write_features

    write_features(out / "train.npy", out / "features.npy", "resnet18", False, progress=False)
    assert main(["keypoints", "--index", str(out / "train.index.tsv"), "--frame-store", str(out / "train.npy"),
                 "--out", str(out / "keypoints.npy"), "--extractor", "mediapipe", "--no-progress"]) == 0
    tree = config.resolve(params())
    cfg = {k: v for k, v in tree["slslr"].items() if k not in slslr_config.RUN_EXCLUDED_KEYS}
    cfg.update(batch_size=8, pretrain={**cfg["pretrain"], "epochs": 1}, probe={**cfg["probe"], "epochs": 5},
               finetune={**cfg["finetune"], "epochs": 1})
    inputs = {"toy": {"clips": out / "clips.tsv", "features": out / "features.npy", "keypoints": out / "keypoints.npy"}}
    result = run_seed(cfg, {k: tree["model"][k] for k in slslr_config.ENCODER_MODEL_KEYS}, inputs, 0,
                      tmp_path / "seed0.json")
    assert {r["protocol"] for r in result["rows"]} == {"linear", "semi_1", "semi_10"}
    write_table10([tmp_path / "seed0.json"], tmp_path / "tables")
    md = (tmp_path / "tables" / "table10.md").read_text()
    assert "an isolated-sign dataset" in md and "| toy | sl_slr" in md and "transfer" not in md.split("\n")[2]


@pytest.mark.parametrize("edit, message", [
    (lambda rows: ["clip,gloss,signer"] + rows[1:], r"isolated.csv:1: expected the header video,gloss,signer"),
    (lambda rows: rows + ["frames/s2_book,,s2"], r"isolated.csv:10: expected video, gloss, signer"),
    (lambda rows: rows + [rows[2]], r"isolated.csv:10: video frames/s1_drink is listed twice \(first on line 3\)"),
    (lambda rows: rows + ["frames/nowhere,book,s9"], r"isolated.csv:10: video frames/nowhere not found"),
])
def test_isolated_index_mistakes_fail_naming_file_and_line(tmp_path, edit, message):
    from qbslt.slslr.isolated import read_isolated_index

    index = write_isolated_dataset(tmp_path)
    index.write_text("\n".join(edit(index.read_text().splitlines())) + "\n")
    with pytest.raises(ClipError, match=message):
        read_isolated_index(tmp_path, index)


def test_isolated_dataset_is_the_clip_source_of_the_paper_profile():
    raw = params()
    raw["slslr"]["isolated_dataset"] = {"name": "wlasl", "root": "data/paper/raw/wlasl", "index": "isolated.csv"}
    paper = config.resolve(raw, "paper")
    assert slslr_config.clip_source(paper) == "isolated" and slslr_config.clip_datasets(paper) == ["wlasl"]
    assert slslr_config.encoder_model(paper)["backbone"] == "resnet18"  # frozen features of its own, trained backbone or not
    with pytest.raises(ConfigError, match="experiment.variants.ssl_ssaw_slr.stage0: SL-SLR pre-trains on"):
        slslr_config.stage0_methods(paper, {("phoenix", "ssl_ssaw_slr"): config.variant_config(paper, "ssl_ssaw_slr")})
    raw["slslr"]["isolated_dataset"]["name"] = "phoenix"
    with pytest.raises(ConfigError, match="slslr.isolated_dataset.name: 'phoenix' is a translation dataset's name"):
        slslr_config.clip_datasets(config.resolve(raw, "paper"))
    raw["slslr"]["isolated_dataset"] = {"name": "wlasl", "root": "x"}
    with pytest.raises(ConfigError, match="slslr.isolated_dataset"):
        config.resolve(raw, "paper")
