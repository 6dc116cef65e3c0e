"""Fast CPU tests of the SSL-SSAW model parts (tiny random mBART / mBERT, no downloads)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from qbslt.errors import ConfigError
from qbslt.model import FrameBackbone, TemporalEmbedding, VideoEmbedding, contrastive_loss, extract_features
from qbslt.ssl_ssaw import (ConcatFusion, ContrastiveHead, LSTMFusion, QBSLTConfig, QBSLTModel, SSAWFusion, TCNFusion,
                            TextEmbedding, TextEncoder, build_fusion, pack)
from qbslt.model.contrastive import (text_to_video_similarity, vector_similarity, video_to_text_similarity)
from qbslt.ssl_ssaw.modeling_ssl_ssaw import SEG_QUESTION, SEG_SEP, SEG_TRANSLATION

D, V, F_DIM, T = 32, 50, 16, 12
PAD, BOS, EOS, MASK, SEP = 1, 0, 2, 4, 5


def tiny_config(**overrides) -> QBSLTConfig:
    base = dict(backbone="resnet18", backbone_pretrained=False, freeze_backbone=True, feature_dim=F_DIM,
                temporal_blocks=2, temporal_kernel=3, d_model=D, encoder_layers=1, decoder_layers=1,
                attention_heads=4, ffn_dim=64, dropout=0.0, max_positions=64, vocab_size=V, bert_vocab_size=V,
                contrastive_dim=16, label_smoothing=0.0)
    base.update(overrides)
    return QBSLTConfig(**base)


def lengths_mask(lengths, width):
    return torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


def make_batch(seed: int = 0, B: int = 3, video_lens=(12, 9, 5), q_lens=(6, 3, 4), qd_lens=(5, 2, 3),
               label_lens=(7, 4, 5)) -> dict:
    g = torch.Generator().manual_seed(seed)
    B = len(video_lens)
    Lq, Lqd, Ls = max(q_lens), max(qd_lens), max(label_lens)
    vm = lengths_mask(video_lens, T)
    qm, qdm, lm = lengths_mask(q_lens, Lq), lengths_mask(qd_lens, Lqd), lengths_mask(label_lens, Ls)
    labels = torch.randint(6, V, (B, Ls), generator=g)
    labels[torch.arange(B), torch.tensor(label_lens) - 1] = EOS
    labels = labels.masked_fill(~lm, -100)
    text = labels.masked_fill(~lm, PAD)
    masked = text.clone()
    masked[:, 1] = MASK
    return {
        "video": torch.randn(B, T, F_DIM, generator=g) * vm.unsqueeze(-1),
        "video_mask": vm,
        "question_ids": torch.randint(6, V, (B, Lq), generator=g).masked_fill(~qm, PAD), "question_mask": qm,
        "question_dec_ids": torch.randint(6, V, (B, Lqd), generator=g).masked_fill(~qdm, PAD),
        "question_dec_mask": qdm,
        "text_ids": text, "text_mask": lm, "masked_text_ids": masked, "labels": labels,
    }


def train_steps(model, loss_fn, batch, steps=30, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        out = loss_fn(batch)
        history.append({k: float(v.detach()) for k, v in out.items() if v.dim() == 0})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return history


# ----------------------------------------------------------------------------- configuration
def test_save_pretrained_round_trip_rebuilds_the_same_model(tmp_path):
    from qbslt.errors import QbsltError
    from qbslt.model.pretrained import WEIGHTS_FILE

    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(fusion="ssaw")).eval()
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", WEIGHTS_FILE]
    assert QBSLTConfig.from_pretrained(tmp_path / "m") == model.config
    again = QBSLTModel.from_pretrained(tmp_path / "m")
    assert not again.training
    state, loaded = model.state_dict(), again.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in state)
    batch = make_batch()
    with torch.no_grad():
        assert model.generate(batch, num_beams=1, max_new_tokens=4) == again.generate(batch, num_beams=1,
                                                                                      max_new_tokens=4)
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    with pytest.raises(QbsltError, match=f"{WEIGHTS_FILE} missing"):
        QBSLTModel.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{")
    with pytest.raises(ConfigError, match="config.json: not a model config file"):
        QBSLTConfig.from_pretrained(tmp_path / "m")


def test_config_roundtrip_and_validation():
    cfg = tiny_config(fusion="lstm", alignment="video_to_text")
    again = QBSLTConfig.from_json(json.dumps(cfg.to_dict()))
    assert again == cfg
    assert cfg.decoder_start_id == EOS
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        QBSLTConfig.from_dict({**cfg.to_dict(), "nope": 1})
    with pytest.raises(ConfigError, match="fusion"):
        tiny_config(fusion="gru")
    with pytest.raises(ConfigError, match="ssl"):
        tiny_config(inputs="sign", ssl=True)
    with pytest.raises(ConfigError, match="attention_heads"):
        tiny_config(attention_heads=5)


# ----------------------------------------------------------------------------- video embedding
@pytest.mark.parametrize("backbone,dim", [("resnet18", 512), ("shufflenet_v2_x1_0", 1024)])
def test_frozen_backbone_and_extract_features(backbone, dim):
    torch.manual_seed(0)
    bb = FrameBackbone(tiny_config(backbone=backbone, feature_dim=dim, freeze_backbone=True))
    assert all(not p.requires_grad for p in bb.parameters())
    bb.train()
    assert not bb.net.training                     # frozen BN statistics stay frozen
    frames = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8)
    feats = extract_features(bb, frames, batch_size=2)
    assert feats.shape == (5, dim) and feats.dtype == torch.float32 and not feats.requires_grad
    assert torch.allclose(feats, bb.extract_features(frames, batch_size=5), atol=1e-5)
    with pytest.raises(ConfigError, match="feature_dim"):
        FrameBackbone(tiny_config(backbone=backbone, feature_dim=dim + 1))


def test_trainable_backbone_on_uint8_frames():
    torch.manual_seed(0)
    emb = VideoEmbedding(tiny_config(feature_dim=512, freeze_backbone=False, temporal_blocks=1))
    frames = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)
    mask = lengths_mask([4, 3], 4)
    out, m = emb(frames, mask)
    assert out.shape == (2, 2, D) and m.tolist() == [[True, True], [True, True]]
    out.sum().backward()
    assert emb.backbone.net.conv1.weight.grad is not None
    with pytest.raises(ValueError, match="no backbone"):
        VideoEmbedding(tiny_config(feature_dim=512))(frames, mask)


def test_temporal_embedding_shapes_and_mask_downsampling():
    torch.manual_seed(0)
    emb = TemporalEmbedding(tiny_config(temporal_blocks=2))
    x = torch.randn(3, 11, F_DIM)
    mask = lengths_mask([11, 6, 1], 11)
    out, m = emb(x, mask)
    assert out.shape == (3, 3, D)                                 # ceil(ceil(11/2)/2) = 3
    assert m.sum(1).tolist() == [3, 2, 1]                         # L -> ceil(L/2) per block
    assert torch.all(out[~m] == 0)


def test_temporal_padding_does_not_leak():
    torch.manual_seed(0)
    emb = TemporalEmbedding(tiny_config(temporal_blocks=2))
    alone = torch.randn(1, 7, F_DIM)
    padded = torch.cat([alone, 100 * torch.randn(1, 5, F_DIM)], 1)   # garbage in the padding
    # training mode: BatchNorm batch statistics over valid positions only
    emb.train()
    out_alone, _ = emb(alone, torch.ones(1, 7, dtype=torch.bool))
    mean_alone = emb.blocks[0].bn.running_mean.clone()
    emb.blocks[0].bn.reset_running_stats()
    emb.blocks[1].bn.reset_running_stats()
    out_pad, m = emb(padded, lengths_mask([7], 12))
    assert torch.allclose(emb.blocks[0].bn.running_mean, mean_alone, atol=1e-5)
    assert torch.allclose(out_pad[:, : out_alone.shape[1]], out_alone, atol=1e-5)
    emb.eval()
    a, _ = emb(alone, torch.ones(1, 7, dtype=torch.bool))
    b, _ = emb(padded, lengths_mask([7], 12))
    assert torch.allclose(b[:, : a.shape[1]], a, atol=1e-5) and torch.all(b[:, a.shape[1]:] == 0)


def test_video_embedding_on_features():
    emb = VideoEmbedding(tiny_config())
    assert emb.backbone is None
    out, m = emb(torch.randn(2, T, F_DIM), lengths_mask([12, 5], T))
    assert out.shape == (2, 3, D) and m.sum(1).tolist() == [3, 2]


# ----------------------------------------------------------------------------- text embedding
@pytest.mark.parametrize("text_model", ["mbart", "mbert"])
def test_text_embedding_and_encoder_shapes(text_model):
    torch.manual_seed(0)
    cfg = tiny_config(text_model=text_model)
    ids = torch.randint(6, V, (2, 7))
    mask = lengths_mask([7, 4], 7)
    x, m = TextEmbedding(cfg)(ids, mask)
    assert x.shape == (2, 7, D) and torch.all(x[~m] == 0)
    h = TextEncoder(cfg)(ids, mask)
    assert h.shape == (2, 7, D)


def test_mbart_text_modules_share_the_token_table():
    model = QBSLTModel(tiny_config())
    shared = model.seq2seq.get_input_embeddings()
    assert model.text_embedding.embed_tokens is shared
    assert model.text_encoder.encoder.embed_tokens is shared
    assert model.text_encoder.encoder.layers[0].fc1.weight is not model.video_encoder.layers[0].fc1.weight


# ----------------------------------------------------------------------------- fusion
def test_pack_is_contiguous_and_split_is_right():
    q = torch.arange(1, 4).float().view(1, 3, 1).expand(2, 3, 2).clone()       # question tokens 1, 2, 3
    v = -torch.arange(1, 5).float().view(1, 4, 1).expand(2, 4, 2).clone()      # video positions -1..-4
    qm, vm = lengths_mask([2, 3], 3), lengths_mask([4, 1], 4)
    f, m, split, vlen = pack(q, qm, v, vm)
    assert f.shape == (2, 6, 2)
    assert f[0, :, 0].tolist() == [1, 2, -1, -2, -3, -4]
    assert f[1, :, 0].tolist() == [1, 2, 3, -1, 0, 0]
    assert m.sum(1).tolist() == [6, 4] and split.tolist() == [2, 3] and vlen.tolist() == [4, 1]


@pytest.mark.parametrize("name", ["concat", "lstm", "tcn", "ssaw"])
@pytest.mark.parametrize("side", ["both", "no_question", "no_video"])
def test_fusion_shapes_and_empty_sides(name, side):
    torch.manual_seed(0)
    fusion = build_fusion(tiny_config(fusion=name))
    q, qm = torch.randn(3, 5, D, requires_grad=True), lengths_mask([5, 2, 3], 5)
    v, vm = torch.randn(3, 4, D, requires_grad=True), lengths_mask([4, 4, 1], 4)
    if side == "no_question":
        q, qm = q[:, :0], qm[:, :0]
    if side == "no_video":
        v, vm = v[:, :0], vm[:, :0]
    fused, mask, extras = fusion(q, qm, v, vm)
    total = qm.sum(1) + vm.sum(1)
    assert fused.shape == (3, int(total.max()), D)
    assert mask.sum(1).tolist() == total.tolist()
    assert extras["split"].tolist() == qm.sum(1).tolist()
    assert torch.all(fused[~mask] == 0) and torch.isfinite(fused).all()
    if name == "ssaw":
        assert extras["weights"].shape == fused.shape
    fused.sum().backward()


def test_fusion_classes():
    cfg = tiny_config()
    assert isinstance(build_fusion(cfg.replace(fusion="concat")), ConcatFusion)
    assert isinstance(build_fusion(cfg.replace(fusion="lstm")), LSTMFusion)
    assert isinstance(build_fusion(cfg.replace(fusion="tcn")), TCNFusion)
    assert isinstance(build_fusion(cfg.replace(fusion="ssaw")), SSAWFusion)


def test_ssaw_equals_eq3_eq4_by_hand():
    torch.manual_seed(0)
    ssaw = SSAWFusion(tiny_config(dropout=0.1)).eval()
    q, qm = torch.randn(2, 4, D), lengths_mask([4, 2], 4)
    v, vm = torch.randn(2, 5, D), lengths_mask([3, 5], 5)
    fused, mask, extras = ssaw(q, qm, v, vm)
    f_c, m, _, _ = pack(q, qm, v, vm)
    sa, _ = ssaw.self_attn(f_c, f_c, f_c, key_padding_mask=~m)
    f_a = ssaw.norm1(f_c + sa)
    f_f = ssaw.norm2(f_a + ssaw.linear2(torch.relu(ssaw.linear1(f_a))))
    expected = f_c * torch.sigmoid(f_f)
    assert torch.allclose(fused[m], expected[m], atol=1e-5)
    assert torch.allclose(extras["weights"][m], torch.sigmoid(f_f)[m], atol=1e-5)


def test_lstm_and_tcn_ignore_padding():
    torch.manual_seed(0)
    for cls in (LSTMFusion, TCNFusion):
        fusion = cls(tiny_config()).eval()
        q, v = torch.randn(1, 3, D), torch.randn(1, 4, D)
        alone, _, _ = fusion(q, torch.ones(1, 3, dtype=torch.bool), v, torch.ones(1, 4, dtype=torch.bool))
        qp = torch.cat([q, torch.randn(1, 2, D)], 1)
        vp = torch.cat([v, torch.randn(1, 3, D)], 1)
        padded, _, _ = fusion(qp, lengths_mask([3], 5), vp, lengths_mask([4], 7))
        assert torch.allclose(padded, alone, atol=1e-5), cls.__name__


# ----------------------------------------------------------------------------- contrastive
def test_contrastive_loss_symmetric_and_calibrated():
    torch.manual_seed(0)
    B = 8
    sim = torch.rand(B, B) * 2 - 1
    assert torch.allclose(contrastive_loss(sim, 14.3), contrastive_loss(sim.t(), 14.3))
    head = ContrastiveHead(tiny_config(contrastive_dim=1024))
    assert math.isclose(float(head.scale().detach()), 1 / 0.07, rel_tol=1e-5)
    with torch.no_grad():
        head.logit_scale.fill_(10.0)
    assert math.isclose(float(head.scale().detach()), 100.0, rel_tol=1e-5)  # clamped
    rand_sim = vector_similarity(torch.randn(B, 4096), torch.randn(B, 4096))
    assert abs(float(contrastive_loss(rand_sim, 1 / 0.07)) - math.log(B)) < 0.3
    x = torch.randn(B, 64)
    match_sim = vector_similarity(x, x + 0.1 * torch.randn(B, 64))
    assert float(contrastive_loss(match_sim, 1 / 0.07)) < 0.1


def test_sequence_alignments():
    torch.manual_seed(0)
    B, Tv, Lt, c = 4, 9, 5, 8
    vm, tm = lengths_mask([9, 7, 4, 2], Tv), lengths_mask([5, 3, 2, 1], Lt)
    video, text = torch.randn(B, Tv, c), torch.randn(B, Lt, c)
    for fn in (text_to_video_similarity, video_to_text_similarity):
        sim = fn(video, vm, text, tm)
        assert sim.shape == (B, B) and sim.abs().max() <= 1 + 1e-5
    # a constant per-example feature makes every strategy a plain cosine similarity
    base = torch.randn(B, c)
    video_c = base.unsqueeze(1).expand(B, Tv, c) * vm.unsqueeze(-1)
    text_c = base.unsqueeze(1).expand(B, Lt, c) * tm.unsqueeze(-1)
    expected = vector_similarity(base, base)
    assert torch.allclose(text_to_video_similarity(video_c, vm, text_c, tm), expected, atol=1e-5)
    assert torch.allclose(video_to_text_similarity(video_c, vm, text_c, tm), expected, atol=1e-5)


# ----------------------------------------------------------------------------- full model: stage 1
@pytest.mark.parametrize("alignment", ["vector", "text_to_video", "video_to_text"])
def test_pretrain_losses_decrease(alignment):
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(alignment=alignment))
    batch = make_batch()
    hist = train_steps(model, model.pretrain_losses, batch)
    for key in ("l_sim", "l_rec"):
        assert hist[-1][key] < hist[0][key] * 0.8, (key, hist[0][key], hist[-1][key])


def test_cls_is_appended_after_last_valid_position():
    model = QBSLTModel(tiny_config())
    v = torch.randn(2, 4, D)
    out, m = model.append_cls(v, lengths_mask([4, 2], 4))
    assert out.shape == (2, 5, D) and m.sum(1).tolist() == [5, 3]
    assert torch.equal(out[0, 4], model.video_cls.data) and torch.equal(out[1, 2], model.video_cls.data)
    assert torch.all(out[1, 3:] == 0)


# ----------------------------------------------------------------------------- full model: stage 2
def test_ssl_targets_layout():
    model = QBSLTModel(tiny_config())
    batch = make_batch()
    targets, seg = model.ssl_targets(batch)
    b = 1                                                        # question 2 tokens, translation 4
    q = batch["question_dec_ids"][b, :2].tolist()
    s = batch["labels"][b, :4].tolist()
    assert targets[b, :7].tolist() == q + [SEP] + s and torch.all(targets[b, 7:] == -100)
    assert seg[b, :7].tolist() == [SEG_QUESTION] * 2 + [SEG_SEP] + [SEG_TRANSLATION] * 4


@pytest.mark.parametrize("ssl,reading", [(False, "prefix"), (True, "prefix"), (True, "auxiliary")])
def test_losses_equal_cross_entropy_of_the_full_mbart_logits(ssl, reading):
    """The losses project only the scored positions onto the vocabulary: the same values (and gradients)
    as label-smoothed CE over MBartForConditionalGeneration's full logits at those positions."""
    from transformers.modeling_outputs import BaseModelOutput

    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(ssl=ssl, ssl_reading=reading, label_smoothing=0.1)).eval()
    batch = make_batch()
    out = model.translation_losses(batch)
    states, mask, _ = model.encode(batch)

    def full_ce(targets, select=None, start=model.config.decoder_start_id):
        ids = targets.masked_fill(targets == -100, PAD)
        first = torch.full((len(ids), 1), start)
        logits = model.seq2seq(encoder_outputs=BaseModelOutput(last_hidden_state=states), attention_mask=mask.long(),
                               decoder_input_ids=torch.cat([first, ids[:, :-1]], 1),
                               decoder_attention_mask=torch.cat([torch.ones_like(first),
                                                                 (targets[:, :-1] != -100).long()], 1)).logits
        keep = (targets != -100) if select is None else (targets != -100) & select
        return torch.nn.functional.cross_entropy(logits[keep], targets[keep], label_smoothing=0.1)

    if not ssl:
        expected = {"l_s": full_ce(batch["labels"])}
    elif reading == "auxiliary":
        expected = {"l_d": full_ce(model.question_targets(batch), start=SEP), "l_s": full_ce(batch["labels"])}
    else:
        targets, seg = model.ssl_targets(batch)
        expected = {"l_d": full_ce(targets, (seg == SEG_QUESTION) | (seg == SEG_SEP)),
                    "l_s": full_ce(targets, seg == SEG_TRANSLATION)}
    for key, value in expected.items():
        torch.testing.assert_close(out[key], value, rtol=1e-5, atol=1e-6)

