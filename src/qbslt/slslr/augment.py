"""Two views of a batch of clips: the sign-specific augmentation of SL-SLR and a generic one.

Both work on per-frame features (the frozen backbone's, :mod:`qbslt.training.features`) and return
frame indices into each clip plus per-frame noise scales, so a view is a gather of the clip's frames:

* ``sign`` (:func:`sign_indices`): the frames whose informative weight (:mod:`qbslt.slslr.informative`)
  reaches ``keep`` times the clip's highest are the sign. The sign is signed again at another speed
  and with small variations: its frames, in order, are resampled to ``U(1 - sign_speed, 1 + sign_speed)``
  times their number (a frame repeated or skipped, none moved out of order) and get Gaussian noise of
  ``sign_noise`` feature standard deviations, so two views differ in the signing itself, as two
  renditions of one sign do. Every other (resting, transition) frame is dropped with probability
  ``rest_drop``, repeated (its hold resampled) with probability ``rest_repeat``, and gets noise of
  ``rest_noise * (1 - w_t)`` standard deviations. The sign is varied gently; the rest, strongly.
* ``generic`` (:func:`generic_indices`): what video SSL does without knowing the sign: a random
  contiguous crop of at least ``crop`` of the clip, resampled to ``U(1 - speed, 1 + speed)`` times its
  length, each frame dropped with probability ``drop`` (one always stays), noise of ``noise`` standard
  deviations on every frame -- the sign's frames included.
"""

from __future__ import annotations

import numpy as np
import torch


def sign_indices(weights: np.ndarray, rng: np.random.Generator, keep: float, rest_drop: float,
                 rest_repeat: float, rest_noise: float, sign_speed: float = 0.0, sign_noise: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """weights float [T] of one clip's valid frames -> (frame indices [T'], noise scale per index [T'])."""
    sign = weights >= keep * weights.max()
    # Copies of each sign frame: the n sign frames resampled to round(n * U(1 - s, 1 + s)) (at least 1).
    n = int(sign.sum())
    resampled = max(1, int(round(n * rng.uniform(1 - sign_speed, 1 + sign_speed))))
    copies = np.bincount(np.floor(np.arange(resampled) * n / resampled).astype(np.int64), minlength=n)
    draws = rng.random(len(weights))
    index, noise, k = [], [], 0
    for t, (is_sign, u) in enumerate(zip(sign, draws)):
        if is_sign:
            index += [t] * int(copies[k])
            noise += [sign_noise] * int(copies[k])
            k += 1
            continue
        if u < rest_drop:
            continue
        repeat = 2 if u < rest_drop + rest_repeat else 1
        index += [t] * repeat
        noise += [rest_noise * (1.0 - float(weights[t]))] * repeat
    return np.array(index, np.int64), np.array(noise, np.float32)


def generic_indices(length: int, rng: np.random.Generator, crop: float, speed: float, drop: float,
                    noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A clip of ``length`` valid frames -> (frame indices [T'], noise scale per index [T'])."""
    kept = max(1, int(np.ceil(length * rng.uniform(crop, 1.0))))
    start = int(rng.integers(0, length - kept + 1))
    resampled = max(1, int(round(kept * rng.uniform(1 - speed, 1 + speed))))
    index = start + np.floor(np.arange(resampled) * kept / resampled).astype(np.int64)
    survive = rng.random(resampled) >= drop
    if not survive.any():
        survive[rng.integers(resampled)] = True
    index = index[survive]
    return index, np.full(len(index), noise, np.float32)


def make_views(features: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor, kind: str, cfg: dict,
               rng: np.random.Generator, feature_std: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One augmented view of a batch: features [B, L, F], mask bool [B, L], weights [B, L] ->
    (features [B, L', F], mask [B, L'], weights [B, L']); ``kind`` sign | generic | none (``cfg``: that
    kind's settings); ``feature_std`` [F] scales the noise."""
    if kind == "none":
        return features, mask, weights
    lengths = mask.sum(1).tolist()
    w = weights.numpy()
    picks = []
    for b, length in enumerate(lengths):
        if kind == "sign":
            picks.append(sign_indices(w[b, :length], rng, **cfg))
        elif kind == "generic":
            picks.append(generic_indices(length, rng, **cfg))
        else:
            raise ValueError(f"unknown augmentation {kind!r} (sign | generic | none)")
    sizes = np.array([len(i) for i, _ in picks])
    out_mask = torch.from_numpy(np.arange(sizes.max())[None, :] < sizes[:, None])       # [B, L']
    index = torch.zeros(out_mask.shape, dtype=torch.long)
    scale = torch.zeros(out_mask.shape)
    index[out_mask] = torch.from_numpy(np.concatenate([i for i, _ in picks]))
    scale[out_mask] = torch.from_numpy(np.concatenate([s for _, s in picks]))
    view = torch.gather(features, 1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
    noisy = scale > 0  # only the frames that get noise draw it (the sign's frames draw none)
    noise = torch.from_numpy(rng.standard_normal((int(noisy.sum()), view.shape[-1]), dtype=np.float32))
    view[noisy] += noise * scale[noisy].unsqueeze(-1) * feature_std
    return view * out_mask.unsqueeze(-1), out_mask, torch.gather(weights, 1, index) * out_mask
