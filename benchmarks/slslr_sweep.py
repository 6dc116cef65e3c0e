"""Held-out-train sweep of SL-SLR settings (docs/model-choices.md, "SL-SLR"): clip_margin, the
pre-training learning rate and epochs, the sign augmentation, chosen without the test signers.

The recognition-train clips (their signers only; the recognition-test signers' clips are never
read) are split again by signer with :func:`qbslt.slslr.clips.signer_split` (share
``slslr.test_signer_share`` of the training signers held out, hashed under ``<dataset>:heldout``).
Each setting pre-trains every method on the remaining signers' clips and is scored by linear
evaluation on the held-out signers' clips, by the protocol of the runs (BatchNorm re-estimated on
clean clips, pooling as pre-trained), with the two diagnostics (effective rank, signer top-1).
One JSON line per (setting, method).

    python benchmarks/slslr_sweep.py --profile realtext --data ../main/data/realtext \\
        --setting base '{}' --setting lr1e-3 '{"pretrain": {"lr": 0.001}}' \\
        --setting margin0 '{"clip_margin": 0}' [--methods sl_slr no_pretrain] [--max-clips 8000] [--seed 0]

A setting is a JSON override of the profile's ``slslr`` section. ``--max-clips N`` keeps a seeded
random N of the fit clips (and N / 2 of the held-out ones) for a quicker ranking.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qbslt import config
from qbslt.data.keypoints import open_keypoint_store
from qbslt.slslr.clips import build_clip_index, load_clips, signer_split
from qbslt.slslr.configuration_slslr import encoder_config, encoder_model
from qbslt.slslr.pretrain import pretrain
from qbslt.slslr.protocols import effective_rank, embed, linear_probe, recalibrate, signer_probe
from qbslt.slslr.run import stream_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_args import add_prepared_data_args  # noqa: E402


def heldout_clips(data: Path, dataset: str, cfg: dict, max_clips: int | None, seed: int):
    """(fit ClipSet, held-out ClipSet) of the recognition-train clips, split again by signer."""
    frames = data / "frames" / dataset / "train.index.tsv"
    clips = build_clip_index(dataset, data / "raw" / dataset / "manifest.json", frames, cfg["clip_margin"],
                             cfg["test_signer_share"])
    clips = clips[clips["split"] == "train"].reset_index(drop=True)
    fit_signers, held_signers = signer_split(f"{dataset}:heldout", clips["signer"], cfg["test_signer_share"])
    clips["split"] = np.where(clips["signer"].isin(held_signers), "test", "train")
    seen = set(clips.loc[clips["split"] == "train", "gloss"])
    clips = clips[clips["gloss"].isin(seen)].reset_index(drop=True)
    if max_clips:
        rng = np.random.default_rng(seed)
        keep = []
        for split, n in (("train", max_clips), ("test", max_clips // 2)):
            rows = np.flatnonzero(clips["split"] == split)
            keep.append(rng.choice(rows, size=min(n, len(rows)), replace=False))
        clips = clips.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    features = np.load(data / "features" / dataset / "resnet18" / "train.npy", mmap_mode="r")
    store = open_keypoint_store(data / "keypoints" / dataset / "train.npy")
    clip_set = load_clips(clips, features, store.points, store.mask, cfg["informative"])
    return clip_set.subset("train"), clip_set.subset("test"), (fit_signers, held_signers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_prepared_data_args(parser, "benchmarks/out/slslr_sweep.jsonl")
    parser.add_argument("--methods", nargs="+", help="default: every slslr.methods entry")
    parser.add_argument("--max-clips", type=int)
    parser.add_argument("--setting", nargs=2, action="append", required=True, metavar=("NAME", "JSON"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params, args.profile)
    data = args.data or Path("data") / args.profile
    model_config = encoder_config(encoder_model(tree))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    loaded = {}
    for name, override in args.setting:
        cfg = config.deep_merge(tree["slslr"], json.loads(override))
        key = (cfg["clip_margin"], json.dumps(cfg["informative"], sort_keys=True))
        if key not in loaded:
            loaded = {key: heldout_clips(data, args.dataset, cfg, args.max_clips, args.seed)}
        fit_clips, held, signers = loaded[key]
        batch = cfg["batch_size"]
        for method in args.methods or list(cfg["methods"]):
            spec = cfg["methods"][method]
            started = time.perf_counter()
            model, history = pretrain(spec, cfg, model_config, fit_clips, stream_seed(args.seed, name, method))
            encoder = recalibrate(model.encoder, fit_clips, batch)
            fit_x = embed(encoder, fit_clips, batch, spec["weighting"])
            held_x = embed(encoder, held, batch, spec["weighting"])
            probe = linear_probe(fit_x, torch.from_numpy(fit_clips.labels), held_x, torch.from_numpy(held.labels),
                                 len(fit_clips.classes), **cfg["probe"], seed=args.seed)
            result = {"setting": name, "override": json.loads(override), "method": method, "seed": args.seed,
                      "fit_clips": len(fit_clips), "heldout_clips": len(held), "heldout_signers": signers[1],
                      "heldout_top1": probe["top1"], "heldout_top5": probe["top5"],
                      "effective_rank": effective_rank(held_x),
                      **signer_probe(fit_x, fit_clips.signer, cfg["probe"], args.seed),
                      "pretrain_loss": history, "seconds": round(time.perf_counter() - started, 1)}
            line = json.dumps(result)
            print(line, flush=True)
            with args.out.open("a", encoding="utf-8") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