@pytest.mark.parametrize("fusion", ["concat", "lstm", "tcn", "ssaw"])
def test_translation_losses_decrease_every_fusion(fusion):
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(fusion=fusion, ssl=True))
    hist = train_steps(model, model.translation_losses, make_batch())
    for key in ("l_d", "l_s"):
        assert hist[-1][key] < hist[0][key] * 0.8, (fusion, key, hist[0][key], hist[-1][key])


@pytest.mark.parametrize("inputs,ssl", [("both", False), ("sign", False), ("question", True)])
def test_translation_inputs_variants(inputs, ssl):
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(inputs=inputs, ssl=ssl))
    batch = make_batch()
    if inputs == "question":
        del batch["video"], batch["video_mask"]
    hist = train_steps(model, model.translation_losses, batch)
    assert hist[-1]["l_s"] < hist[0]["l_s"] * 0.8
    if not ssl:
        assert hist[0]["l_d"] == 0 and hist[0]["loss"] == hist[0]["l_s"]
    assert len(model.generate(batch, num_beams=2, max_new_tokens=4)) == 3


def test_sign_only_does_not_look_at_the_question():
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(inputs="sign", ssl=False)).eval()
    batch = make_batch()
    other = dict(batch, question_ids=torch.randint(6, V, batch["question_ids"].shape))
    states_a, _, extras = model.encode(batch)
    states_b, _, _ = model.encode(other)
    assert torch.equal(states_a, states_b) and extras["split"].tolist() == [0, 0, 0]


