"""Sigma: skeleton encoder shapes and masks, each pre-training loss on a hand-checkable case, the
sign-aware early fusion, variant checks, and a tiny end-to-end run (pre-training + translation +
Table 9) on synthetic keypoints."""

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from qbslt import config
from qbslt.data import keypoints as kp
from qbslt.errors import ConfigError
from qbslt.experiment import Experiment
from qbslt.sigma import losses
from qbslt.sigma.configuration_sigma import SigmaConfig, check_settings
from qbslt.sigma.modeling_sigma import SigmaModel
from qbslt.training.tokenizer import load_tokenizer

from conftest import REPO

TAU = 0.5  # a loss far from 0, so float32 matches the analytic value closely


def tiny_config(**changes) -> SigmaConfig:
    base = dict(d_model=16, attention_heads=2, ffn_dim=32, dropout=0.0, encoder_layers=2, fusion_layers=1,
                temporal_blocks=1, vocab_size=20, max_positions=64)
    return SigmaConfig(**{**base, **changes})


def test_sigma_model_save_pretrained_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SigmaModel(tiny_config()).eval()
    model.save_pretrained(tmp_path / "sigma")
    again = SigmaModel.from_pretrained(tmp_path / "sigma")
    assert again.config == model.config and not again.training
    state, loaded = model.state_dict(), again.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in state)


