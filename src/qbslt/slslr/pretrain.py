"""Self-supervised pre-training of one SL-SLR method on the recognition-train clips (labels unused).

One step (nanoGPT-style, one optimiser, cosine learning rate): two views of every clip of the batch
(:func:`qbslt.slslr.augment.make_views`, the method's augmentation), then

* ``free_negative``: L = L_FN(q(g(f(v1))), g'(f'(v2))) + L_FN(q(g(f(v2))), g'(f'(v1))), f/g the online
  encoder/projector, q the predictor, f'/g' their moving average (``pretrain.ema``) -- no negative pair;
* ``infonce``: L = L_NCE(g(f(v1)), g(f(v2))), the other clips of the batch as negatives (``temperature``);
* ``none``: no pre-training (the randomly initialised encoder).

With ``weighting`` the clip vectors the loss compares are pooled with the informative weights
(:mod:`qbslt.slslr.informative`), so the loss is driven by the hands' moving frames more than by resting ones.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from qbslt.model.configuration import VideoConfig
from qbslt.slslr.augment import make_views
from qbslt.slslr.clips import ClipSet
from qbslt.slslr.configuration_slslr import MethodSettings, SLSLRConfig, SlslrSettings
from qbslt.slslr.losses import free_negative_loss, info_nce_loss
from qbslt.slslr.modeling_slslr import SLSLRModel

log = logging.getLogger("qbslt.slslr")


def feature_std(clips: ClipSet) -> torch.Tensor:
    """Per-dimension std [F] of the valid frames: the unit of the augmentations' feature noise."""
    return torch.from_numpy(clips.features[clips.mask].std(0)).clamp_min(1e-6)


def pretrain(method: MethodSettings | dict, cfg: SlslrSettings | dict, model_config: VideoConfig, train: ClipSet,
             seed: int) -> tuple[SLSLRModel, list[float]]:
    """Pre-train ``method`` (a ``slslr.methods`` entry; ``cfg`` the ``slslr`` section) on ``train``.
    Returns the model and the mean loss of each epoch."""
    method, cfg = MethodSettings.of(method, "slslr.methods"), SlslrSettings.of(cfg, "slslr")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SLSLRModel(SLSLRConfig.of(model_config, cfg.encoder.projector_dim, cfg.encoder.predictor_dim,
                                      method.objective))
    p = cfg.pretrain
    if method.objective == "none" or p.epochs == 0:
        return model, []
    batch_size = min(cfg.batch_size, len(train))
    steps = p.epochs * max(1, len(train) // batch_size)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x, m, w = (torch.from_numpy(a) for a in (train.features, train.mask, train.weights))
    std, kind = feature_std(train), method.augment
    aug = cfg.augment.get(kind, {})
    history = []
    model.train()
    for epoch in range(p.epochs):
        order, losses = rng.permutation(len(train)), []
        for start in range(0, len(order) - batch_size + 1, batch_size):  # full batches: BatchNorm, InfoNCE
            b = torch.from_numpy(order[start:start + batch_size])
            (f1, m1, w1), (f2, m2, w2) = (make_views(x[b], m[b], w[b], kind, aug, rng, std) for _ in range(2))
            if not method.weighting:
                w1 = w2 = None
            if method.objective == "free_negative":
                loss = (free_negative_loss(model.predictor(model.online(f1, m1, w1)), model.target(f2, m2, w2))
                        + free_negative_loss(model.predictor(model.online(f2, m2, w2)), model.target(f1, m1, w1)))
            else:
                loss = info_nce_loss(model.online(f1, m1, w1), model.online(f2, m2, w2), p.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            if model.predictor is not None:
                model.update_target(p.ema)
            losses.append(loss.item())
        history.append(round(float(np.mean(losses)), 5))
        log.info("epoch %d loss %.4f", epoch + 1, history[-1])
    return model, history