@pytest.mark.parametrize("ssl", [False, True])
def test_generate_returns_one_sequence_per_example(ssl):
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(ssl=ssl))
    batch = make_batch()
    model.train()
    out, info = model.generate(batch, num_beams=3, max_new_tokens=5, return_weights=True)
    assert model.training                                         # mode restored
    assert len(out) == 3 and all(isinstance(s, list) and len(s) <= 5 for s in out)
    assert all(EOS not in s and PAD not in s for s in out)
    assert info["split"] == [6, 3, 4] and info["video_len"] == [3, 3, 2]
    assert [w.shape for w in info["weights"]] == [(9, D), (6, D), (6, D)]


def test_ssl_generation_reproduces_the_translation_after_overfitting():
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(ssl=True, fusion="ssaw"))
    batch = make_batch(seed=3, video_lens=(12, 7), q_lens=(5, 3), qd_lens=(4, 2), label_lens=(6, 4))
    train_steps(model, model.translation_losses, batch, steps=150, lr=3e-3)
    out = model.generate(batch, num_beams=4, max_new_tokens=10)
    expected = [[t for t in row.tolist() if t not in (-100, EOS)] for row in batch["labels"]]
    assert out == expected


# ----------------------------------------------------------------------------- mBERT and pretrained paths
def test_mbert_text_model():
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(text_model="mbert"))
    assert model.text_embedding.bert_embeddings is model.text_encoder.bert.embeddings
    batch = make_batch()
    hist = train_steps(model, model.pretrain_losses, batch, steps=20)
    assert hist[-1]["l_rec"] < hist[0]["l_rec"]
    hist = train_steps(model, model.translation_losses, batch, steps=20)
    assert hist[-1]["l_s"] < hist[0]["l_s"]
    assert len(model.generate(batch, num_beams=2, max_new_tokens=4)) == 3