def keypoint_batch(lengths=(5, 3), joints_found=(0, 11, 12, 15, 16), seed=0, text=None) -> dict:
    """Keypoints with NaN at every joint not in ``joints_found`` (as the store holds them)."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    points = torch.full((B, T, 75, 3), float("nan"))
    mask = torch.zeros(B, T, 75, dtype=torch.bool)
    frame_mask = torch.zeros(B, T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        frame_mask[b, :n] = True
        for j in joints_found:
            points[b, :n, j] = torch.rand(n, 3, generator=g)
            mask[b, :n, j] = True
    text = text if text is not None else torch.tensor([[6, 7, 8, 2], [9, 10, 2, 1]])
    labels = text.masked_fill(text == 1, -100)
    return {"keypoints": points, "keypoint_mask": mask, "frame_mask": frame_mask, "text_ids": text,
            "text_mask": text != 1, "labels": labels}


# --- skeleton encoder --------------------------------------------------------------------------

def test_skeleton_encoder_shapes_masks_and_no_nan():
    torch.manual_seed(0)
    model = SigmaModel(tiny_config()).eval()
    batch = keypoint_batch()
    s, sm = model.encode_skeleton(batch)
    assert s.shape == (2, 3, 16) and sm.tolist() == [[True, True, True], [True, True, False]]
    assert torch.isfinite(s).all() and (s[1, 2] == 0).all()  # padded position: exactly 0
    v, vm = model.encode(batch)
    assert v.shape == (2, 3, 16) and torch.equal(vm, sm) and torch.isfinite(v).all()
    # What lies at a masked joint or a padded frame never matters.
    other = copy.deepcopy(batch)
    other["keypoints"][~other["keypoint_mask"]] = 123.0
    assert torch.allclose(model.encode(other)[0], v)
    alone = {k: t[1:, :3] if t.dim() > 1 and k in ("keypoints", "keypoint_mask", "frame_mask") else t[1:]
             for k, t in batch.items()}
    assert torch.allclose(model.encode(alone)[0][0], v[1, :2], atol=1e-5)
    # A joint that is found changes the features; the found flag is part of the input.
    moved = copy.deepcopy(batch)
    moved["keypoints"][0, 0, 11, 0] += 0.3
    assert not torch.allclose(model.encode(moved)[0][0], v[0])


def test_joint_features_mark_found_joints_and_zero_the_rest():
    points = torch.tensor([[[[0.5, 1.0, 0.9], [float("nan")] * 3]]])  # [1, 1, 2, 3]
    mask = torch.tensor([[[True, False]]])
    feats = SigmaModel(tiny_config(num_joints=2)).skeleton_encoder.joint_features(points, mask)
    assert feats.tolist() == [[[[0.0, 1.0, pytest.approx(0.9), 1.0], [0.0, 0.0, 0.0, 0.0]]]]


def test_coordinate_fourier_features_follow_the_raw_ones_and_stay_zero_at_masked_joints():
    points = torch.tensor([[[[0.75, 0.625, 0.9], [float("nan")] * 3]]])  # x, y centred: 0.5, 0.25
    mask = torch.tensor([[[True, False]]])
    encoder = SigmaModel(tiny_config(num_joints=2, coordinate_frequencies=2)).skeleton_encoder
    feats = encoder.joint_features(points, mask)
    assert feats.shape == (1, 1, 2, 4 + 8) and encoder.joint_mlp[0].in_features == 2 * 12
    x, y = 0.5, 0.25  # sin(x pi), sin(2 x pi), cos(x pi), cos(2 x pi), then the same of y
    expected = [math.sin(x * math.pi), math.sin(2 * x * math.pi), math.cos(x * math.pi), math.cos(2 * x * math.pi),
                math.sin(y * math.pi), math.sin(2 * y * math.pi), math.cos(y * math.pi), math.cos(2 * y * math.pi)]
    assert feats[0, 0, 0, :4].tolist() == [0.5, 0.25, pytest.approx(0.9), 1.0]
    assert feats[0, 0, 0, 4:].tolist() == pytest.approx(expected, abs=1e-6)
    assert not feats[0, 0, 1].any()  # a masked joint: all zeros, its NaN never used


# --- losses --------------------------------------------------------------------------------------

def aligned_orthogonal_pairs(B=4):
    eye = torch.eye(B)
    return eye, eye.clone()


def test_global_alignment_of_aligned_orthogonal_pairs_is_the_analytic_value():
    v, t = aligned_orthogonal_pairs(4)
    expected = math.log1p(3 * math.exp(-1 / TAU))  # -log(e^(1/tau) / (e^(1/tau) + 3))
    assert losses.global_alignment_loss(v, t, TAU).item() == pytest.approx(expected, rel=1e-5)
    # Swapped pairs: every positive is orthogonal, the loss is larger.
    assert losses.global_alignment_loss(v, t[[1, 0, 3, 2]], TAU).item() > expected + 1


def test_fine_grained_alignment_of_aligned_orthogonal_pairs_ignores_padding():
    v, t = aligned_orthogonal_pairs(4)
    expected = math.log1p(3 * math.exp(-1 / TAU))  # -log(e^(1/tau) / (e^(1/tau) + 3))
    frames, tokens = v[:, None, :].repeat(1, 3, 1), t[:, None, :].repeat(1, 2, 1)  # 3 frames, 2 tokens each
    frame_mask, token_mask = torch.ones(4, 3, dtype=torch.bool), torch.ones(4, 2, dtype=torch.bool)
    frame_mask[0, 2] = token_mask[1, 1] = False
    frames[0, 2] = -t[1]  # garbage at padding must not count
    tokens[1, 1] = v[3]
    loss = losses.fine_grained_alignment_loss(frames, frame_mask, tokens, token_mask, TAU)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    v2t, t2v = losses.token_wise_similarity(frames, frame_mask, tokens, token_mask)
    assert torch.allclose(v2t, torch.eye(4)) and torch.allclose(t2v, torch.eye(4))


def test_hierarchical_alignment_sums_levels_with_their_weights():
    fine, global_ = torch.tensor(2.0), torch.tensor(3.0)
    assert losses.hierarchical_alignment_loss(fine, global_, {"fine": 0.5, "global": 0.25}).item() == 1.75
    assert losses.hierarchical_alignment_loss(fine, global_, {"fine": 0.0, "global": 1.0}).item() == 3.0


def test_video_text_matching_with_known_logits():
    logits, is_match = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1, 0, 0])
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)) + math.log(2)) / 3
    assert losses.video_text_matching_loss(logits, is_match).item() == pytest.approx(expected, rel=1e-6)


def test_hard_negatives_are_the_most_similar_other_text_never_an_identical_one():
    sim = torch.tensor([[0.9, 0.8, 0.1],
                        [0.2, 0.9, 0.7],
                        [0.5, 0.3, 0.9]])
    same = torch.eye(3, dtype=torch.bool)
    text_for_video, video_for_text = losses.mine_hard_negatives(sim, same)
    assert text_for_video.tolist() == [1, 2, 0] and video_for_text.tolist() == [2, 0, 1]
    same[0, 1] = same[1, 0] = True  # texts 0 and 1 are the same sentence
    text_for_video, _ = losses.mine_hard_negatives(sim, same)
    assert text_for_video.tolist() == [2, 2, 0]
    none, _ = losses.mine_hard_negatives(sim, torch.ones(3, 3, dtype=torch.bool))
    assert none.tolist() == [-1, -1, -1]


def test_language_modelling_loss_ignores_padding():
    logits = torch.randn(1, 3, 5)
    labels = torch.tensor([[2, 4, -100]])
    expected = F.cross_entropy(logits[0, :2], labels[0, :2])
    assert losses.language_modelling_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    logits[0, 2] = 1000.0  # whatever the model says at padding
    assert losses.language_modelling_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_unified_pretraining_loss_weights_and_skips_zero_terms():
    parts = {"l_align": torch.tensor(1.0), "l_vtm": torch.tensor(2.0), "l_lm": torch.tensor(float("nan"))}
    total = losses.unified_pretraining_loss(parts, {"contrastive": 0.5, "vtm": 2.0, "lm": 0.0})
    assert total.item() == 4.5  # the LM term (weight 0) is not even added
    with pytest.raises(ValueError):
        losses.unified_pretraining_loss(parts, {"contrastive": 0.0, "vtm": 0.0, "lm": 0.0})


# --- sign-aware early fusion ------------------------------------------------------------------

def test_early_fusion_changes_visual_features_with_the_text_and_is_absent_without_it():
    torch.manual_seed(0)
    batch = keypoint_batch()
    text_a, text_b = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    text_mask = torch.ones(2, 4, dtype=torch.bool)
    fused = SigmaModel(tiny_config()).eval()
    assert fused.visual_encoder.has_fusion
    s, sm = fused.encode_skeleton(batch)
    alone = fused.visual_encoder(s, sm)
    with_a = fused.visual_encoder(s, sm, text_a, text_mask)
    with_b = fused.visual_encoder(s, sm, text_b, text_mask)
    assert not torch.allclose(with_a, with_b) and not torch.allclose(with_a, alone)
    assert (with_a[1, 2] == 0).all()  # padding stays 0
    # Only the first fusion_layers layers cross-attend ("early" in the stack).
    assert [layer.cross_attn is not None for layer in fused.visual_encoder.layers] == [True, False]

    plain = SigmaModel(tiny_config(early_fusion=False)).eval()
    assert not plain.visual_encoder.has_fusion
    s, sm = plain.encode_skeleton(batch)
    assert torch.equal(plain.visual_encoder(s, sm, text_a, text_mask), plain.visual_encoder(s, sm, text_b, text_mask))


def test_pretraining_objectives_are_finite_and_a_zero_weight_is_not_computed():
    torch.manual_seed(0)
    model = SigmaModel(tiny_config())
    batch = keypoint_batch()
    full = {"loss_weights": {"contrastive": 1.0, "vtm": 1.0, "lm": 1.0}, "levels": {"fine": 0.5, "global": 0.5}}
    out = model.pretrain_losses(batch, full)
    assert all(torch.isfinite(v) for v in out.values())
    assert out["l_align"].item() == pytest.approx(0.5 * out["l_fine"].item() + 0.5 * out["l_global"].item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["l_align"].item() + out["l_vtm"].item() + out["l_lm"].item(), rel=1e-5)
    out["loss"].backward()
    assert model.visual_encoder.layers[0].cross_attn.in_proj_weight.grad.abs().sum() > 0  # VTM trains the fusion
    no_vtm = {**full, "loss_weights": {"contrastive": 1.0, "vtm": 0.0, "lm": 1.0}}
    assert model.pretrain_losses(batch, no_vtm)["l_vtm"].item() == 0.0
    one_level = {**full, "levels": {"fine": 0.0, "global": 1.0}}
    out = model.pretrain_losses(batch, one_level)
    assert out["l_fine"].item() == 0.0 and out["l_align"].item() == pytest.approx(out["l_global"].item())


# --- configuration ----------------------------------------------------------------------------

def params() -> dict:
    import yaml

    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_every_sigma_variant_of_params_builds():
    tree = config.load(REPO / "params.yaml")
    assert list(tree["sigma"]["variants"]) == ["full", "no_pretraining", "no_early_fusion", "one_level_alignment",
                                               "no_contrastive", "no_vtm", "no_lm"]
    for name in tree["sigma"]["variants"]:
        check_settings(config.sigma_variant_config(tree, name), name)
    assert config.sigma_variant_config(tree, "no_early_fusion")["model"]["early_fusion"] is False
    assert config.sigma_variant_config(tree, "one_level_alignment")["levels"]["fine"] == 0.0
    assert config.sigma_run_variants(tree) == list(tree["sigma"]["variants"])  # run: all
    raw = params()
    raw["sigma"]["run"] = ["no_lm", "full"]
    assert config.sigma_run_variants(config.resolve(raw)) == ["no_lm", "full"]


def test_paper_profile_sizes_build_pretrain_translate_and_decode():
    """The paper profile's Sigma (never trained here: it needs a GPU) at its own sizes, on a CPU batch:
    every objective of every variant is finite and reaches the parameters, translation decodes."""
    tree = config.load(REPO / "params.yaml", profile="paper")
    torch.manual_seed(0)
    for name in tree["sigma"]["variants"]:
        settings = config.sigma_variant_config(tree, name)
        model = SigmaModel(SigmaConfig.from_params(settings["model"], vocab_size=3000, pad_token_id=1, bos_token_id=0,
                                                   eos_token_id=2))
        assert model.config.d_model == 256 and len(model.visual_encoder.layers) == 4
        batch = keypoint_batch(lengths=(24, 17), text=torch.tensor([[6, 7, 8, 9, 2], [10, 11, 2, 1, 1]]))
        objectives = [model.translation_losses(batch)]
        if settings["pretraining"]:
            objectives.append(model.pretrain_losses(batch, settings))
        for out in objectives:
            assert torch.isfinite(out["loss"]) and out["loss"].item() > 0, name
            model.zero_grad()
            out["loss"].backward()
            assert model.skeleton_encoder.joint_mlp[0].weight.grad.abs().sum() > 0, name
    assert [len(ids) <= 5 for ids in model.generate(batch, max_new_tokens=5)] == [True, True]


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["sigma"]["model"].update(d_modle=8), "unknown key 'sigma.model.d_modle'"),
    (lambda p: p["sigma"]["variants"].update(typo={"loss_weight": {"lm": 0}}), "sigma.variants.typo"),
    (lambda p: p["sigma"]["variants"].update(typo={"model": {"early_fusoin": False}}),
     "unknown key 'sigma.variants.typo.model.early_fusoin'"),
    (lambda p: p["sigma"]["variants"].update(nothing={"loss_weights": {"contrastive": 0, "vtm": 0, "lm": 0}}),
     "sigma.variants.nothing: pretraining is on but every objective of loss_weights"),
    (lambda p: p["sigma"]["variants"].update(no_levels={"levels": {"fine": 0.0, "global": 0.0}}),
     "sigma.variants.no_levels: key 'levels'"),
    (lambda p: p["sigma"]["variants"].update(bad={"model": {"fusion_layers": 3}}),
     "sigma.variants.bad: sigma model config: key 'fusion_layers'"),
    (lambda p: p["sigma"]["pretrain"].update(lr=0), "key 'sigma.pretrain.lr'"),
    (lambda p: p["sigma"].update(run=["full", "no_lmm"]), "key 'sigma.run': unknown Sigma variant 'no_lmm'"),
    (lambda p: p["sigma"]["finetune"].pop("eval_every"), "'eval_every' is a required property"),
    (lambda p: p.pop("sigma"), "'sigma' is a required property"),
])
def test_sigma_config_mistakes_fail_naming_the_key(edit, message):
    raw = params()
    edit(raw)
    with pytest.raises(ConfigError, match=None) as err:
        config.resolve(raw, check=Experiment.check)
    assert message in str(err.value)


def test_no_pretraining_with_every_objective_off_is_consistent():
    raw = params()
    raw["sigma"]["variants"]["bare"] = {"pretraining": False, "loss_weights": {"contrastive": 0, "vtm": 0, "lm": 0}}
    assert "bare" in config.resolve(raw)["sigma"]["variants"]


# --- end to end --------------------------------------------------------------------------------

def synthetic_split(root, split, n, rng, tokenizer_texts):
    """Examples + frame index + keypoint store of ``n`` videos whose right wrist moves with the word."""
    words = ["regen", "sonne", "wind", "schnee"]
    lengths = rng.integers(4, 9, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    names = [f"{split}{i}" for i in range(n)]
    sentences = [f"morgen {words[i % 4]}" for i in range(n)]
    tokenizer_texts += sentences
    frames = root / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"name": names, "offset": offsets, "length": lengths, "source": names}).to_csv(
        frames / f"{split}.index.tsv", sep="\t", index=False)
    videos = []
    for i, length in enumerate(lengths):
        points = rng.uniform(0.2, 0.8, (length, 75, 3)).astype(np.float32)
        points[:, kp.JOINT_INDEX["right_hand.WRIST"], 1] = 0.1 + 0.2 * (i % 4)
        mask = np.zeros((length, 75), dtype=bool)
        mask[:, [kp.JOINT_INDEX[j] for j in ("pose.NOSE", "pose.LEFT_SHOULDER", "right_hand.WRIST")]] = True
        videos.append((points, mask))
    kp.write_keypoint_store(root / "keypoints" / f"{split}.npy", frames / f"{split}.index.tsv", iter(videos),
                            "renderer")
    examples = root / "examples"
    examples.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"name": names, "signer": "s1", "split": split, "frame_offset": offsets, "num_frames": lengths,
                  "translation": sentences, "question": "wie wird das wetter", "gloss": ""}).to_csv(
        examples / f"{split}.tsv", sep="\t", index=False)


def test_tiny_end_to_end_pretraining_translation_and_table9(tmp_path):
    from qbslt.sigma.run import SigmaInputs, run_all
    from qbslt.reports.table9 import write_table9
    from qbslt.training.tokenizer import train_word_tokenizer

    rng = np.random.default_rng(0)
    texts = []
    for split, n in (("train", 12), ("dev", 4), ("test", 4)):
        synthetic_split(tmp_path, split, n, rng, texts)
    train_word_tokenizer(texts, "word").save_pretrained(str(tmp_path / "tokenizer"))

    tree = config.load(REPO / "params.yaml")
    variants = {}
    for name in ("full", "no_pretraining", "no_early_fusion"):
        s = config.sigma_variant_config(tree, name)
        s["model"].update(d_model=16, ffn_dim=32)
        s["pretrain"].update(epochs=1, batch_size=6)
        s["finetune"].update(epochs=2, batch_size=6, eval_every=1)
        s["max_new_tokens"] = 6
        variants[name] = s
    cfg = {"variants": variants, "data": {"max_frames": 6, "max_text_tokens": 8}, "device": "cpu", "threads": 1, "deterministic": True,
           "eval": {"num_beams": 2, "eval_beams_during_training": 1, "batch_size": None}}
    inputs = SigmaInputs("phoenix", tmp_path / "examples", tmp_path / "keypoints", tmp_path / "frames",
                         tmp_path / "tokenizer")
    results = run_all(cfg, "phoenix", 0, inputs, tmp_path / "out", tmp_path / "checkpoints")
    assert set(results) == set(variants)
    for name in variants:
        metrics = json.loads((tmp_path / "out" / "metrics" / "phoenix" / name / "seed0.json").read_text())
        assert {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"} <= set(metrics["test"])
        assert metrics["decoding"] == {"num_beams": 2, "max_new_tokens": 6}
        assert ("pretrain" in metrics) == (name != "no_pretraining") and metrics["finetune"]["epochs"] == 2
        # dev-selected weights: dev BLEU-4 after every epoch (eval_every 1), the best one kept
        scores = [h["dev_score"] for h in metrics["finetune"]["history"]]
        assert len(scores) == 2 and metrics["finetune"]["best_epoch"] == 1 + scores.index(max(scores))
        # the reliance checks: distinct hypotheses of the 4 test videos, test decoded with shuffled keypoints
        assert 1 <= metrics["test"]["distinct_hypotheses"] <= 4
        assert metrics["test"]["distinct_share"] == metrics["test"]["distinct_hypotheses"] / 4
        assert {"bleu4", "rouge_l"} <= set(metrics["test"]["shuffled_keypoints"])
        predictions = pd.read_csv(tmp_path / "out" / "predictions" / "phoenix" / name / "seed0.tsv", sep="\t",
                                  keep_default_na=False)
        assert len(predictions) == 4
    full = json.loads((tmp_path / "out" / "metrics" / "phoenix" / "full" / "seed0.json").read_text())
    assert {"l_fine", "l_global", "l_vtm", "l_lm"} <= set(full["pretrain"]["history"][0])

    paths = write_table9(sorted((tmp_path / "out" / "metrics").glob("*/*/seed0.json")), [], list(variants),
                         ["phoenix"], tmp_path / "tables")
    assert [p.name for p in paths] == ["table9.md", "table9.csv", "table9.tex"]
    md = (tmp_path / "tables" / "table9.md").read_text()
    assert "Sigma (full)" in md and "not in its abstract" in md and "SSL-SSAW (paper)" in md
    table = pd.read_csv(tmp_path / "tables" / "table9.csv")
    sigma_rows = table[table["variant"].isin(list(variants))]
    assert (sigma_rows["status"] == "measured").all() and (sigma_rows["n_seeds"] == 1).all()
    assert sigma_rows.set_index("variant").loc["full", "bleu4_mean"] == full["test"]["bleu4"]
    assert sigma_rows.set_index("variant").loc["full", "shuffled_bleu4"] == full["test"]["shuffled_keypoints"]["bleu4"]
    assert sigma_rows.set_index("variant").loc["full", "distinct_share"] == full["test"]["distinct_share"]
    assert "BLEU-4 shuffled" in md and "distinct" in md
    assert (table[table["variant"] == "ssl_ssaw_skeleton"]["status"] == "not run").all()
    paper = table[table["label"] == "SSL-SSAW (paper)"].iloc[0]
    assert paper["bleu4_mean"] == 35.42 and paper["status"] == "reported (not run)"


def test_shuffled_inputs_are_a_seeded_derangement_and_distinct_hypotheses_are_counted():
    from qbslt.eval.reliance import derangement, distinct_hypotheses

    for n in (2, 3, 10, 642):
        p = derangement(n, seed=0)
        assert sorted(p.tolist()) == list(range(n)) and (p != np.arange(n)).all()
    assert (derangement(50, 1) == derangement(50, 1)).all() and (derangement(50, 1) != derangement(50, 2)).any()
    with pytest.raises(ValueError):
        derangement(1, 0)
    assert distinct_hypotheses(["a b", "a b", "c", "a b"]) == {"count": 2, "share": 0.5}


def test_shuffled_examples_take_the_keypoints_of_another_example(tmp_path):
    from qbslt.sigma.data import KeypointCollator, KeypointExamples
    from qbslt.sigma.run import with_inputs_of
    from qbslt.training.tokenizer import train_word_tokenizer

    rng, texts = np.random.default_rng(0), []
    synthetic_split(tmp_path, "test", 5, rng, texts)
    train_word_tokenizer(texts, "word").save_pretrained(str(tmp_path / "tokenizer"))
    tok = load_tokenizer(tmp_path / "tokenizer")
    data = KeypointExamples.load(tmp_path / "examples" / "test.tsv", tmp_path / "keypoints" / "test.npy", tok,
                                 "word", 16, 8)
    order = [1, 2, 3, 4, 0]
    shuffled = with_inputs_of(data, order)
    a, b = KeypointCollator(data, tok.pad_token_id), KeypointCollator(shuffled, tok.pad_token_id)
    for i, j in enumerate(order):
        x, y = a([j]), b([i])
        assert torch.equal(x["keypoint_mask"], y["keypoint_mask"])
        assert torch.equal(torch.nan_to_num(x["keypoints"]), torch.nan_to_num(y["keypoints"]))
        assert torch.equal(y["labels"], a([i])["labels"])  # the text stays the example's own
    assert shuffled.translations == data.translations and data.rows[0] is not shuffled.rows[0]


def test_sigma_beam_search_decodes_like_greedy_with_one_beam():
    torch.manual_seed(0)
    model = SigmaModel(tiny_config()).eval()
    batch = keypoint_batch()
    greedy = model.generate(batch, max_new_tokens=5)
    assert model.generate(batch, max_new_tokens=5, num_beams=1) == greedy
    beams = model.generate(batch, max_new_tokens=5, num_beams=3)
    assert len(beams) == len(greedy) and all(len(s) <= 5 for s in beams)


# --- SSL-SSAW with RGB + skeleton (variant ssl_ssaw_skeleton) ---------------------------------

def qbslt_config(**changes):
    from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig

    base = dict(backbone_pretrained=False, d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2,
                ffn_dim=32, contrastive_dim=16, vocab_size=30, max_positions=64, temporal_blocks=1, temporal_kernel=3)
    return QBSLTConfig(**{**base, **changes})


def rgb_batch(B=2, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    kb = keypoint_batch(lengths=(T, T - 2), seed=seed)
    return {"video": torch.randn(B, T, 512, generator=g), "video_mask": kb["frame_mask"],
            "keypoints": kb["keypoints"], "keypoint_mask": kb["keypoint_mask"],
            "question_ids": torch.tensor([[6, 7], [8, 1]]), "question_mask": torch.tensor([[1, 1], [1, 0]]).bool(),
            "question_dec_ids": torch.tensor([[6, 7], [8, 1]]), "question_dec_mask": torch.tensor([[1, 1], [1, 0]]).bool(),
            "labels": torch.tensor([[9, 10, 2], [11, 2, -100]])}


def test_skeleton_off_builds_exactly_the_rgb_model():
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel

    torch.manual_seed(0)
    rgb = QBSLTModel(qbslt_config())
    torch.manual_seed(0)
    again = QBSLTModel(qbslt_config(skeleton=False))
    assert not hasattr(rgb.video_embedding, "skeleton")
    assert all(torch.equal(a, b) for a, b in zip(rgb.state_dict().values(), again.state_dict().values()))
    # params.yaml: only ssl_ssaw_skeleton turns it on, and it shares SSL-SSAW's stage 1.
    tree = config.load(REPO / "params.yaml")
    on = config.variant_config(tree, "ssl_ssaw_skeleton")
    assert on["model"]["skeleton"] and not config.variant_config(tree, "ssl_ssaw")["model"]["skeleton"]
    assert config.stage1_key(on) == config.stage1_key(config.variant_config(tree, "ssl_ssaw"))


def test_skeleton_stream_starts_as_the_rgb_model_and_then_uses_the_keypoints():
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel

    torch.manual_seed(0)
    stage1 = QBSLTModel(qbslt_config()).state_dict()
    model = QBSLTModel(qbslt_config(skeleton=True)).eval()
    loaded = model.load_stage1(stage1)
    assert not any(k.startswith("video_embedding.skeleton.") for k in loaded)  # stage 1 has no skeleton stream
    rgb = QBSLTModel(qbslt_config()).eval()
    missing, unexpected = model.load_state_dict(rgb.state_dict(), strict=False)  # same weights everywhere else
    assert not unexpected and all(k.startswith("video_embedding.skeleton.") for k in missing)
    batch = rgb_batch()
    # Zero-initialised output layer: at the start the fused model is the RGB model.
    assert torch.allclose(model.encode(batch)[0], rgb.encode(batch)[0], atol=1e-6)
    loss = model.translation_losses(batch)["loss"]
    loss.backward()
    assert model.video_embedding.skeleton.mlp[-1].weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.video_embedding.skeleton.mlp[-1].weight.normal_()
    moved = copy.deepcopy(batch)
    moved["keypoints"][0, 0, 11, 0] += 0.3
    assert not torch.allclose(model.encode(moved)[0], model.encode(batch)[0])
    with pytest.raises(ValueError, match="no keypoints"):
        model.encode({k: v for k, v in batch.items() if not k.startswith("keypoint")})
    with pytest.raises(ConfigError, match="'skeleton'"):
        qbslt_config(skeleton=True, inputs="question", ssl=False)


def test_rgb_batches_carry_the_keypoints_of_exactly_their_frames(tmp_path):
    from qbslt.data.join import read_examples
    from qbslt.training.augment import VideoAugment
    from qbslt.training.batches import Collator, ExampleSet
    from qbslt.training.tokenizer import train_word_tokenizer

    rng = np.random.default_rng(1)
    texts = []
    synthetic_split(tmp_path, "train", 6, rng, texts)
    tok = train_word_tokenizer(texts + ["wie wird das wetter"], "word")
    examples = read_examples(tmp_path / "examples" / "train.tsv")
    store = kp.open_keypoint_store(tmp_path / "keypoints" / "train.npy")
    features = np.arange(len(store) * 4, dtype=np.float32).reshape(len(store), 4)  # row r: 4r..4r+3
    data = ExampleSet.build(examples, features, tok, tok, "word", max_frames=5, max_text_tokens=8)
    data.keypoints = store
    collator = Collator(data, tok.pad_token_id, tok.pad_token_id, tok.mask_token_id, tok.eos_token_id,
                        augment=VideoAugment(temporal_scale=0.5, max_frames=5), training=True)
    batch = collator([0, 3, 5], torch.Generator().manual_seed(0))
    for row in range(3):
        n = int(batch["video_mask"][row].sum())
        rows = (batch["video"][row, :n, 0] / 4).long().numpy()  # the store rows the video was read from
        points, mask = store[rows]
        assert torch.equal(batch["keypoint_mask"][row, :n], torch.from_numpy(mask))
        assert torch.equal(batch["keypoints"][row, :n][batch["keypoint_mask"][row, :n]], torch.from_numpy(points[mask]))
        assert not batch["keypoint_mask"][row, n:].any()
    assert "keypoints" not in Collator(ExampleSet.build(examples, features, tok, tok, "word", 5, 8), 1, 1, 4, 2)([0])
