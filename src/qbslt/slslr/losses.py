"""SL-SLR pre-training objectives, named after the abstract's terms.

* Free-negative loss (``free_negative_loss``): the positive pair only -- two augmented views of the same
  clip -- and no negative pair, as BYOL (Grill et al., 2020) states it: the online network's prediction
  ``p`` of one view regresses the target network's projection ``z`` of the other view (stop-gradient),

      L_FN(p, z) = mean_i [ 2 - 2 * cos(p_i, sg(z_i)) ]

  It is 0 for identical views and each sample's term involves that sample only (no other sample of the
  batch is pushed away), which avoids issue (ii) of the abstract: different signs sharing movements are
  never treated as negatives. Symmetrised over the two views in the pre-training step.
* InfoNCE (``info_nce_loss``), the contrastive baseline with negatives (SimCLR's NT-Xent, Chen et al.,
  2020): each view must pick its positive among the 2B - 1 other views of the batch,

      L_NCE = mean over the 2B views a of -log( exp(s(a, a+) / tau) / sum_(b != a) exp(s(a, b) / tau) ),

  s the cosine similarity and tau the temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def free_negative_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """p, z [B, D] -> scalar L_FN; gradients flow into ``p`` only (``z`` is the target)."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()


def info_nce_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """z1, z2 [B, D] (two views, row i of each is the same clip) -> scalar L_NCE over 2B views."""
    z = F.normalize(torch.cat([z1, z2]), dim=-1)                       # [2B, D]
    sim = z @ z.T / temperature                                         # [2B, 2B]
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    batch = len(z1)
    positives = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    return F.cross_entropy(sim, positives)