def test_pretrained_paths_load(tmp_path):
    from transformers import BertConfig, BertModel, MBartForConditionalGeneration

    from qbslt.ssl_ssaw.text_embedding import build_mbart_config

    torch.manual_seed(0)
    mbart = MBartForConditionalGeneration(build_mbart_config(tiny_config(d_model=48, ffn_dim=96, vocab_size=60)))
    mbart.save_pretrained(tmp_path / "mbart")
    bert = BertModel(BertConfig(vocab_size=70, hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=48, max_position_embeddings=64), add_pooling_layer=False)
    bert.save_pretrained(tmp_path / "bert")

    model = QBSLTModel(tiny_config(mbart_path=str(tmp_path / "mbart")))
    assert model.config.d_model == 48 and model.config.vocab_size == 60
    assert torch.equal(model.seq2seq.model.shared.weight, mbart.model.shared.weight)
    # the text encoder starts from the pretrained encoder but owns its weights
    te, ve = model.text_encoder.encoder.layers[0].fc1.weight, model.video_encoder.layers[0].fc1.weight
    assert torch.equal(te, ve) and te is not ve
    batch = make_batch()
    assert torch.isfinite(model.pretrain_losses(batch)["loss"])
    assert torch.isfinite(model.translation_losses(batch)["loss"])

    model = QBSLTModel(tiny_config(text_model="mbert", bert_path=str(tmp_path / "bert"),
                                   mbart_path=str(tmp_path / "mbart")))
    assert torch.equal(model.text_encoder.bert.embeddings.word_embeddings.weight,
                       bert.embeddings.word_embeddings.weight)
    x, _ = model.text_embedding(batch["question_ids"], batch["question_mask"])
    assert x.shape[-1] == 48
    assert torch.isfinite(model.translation_losses(batch)["loss"])


