"""Figure 4 that can be trusted: the per-example SSAW summary of the test decoding, the test-wide
statistic (plots/figure4.csv) and the figure's fixed colour scale."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from qbslt import config
from qbslt.cli import main as qbslt_main
from qbslt.errors import ResultError
from qbslt.reports.figure4 import (ALL_SEEDS, COLOUR_RANGE, STATS_COLUMNS, bootstrap_interval, draw_figure4,
                                   stats_frame)

# --- the per-example summary, from the test decoding --------------------------------------------


def test_ssaw_part_means_splits_question_and_video_and_ignores_what_follows():
    from qbslt.ssl_ssaw.run import ssaw_part_means

    # 2 question tokens, 3 video positions, then a row that is not part of the example.
    weights = torch.tensor([[0.2, 0.4], [0.6, 0.8], [0.1, 0.1], [0.3, 0.3], [0.2, 0.2], [9.0, 9.0]])
    question, video = ssaw_part_means(weights, split=2, video_len=3)
    assert question == pytest.approx(0.5) and video == pytest.approx(0.2)
    assert ssaw_part_means(weights[2:5], split=0, video_len=3) == (None, pytest.approx(0.2))


def test_test_summary_of_a_padded_batch_equals_each_example_alone(tiny_prepared):
    """decode_split's summary of a batch whose examples differ in question and video length (so
    both parts are padded) equals the means of each example encoded alone, and the first
    examples' stored weights (Figure 4's strips) give the same means."""
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
    from qbslt.training.loop import to_device
    from qbslt.ssl_ssaw.run import RunInputs, decode_split, load_split, make_collator, run_model_config
    from qbslt.training.tokenizer import load_tokenizer

    tiny = tiny_prepared
    inputs = RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"],
                       frame_size=(16, 16))
    cfg = config.variant_config(tiny["params"], "ssl_ssaw")
    tok = load_tokenizer(tiny["tokenizer"])
    torch.manual_seed(0)
    model = QBSLTModel(run_model_config(cfg, inputs, tok, tok)).eval()
    data = load_split(inputs, "test", cfg, tok, tok)
    collator = make_collator(data, tok, tok)
    n = len(data)
    decoded = decode_split(model, data, collator, tok, "word", batch_size=n, num_beams=1, max_new_tokens=2,
                           weights_for=2, text_tok=tok, summary_for=n)
    assert [row["name"] for row in decoded.summary] == data.names  # every example, input order

    alone = []
    with torch.no_grad():
        for i in range(n):
            _, _, extras = model.encode(to_device(collator([i]), model.device))
            split, video_len = int(extras["split"][0]), int(extras["video_len"][0])
            w = extras["weights"][0].double()
            alone.append((split, video_len, float(w[:split].mean()), float(w[split:split + video_len].mean())))
    splits, video_lens = {a[0] for a in alone}, {a[1] for a in alone}
    assert len(splits) > 1 and len(video_lens) > 1  # the batch pads both parts: the check means something
    for row, (_, _, question, video) in zip(decoded.summary, alone):
        assert row["question_mean"] == pytest.approx(question, abs=1e-5)
        assert row["video_mean"] == pytest.approx(video, abs=1e-5)
    for example, row in zip(decoded.weights, decoded.summary):
        split = example["split"]
        assert len(example["weights"]) == split + example["video_len"]
        assert np.mean(example["weights"][:split]) == pytest.approx(row["question_mean"], abs=1e-6)
        assert np.mean(example["weights"][split:]) == pytest.approx(row["video_mean"], abs=1e-6)


# --- the statistic: plots/figure4.csv ------------------------------------------------------------


def _ssaw_file(path, seed, question, video, names=None):
    """An SSAW weights file of the result contract with a test summary (one example per value)."""
    names = names or [f"ex{i:03d}" for i in range(len(question))]
    example = {"name": names[0], "question": "wo schneit es", "reference": "im norden schneit es", "split": 3,
               "video_len": 2, "question_tokens": ["wo", "schneit", "es"],
               "weights": [0.52, 0.54, 0.53, 0.51, 0.515]}
    summary = [{"name": n, "question_mean": q, "video_mean": v} for n, q, v in zip(names, question, video)]
    path.write_text(json.dumps({"fusion": "ssaw", "dataset": "phoenix", "variant": "ssl_ssaw", "seed": seed,
                                "examples": [example], "test_summary": summary}))
    return path


def _seed_files(tmp_path, differences_per_seed, spread=0.1, n=40):
    """One file per seed: video means spread over examples, question = video + that seed's differences."""
    rng = np.random.default_rng(7)
    files = []
    for seed, differences in enumerate(differences_per_seed):
        video = 0.5 + spread * (rng.random(n) - 0.5)
        files.append(_ssaw_file(tmp_path / f"seed{seed}.json", seed, (video + differences).tolist(), video.tolist()))
    return files


