"""Keypoint examples -> padded batches in :mod:`qbslt.sigma.modeling_sigma`'s batch contract.

One ``KeypointExamples`` per split: each example's rows of the keypoint store (the store follows
the frame index row for row, so an example's ``frame_offset``/``num_frames`` address it exactly as
they address the frame store; videos longer than ``max_frames`` are subsampled evenly, as the RGB
runs do) and its translation tokenised once in the decoder (mBART) tokenizer. ``KeypointCollator``
has the ``plan``/``assemble`` pair :func:`qbslt.training.loop.fit` expects.

Batch keys: keypoints float [B, T, 75, 3] (NaN at masked joints, as stored), keypoint_mask bool
[B, T, 75], frame_mask bool [B, T], text_ids long [B, L], text_mask bool [B, L], labels long
[B, L] (-100 at padding), index long [B].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qbslt.data.join import read_examples
from qbslt.data.keypoints import KeypointStore, open_keypoint_store
from qbslt.errors import KeypointError
from qbslt.training.augment import evenly_spaced
from qbslt.training.batches import pad_keypoints
from qbslt.training.tokenizer import encode


@dataclass
class KeypointExamples:
    names: list[str]
    translations: list[str]
    store: KeypointStore
    rows: list[np.ndarray]      # per example: its rows of the store, in order
    label_ids: list[list[int]]  # translation + </s>, decoder tokenizer

    @classmethod
    def load(cls, examples_path: Path | str, keypoints_path: Path | str, tokenizer, level: str, max_frames: int,
             max_text_tokens: int, index_path: Path | str | None = None) -> "KeypointExamples":
        examples = read_examples(examples_path)
        store = open_keypoint_store(keypoints_path, index_path)
        rows = []
        for name, offset, length in zip(examples["name"], examples["frame_offset"], examples["num_frames"]):
            if offset + length > len(store):
                raise KeypointError(f"{keypoints_path}: example {name} of {examples_path} needs rows up to "
                                    f"{offset + length}, the store has {len(store)} (rerun the keypoints step)")
            r = np.arange(offset, offset + length)
            rows.append(evenly_spaced(r, max_frames) if length > max_frames else r)
        translations = list(examples["translation"])
        eos = tokenizer.eos_token_id
        labels = [ids[:max_text_tokens - 1] + [eos] for ids in encode(tokenizer, translations, level)]
        return cls(list(examples["name"]), translations, store, rows, labels)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def frame_rows(self) -> list[np.ndarray]:  # what fit() reads for length bucketing
        return self.rows


@dataclass
class KeypointCollator:
    data: KeypointExamples
    pad_id: int

    def plan(self, indices: list[int], generator: torch.Generator | None = None) -> dict:
        return {"index": list(indices)}  # no random draw: no augmentation of the keypoints

    def assemble(self, plan: dict) -> dict:
        indices, d = plan["index"], self.data
        lengths = [len(d.rows[i]) for i in indices]
        B, T, L = len(indices), max(lengths), max(len(d.label_ids[i]) for i in indices)
        keypoints, keypoint_mask = pad_keypoints(d.store, [d.rows[i] for i in indices])
        frame_mask = torch.zeros(B, T, dtype=torch.bool)
        text_ids = torch.full((B, L), self.pad_id, dtype=torch.long)
        labels = torch.full((B, L), -100, dtype=torch.long)
        for b, i in enumerate(indices):
            frame_mask[b, :lengths[b]] = True
            ids = torch.tensor(d.label_ids[i])
            text_ids[b, :len(ids)] = ids
            labels[b, :len(ids)] = ids
        return {"index": torch.tensor(indices), "keypoints": keypoints, "keypoint_mask": keypoint_mask,
                "frame_mask": frame_mask, "text_ids": text_ids, "text_mask": labels != -100, "labels": labels}

    def __call__(self, indices: list[int], generator: torch.Generator | None = None) -> dict:
        return self.assemble(self.plan(indices, generator))
