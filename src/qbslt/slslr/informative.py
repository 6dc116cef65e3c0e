"""Informative-part weights of a clip (SL-SLR: only some parts of a sign video carry the sign).

Per frame ``t`` of a clip, from its keypoints (joint layout :mod:`qbslt.data.keypoints`)::

    motion_t = sum over hands of |c_t - c_(t-1)| + |c_(t+1) - c_t| (halved at the clip ends),
               c = the mean of the hand's joints in view; a hand out of view at t or its neighbour adds 0
    hands_t  = share of the two hands in view at t
    w_t      = floor + (1 - floor) * (motion * motion_t / max_t motion_t + (1 - motion) * hands_t)

so moving hands weigh most, resting frames (still hands, or none in view) least, and every frame keeps at
least ``floor``. A clip without any hand motion gets ``floor + (1 - floor) (1 - motion) hands_t``.
"""

from __future__ import annotations

import numpy as np

from qbslt.data.keypoints import JOINTS

HANDS = tuple(np.array([i for i, name in enumerate(JOINTS) if name.startswith(f"{part}.")])
              for part in ("left_hand", "right_hand"))


def informative_weights(points: np.ndarray, mask: np.ndarray, floor: float, motion: float) -> np.ndarray:
    """points float32 [T, 75, 3], mask bool [T, 75] -> weights float32 [T] in [floor, 1]."""
    length = len(points)
    speed, present = np.zeros(length, np.float64), np.zeros(length, np.float64)
    for joints in HANDS:
        seen = mask[:, joints]                                        # [T, J]
        visible = seen.any(axis=1)                                    # [T]
        xy = np.where(seen[..., None], points[:, joints, :2], 0.0).sum(1)
        centre = xy / np.maximum(seen.sum(1), 1)[:, None]             # [T, 2]
        step = np.linalg.norm(np.diff(centre, axis=0), axis=1) * (visible[1:] & visible[:-1])  # [T-1]
        both = np.zeros(length)
        both[1:] += step
        both[:-1] += step
        sides = np.full(length, 2.0)
        sides[0] = sides[-1] = 1.0 if length > 1 else 2.0
        speed += both / sides
        present += visible / len(HANDS)
    peak = speed.max() if length else 0.0
    moving = speed / peak if peak > 0 else np.zeros(length)
    return (floor + (1 - floor) * (motion * moving + (1 - motion) * present)).astype(np.float32)