def test_the_interval_excludes_zero_when_question_weighs_more(tmp_path):
    rng = np.random.default_rng(0)
    files = _seed_files(tmp_path, [0.02 + 0.01 * rng.standard_normal(40) for _ in range(3)])
    frame = stats_frame(files, n_samples=500)
    assert list(frame.columns) == STATS_COLUMNS
    assert list(frame["seed"]) == [0, 1, 2, ALL_SEEDS]
    assert (frame["n_examples"] == 40).all()
    assert (frame["ci_low"] > 0).all() and (frame["ci_low"] <= frame["difference"]).all()
    assert (frame["difference"] <= frame["ci_high"]).all()
    assert frame["difference"].tolist() == pytest.approx((frame["question_mean"] - frame["video_mean"]).tolist(),
                                                         abs=2e-6)
    seeds, pooled = frame.iloc[:3], frame.iloc[3]
    for column in ("question_mean", "video_mean", "difference"):
        assert pooled[column] == pytest.approx(seeds[column].mean(), abs=2e-6)
    assert stats_frame(files, n_samples=500).equals(frame)  # a fixed bootstrap seed: the same file every time


def test_the_interval_contains_zero_when_the_parts_weigh_alike(tmp_path):
    files = _seed_files(tmp_path, [np.tile([0.01, -0.01], 20), np.tile([0.02, -0.02, 0.0, 0.0], 10)])
    frame = stats_frame(files, n_samples=500)
    assert list(frame["seed"]) == [0, 1, ALL_SEEDS]
    assert ((frame["ci_low"] < 0) & (frame["ci_high"] > 0)).all()
    assert frame["difference"].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)


def test_the_bootstrap_is_paired_per_example():
    """A constant difference has a zero-width interval however much the examples' means vary."""
    assert bootstrap_interval(np.full(30, 0.01), n_samples=200) == pytest.approx((0.01, 0.01))
    low, high = bootstrap_interval(np.linspace(-1, 1, 31), n_samples=200)
    assert low < 0 < high


def test_seeds_must_share_their_test_examples_and_old_files_are_named(tmp_path):
    first = _ssaw_file(tmp_path / "seed0.json", 0, [0.6, 0.6], [0.5, 0.5])
    other = _ssaw_file(tmp_path / "seed1.json", 1, [0.6, 0.6], [0.5, 0.5], names=["a", "b"])
    with pytest.raises(ResultError, match="share one test split"):
        stats_frame([first, other], n_samples=10)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"fusion": "ssaw", "examples": json.loads(first.read_text())["examples"]}))
    with pytest.raises(ResultError, match=r"old\.json: no 'test_summary'.*rerun the training"):
        stats_frame([old], n_samples=10)


def test_cli_writes_the_csv_and_the_figure(tmp_path):
    files = _seed_files(tmp_path, [np.full(40, 0.02), np.full(40, 0.03)])
    out = tmp_path / "out"
    code = qbslt_main(["figure4", "--ssaw", *map(str, files), "--png", str(out / "f.png"), "--pdf",
                       str(out / "f.pdf"), "--stats", str(out / "figure4.csv"), "--bootstrap-samples", "50"])
    assert code == 0
    written = pd.read_csv(out / "figure4.csv", dtype={"seed": str})
    assert list(written.columns) == STATS_COLUMNS and list(written["seed"]) == ["0", "1", "all"]
    assert written["difference"].tolist() == pytest.approx([0.02, 0.03, 0.025], abs=1e-6)
    assert (out / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the figure's colour scale ---------------------------------------------------------------------


def test_the_colour_scale_is_fixed_not_the_datas_range(tmp_path):
    import matplotlib.pyplot as plt

    path = _ssaw_file(tmp_path / "seed0.json", 0, [0.53], [0.51])  # weights 0.51-0.54: a narrow band
    stats = stats_frame([path], n_samples=10).iloc[0].to_dict()
    fig = draw_figure4(path, stats=stats)
    try:
        images = [image for ax in fig.axes for image in ax.get_images()]
        assert images and all(image.get_clim() == COLOUR_RANGE for image in images)
        colorbar = images[0].colorbar
        assert (colorbar.norm.vmin, colorbar.norm.vmax) == COLOUR_RANGE
        assert tuple(colorbar.ax.get_ylim()) == pytest.approx(COLOUR_RANGE)
        heading = fig.get_suptitle()
        assert "mean over the d_model channels" in heading and "fixed colour scale 0-1" in heading
        assert "Whole test split, seed 0 (1 examples)" in heading
    finally:
        plt.close(fig)
