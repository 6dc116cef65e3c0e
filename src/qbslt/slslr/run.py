"""One SL-SLR seed: every method pre-trained on every dataset, evaluated by every protocol.

Per dataset (its clip index, per-frame features and keypoint store of the training videos) and method
(``slslr.methods``): pre-train on the recognition-train clips (labels unused), then

* ``linear``: linear evaluation on the same dataset;
* ``semi_<p>``: semi-supervised fine-tuning with ``p`` % of the training labels (``finetune.label_shares``);
* ``transfer``: linear evaluation on each *other* dataset of the encoder pre-trained here (the row belongs
  to the evaluated dataset; ``source`` names the pre-training one). Not for ``objective: none``: its
  transfer would be the target's own ``linear`` row with another random initialisation.

Every protocol sees the encoder the same way for every method (:mod:`qbslt.slslr.protocols`): BatchNorm
statistics re-estimated on the evaluated dataset's clean training clips, clip vectors pooled as the method
pre-trained them. Per (dataset, method) two diagnostics of the linear-evaluation vectors go into
``diagnostics``: the effective rank of the test clips' vectors and the top-1 of a linear probe that
predicts the signer of the training clips (:func:`qbslt.slslr.protocols.signer_probe`).

Randomness: each (dataset, method) pre-training and each protocol draws from its own seed, derived from
(seed, dataset, method, protocol), so one method's runs do not depend on the others. One process does
all of it: a process start (torch import) costs more than a tiny method's run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from qbslt.atomic import atomic_write_json
from qbslt.data.keypoints import open_keypoint_store
from qbslt.data.synth.render import stable_code
from qbslt.numerics import configure_torch
from qbslt.slslr.configuration_slslr import SlslrSettings, encoder_config
from qbslt.slslr.clips import ClipSet, load_clips, read_clip_index
from qbslt.slslr.pretrain import pretrain
from qbslt.slslr.protocols import effective_rank, embed, finetune, label_subset, linear_probe, recalibrate, signer_probe
from qbslt.training.checkpoint import save_weights

log = logging.getLogger("qbslt.slslr")


def stream_seed(seed: int, *parts: str) -> int:
    """A 31-bit seed of (seed, parts): independent streams per dataset, method and protocol."""
    entropy = np.random.SeedSequence((int(seed), *(stable_code(p) for p in parts)))
    return int(entropy.generate_state(1)[0] & 0x7FFFFFFF)


def protocol_name(share: float) -> str:
    """``semi_1`` for 1 % of the labels, ``semi_10`` for 10 %, ``semi_2.5`` for 2.5 %."""
    percent = round(100 * share, 6)
    return f"semi_{int(percent) if percent == int(percent) else percent}"


def load_dataset(clips_path: Path, features_path: Path, keypoints_path: Path, informative: dict) -> ClipSet:
    clips = read_clip_index(clips_path)
    features = np.load(features_path, mmap_mode="r")
    store = open_keypoint_store(keypoints_path)
    return load_clips(clips, features, store.points, store.mask, informative)


def run_seed(cfg: SlslrSettings | dict, model_params: dict, inputs: dict[str, dict[str, Path]], seed: int, out: Path,
             encoders: dict[tuple[str, str], Path] | None = None, threads: int = 1) -> dict:
    """Run seed ``seed`` of every method and protocol; write the results JSON ``out`` and the encoders
    ``encoders[(dataset, method)]`` (stage 0 of SSL-SSAW). ``cfg``: the ``slslr`` section; ``model_params``:
    ``qbslt.slslr.configuration_slslr.encoder_model`` (the temporal module's sizes); ``inputs[dataset]``: clips, features, keypoints."""
    cfg = SlslrSettings.of(cfg, "slslr")
    torch.set_num_threads(threads)
    configure_torch()  # the pinned CPU kernels (qbslt.numerics)
    model_config = encoder_config(model_params)
    data = {d: load_dataset(p["clips"], p["features"], p["keypoints"], cfg.informative) for d, p in inputs.items()}
    splits = {d: (c.subset("train"), c.subset("test")) for d, c in data.items()}
    batch = cfg.batch_size
    rows, pretraining, diagnostics = [], {}, []

    def linear(encoder, dataset: str, protocol: str, source: str, method: str, weighted: bool) -> None:
        train, test = splits[dataset]
        encoder = recalibrate(encoder, train, batch)
        train_x, test_x = embed(encoder, train, batch, weighted), embed(encoder, test, batch, weighted)
        result = linear_probe(train_x, torch.from_numpy(train.labels), test_x, torch.from_numpy(test.labels),
                              len(train.classes), **cfg.probe.to_dict(), seed=stream_seed(seed, dataset, method, protocol,
                                                                                   source))
        rows.append({"dataset": dataset, "method": method, "protocol": protocol, "source": source, **result})
        if protocol == "linear":
            diagnostics.append({"dataset": dataset, "method": method, "effective_rank": effective_rank(test_x),
                                "dim": int(test_x.shape[1]),
                                **signer_probe(train_x, train.signer, cfg.probe.to_dict(),
                                               stream_seed(seed, dataset, method, "signer"))})

    for source, (train, test) in splits.items():
        # The labelled clips of each semi-supervised protocol: drawn once, the same for every method.
        labelled = {protocol_name(share): label_subset(train.labels, share, np.random.default_rng(
            stream_seed(seed, source, "labels", protocol_name(share)))) for share in cfg.finetune.label_shares}
        for method, spec in cfg.methods.items():
            began = time.process_time()
            model, history = pretrain(spec, cfg, model_config, train, stream_seed(seed, source, method, "pretrain"))
            pretraining.setdefault(source, {})[method] = {"history": history,
                                                         "cpu_seconds": round(time.process_time() - began, 2)}
            encoder, weighted = model.encoder.eval(), spec.weighting
            if encoders and (source, method) in encoders:
                save_weights(encoders[(source, method)], encoder.temporal.state_dict())
            linear(encoder, source, "linear", source, method, weighted)
            calibrated = recalibrate(encoder, train, batch)
            for protocol, rows_labelled in labelled.items():
                ft = cfg.finetune
                result = finetune(calibrated, train.take(rows_labelled), test, ft.epochs, ft.lr,
                                  ft.weight_decay, batch, stream_seed(seed, source, method, protocol), weighted)
                rows.append({"dataset": source, "method": method, "protocol": protocol, "source": source,
                             "labels": len(rows_labelled), **result})
            for target in splits:
                if target != source and spec.objective != "none":  # nothing pre-trained to transfer
                    linear(encoder, target, "transfer", source, method, weighted)
            log.info("%s %s: %s %s", source, method,
                     [r for r in rows if r["source"] == source and r["method"] == method],
                     [d for d in diagnostics if d["dataset"] == source and d["method"] == method])
    clips = {d: {"train": len(tr), "test": len(te), "classes": len(tr.classes)} for d, (tr, te) in splits.items()}
    result = {"seed": seed, "methods": {m: spec.to_dict() for m, spec in cfg.methods.items()}, "clips": clips, "rows": rows, "diagnostics": diagnostics,
              "pretrain": pretraining}
    atomic_write_json(out, result, indent=1)
    return result