# ----------------------------------------------------------------------------- stage 1 -> stage 2
def test_load_stage1_transfers_the_right_parts():
    torch.manual_seed(0)
    stage1 = QBSLTModel(tiny_config(fusion="concat"))
    torch.manual_seed(1)
    stage2 = QBSLTModel(tiny_config(fusion="ssaw"))
    keys = stage2.load_stage1(stage1.state_dict())
    assert any(k.startswith("video_embedding.temporal.") for k in keys)
    assert any(k.startswith("seq2seq.model.encoder.layers.") for k in keys)
    assert any(k.startswith("seq2seq.model.decoder.layers.") for k in keys)
    assert "text_embedding.embed_tokens.weight" in keys and "seq2seq.lm_head.weight" in keys
    assert not any(k.startswith(("contrastive.", "text_encoder.", "fusion.", "video_cls")) for k in keys)
    s1, s2 = stage1.state_dict(), stage2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in keys)
    assert not torch.equal(s1["contrastive.video_proj.weight"], s2["contrastive.video_proj.weight"])
    with pytest.raises(KeyError):
        stage2.load_stage1({k: v for k, v in s1.items() if not k.startswith("video_embedding.")})


def test_input_norm_standardises_valid_frames_and_padding_does_not_leak():
    torch.manual_seed(0)
    emb = TemporalEmbedding(tiny_config(temporal_blocks=1, input_norm=True)).train()
    x = 0.4 + 0.05 * torch.randn(2, 9, F_DIM)                     # raw features: a large offset, small spread
    mask = lengths_mask([9, 5], 9)
    emb(x.masked_fill(~mask.unsqueeze(-1), 7.0), mask)            # garbage in the padding
    assert torch.allclose(emb.input_norm.running_mean, 0.1 * x[mask].mean(0), atol=1e-4)  # momentum 0.1
    emb.eval()
    alone, _ = emb(x[1:, :5], torch.ones(1, 5, dtype=torch.bool))
    padded, _ = emb(x[1:], mask[1:])
    assert torch.allclose(padded[:, :alone.shape[1]], alone, atol=1e-5)


