"""SL-SLR evaluation protocols (the abstract's: linear evaluation, semi-supervised learning, transfer).

* Linear evaluation (:func:`linear_probe`): the encoder is frozen; clip vectors of the recognition-train
  clips (standardised with their own mean and std) train one linear layer (cross-entropy, AdamW, full
  batch); top-1 / top-5 accuracy on the recognition-test clips.
* Semi-supervised (:func:`finetune`): the encoder and a linear head are fine-tuned together on a
  class-balanced share of the labelled training clips (:func:`label_subset`: per class
  ``max(1, round(share * n_class))`` clips, as ImageNet's 1 % / 10 % subsets are drawn per class).
* Transfer: linear evaluation on one dataset of an encoder pre-trained on the other (``runs``).

One protocol for every method, random encoder included:

* **BatchNorm statistics** (:func:`recalibrate`): before any protocol the encoder's BatchNorm running
  statistics are estimated afresh on the evaluated dataset's clean (not augmented) training clips.
  Otherwise the random encoder would be evaluated with its initial statistics (mean 0, variance 1)
  and the pre-trained ones with statistics of augmented, noised views: a difference of protocol, not
  of representation.
* **Pooling** (``weighted``): the clip vector is pooled as the method pre-trained it -- with the
  informative weights for a ``weighting: true`` method, uniformly otherwise -- in every protocol.

Diagnostics of a frozen encoder's clip vectors: :func:`effective_rank` (how many directions they
use) and :func:`signer_probe` (how well a linear probe tells the *signer*: an encoder that learned
who signs rather than what scores high).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qbslt.slslr.clips import ClipSet
from qbslt.slslr.modeling_slslr import ClipEncoder


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Share of rows whose label is among the ``k`` highest logits (k capped at the class count), in %."""
    k = min(k, logits.shape[1])
    hits = (logits.topk(k, dim=1).indices == labels.unsqueeze(1)).any(1)
    return 100.0 * hits.float().mean().item()


def scores(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    return {"top1": round(topk_accuracy(logits, labels, 1), 2), "top5": round(topk_accuracy(logits, labels, 5), 2)}


@torch.no_grad()
def embed(encoder: ClipEncoder, clips: ClipSet, batch_size: int, weighted: bool = False) -> torch.Tensor:
    """Clip vectors [N, d] of a frozen encoder (eval mode; pooled with the informative weights when
    ``weighted``, else uniformly)."""
    was = encoder.training
    encoder.eval()
    out = [encoder(torch.from_numpy(clips.features[i:i + batch_size]), torch.from_numpy(clips.mask[i:i + batch_size]),
                   torch.from_numpy(clips.weights[i:i + batch_size]) if weighted else None)
           for i in range(0, len(clips), batch_size)]
    encoder.train(was)
    return torch.cat(out)


@torch.no_grad()
def recalibrate(encoder: ClipEncoder, clips: ClipSet, batch_size: int) -> ClipEncoder:
    """A copy of ``encoder`` (eval mode) whose BatchNorm running statistics are the plain average over
    the clean clips ``clips`` (every other weight unchanged)."""
    encoder = copy.deepcopy(encoder)
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    encoder.train()
    for i in range(0, len(clips), batch_size):
        encoder(torch.from_numpy(clips.features[i:i + batch_size]), torch.from_numpy(clips.mask[i:i + batch_size]))
    for bn in norms:
        bn.momentum = 0.1  # nn.BatchNorm1d's default, for a later fine-tuning
    return encoder.eval()


def effective_rank(x: torch.Tensor) -> float:
    """Effective rank (Roy & Vetterli, 2007) of vectors x [N, d]: exp of the entropy of the centred
    matrix's normalised singular values; 1 for vectors on a line, d for an isotropic cloud."""
    s = torch.linalg.svdvals((x - x.mean(0)).double())
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return round(float(torch.exp(-(p * p.log()).sum())), 2)


def signer_probe(x: torch.Tensor, signers: np.ndarray, probe: dict, seed: int, test_share: float = 0.3) -> dict:
    """Linear probe predicting the signer of clip vectors ``x`` [N, d] (``signers`` str [N]): a seeded
    random ``test_share`` of the clips is held out (every signer is seen in training); top-1 (%) and
    the chance level (the most frequent signer's share of the held-out clips, %)."""
    names, y = np.unique(signers, return_inverse=True)
    held = np.random.default_rng(seed).random(len(y)) < test_share
    y = torch.from_numpy(y.astype(np.int64))
    result = linear_probe(x[~held], y[~held], x[held], y[held], len(names), **probe, seed=seed)
    chance = 100.0 * np.bincount(y[held].numpy(), minlength=len(names)).max() / max(1, int(held.sum()))
    return {"signer_top1": result["top1"], "signer_chance": round(chance, 2), "signers": len(names)}


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 classes: int, epochs: int, lr: float, weight_decay: float, seed: int) -> dict:
    """Fit a linear classifier on frozen vectors; top-1 / top-5 (%) on the test vectors."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    head = nn.Linear(train_x.shape[1], classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    x = (train_x - mean) / std
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(head(x), train_y).backward()
        opt.step()
    with torch.no_grad():
        return scores(head((test_x - mean) / std), test_y)


def label_subset(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced labelled subset: ``max(1, round(share * n_c))`` clips of each class c."""
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        picked.append(rng.choice(members, size=max(1, int(round(share * len(members)))), replace=False))
    return np.sort(np.concatenate(picked))


def finetune(encoder: ClipEncoder, train: ClipSet, test: ClipSet, epochs: int, lr: float, weight_decay: float,
             batch_size: int, seed: int, weighted: bool = False) -> dict:
    """Fine-tune a copy of ``encoder`` with a linear head on the labelled ``train`` clips; test scores
    (``weighted``: pooled with the informative weights, see :func:`embed`)."""
    torch.manual_seed(seed)
    encoder = copy.deepcopy(encoder).train()
    # The head sees standardised clip vectors (BatchNorm without affine), as the linear probe does: a
    # pre-trained encoder's vectors need not have the scale a freshly initialised head expects.
    head = nn.Sequential(nn.BatchNorm1d(encoder.dim, affine=False), nn.Linear(encoder.dim, len(train.classes)))
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    x, m, y = torch.from_numpy(train.features), torch.from_numpy(train.mask), torch.from_numpy(train.labels)
    w = torch.from_numpy(train.weights) if weighted else None
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            b = order[start:start + batch_size]
            if len(b) < 2:  # BatchNorm needs two clips
                continue
            opt.zero_grad()
            F.cross_entropy(head(encoder(x[b], m[b], None if w is None else w[b])), y[b]).backward()
            opt.step()
    test_x = embed(encoder, test, batch_size, weighted)
    with torch.no_grad():
        return scores(head(test_x), torch.from_numpy(test.labels))