def test_gloss_sign_input_reads_glosses_not_video():
    torch.manual_seed(0)
    model = QBSLTModel(tiny_config(inputs="sign", ssl=False, sign_input="gloss", gloss_vocab_size=20)).eval()
    batch = make_batch()
    batch["gloss_ids"] = torch.randint(6, 20, (3, 4))
    batch["gloss_mask"] = lengths_mask([4, 2, 3], 4)
    states, mask, extras = model.encode(batch)
    assert extras["video_len"].tolist() == [4, 2, 3] and states.shape[1] == 4
    other_video = dict(batch, video=torch.randn_like(batch["video"]))
    assert torch.equal(model.encode(other_video)[0], states)
    other_glosses = dict(batch, gloss_ids=torch.randint(6, 20, (3, 4)))
    assert not torch.equal(model.encode(other_glosses)[0], states)
    with pytest.raises(ConfigError, match="sign_input"):
        tiny_config(inputs="question", sign_input="gloss")


def test_ssl_weight_scales_the_question_reconstruction_loss():
    batch = make_batch()
    losses = {}
    for weight in (1.0, 0.25):
        torch.manual_seed(0)
        losses[weight] = QBSLTModel(tiny_config(ssl=True, ssl_weight=weight)).translation_losses(batch)
    one, quarter = losses[1.0], losses[0.25]
    assert torch.allclose(one["loss"], one["l_d"] + one["l_s"])
    assert torch.allclose(quarter["loss"], 0.25 * quarter["l_d"] + quarter["l_s"])
