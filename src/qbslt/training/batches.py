"""Examples → padded tensor batches in the model's batch contract.

An ``ExampleSet`` holds one split: the frame rows of each example in the store written once per
(dataset, backbone) (per-frame features, or raw frames), and the pre-tokenised texts. Texts are
tokenised once at construction; frames are read from the store per batch (memory-mapped raw
frames, or decoded from the compressed store: ``qbslt.data.frame_store``), so a split of 256x256
frames (PHOENIX train: >100 GB raw) never has to fit in host memory. Batch keys (see qbslt.ssl_ssaw.modeling_ssl_ssaw):

    video            float [B, T, D] frame features  (uint8 [B, T, H, W, 3] raw frames)
    video_mask       bool  [B, T]
    question_ids     long  [B, Lq]   text-model tokenizer, no special tokens
    question_mask    bool  [B, Lq]
    question_dec_ids long  [B, Ld]   decoder tokenizer, no special tokens (SSL target / prefix)
    question_dec_mask bool [B, Ld]
    text_ids         long  [B, Lt]   translation for the stage-1 text encoder, ends with </s>
    text_mask        bool  [B, Lt]
    masked_text_ids  long  [B, Lt]   text_ids with words replaced by <mask> (Eq. 2), per batch
    labels           long  [B, Ls]   translation in the decoder vocabulary + </s>, -100 padded
    gloss_ids        long  [B, Lg]   glosses in the gloss tokenizer (with a gloss tokenizer only)
    gloss_mask       bool  [B, Lg]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from qbslt.data.frame_store import FrameStore
from qbslt.data.keypoints import KeypointStore, open_keypoint_store
from qbslt.training.augment import VideoAugment, VideoPlan, evenly_spaced
from qbslt.training.tokenizer import encode


@dataclass(frozen=True)
class _MappedStore:
    path: str


@dataclass(frozen=True)
class _MappedKeypoints:
    path: str


@dataclass
class ExampleSet(torch.utils.data.Dataset):
    names: list[str]
    questions: list[str]
    translations: list[str]
    store: np.ndarray | FrameStore  # [N, D] features (memmap) or [N, H, W, 3] uint8 frames
    frame_rows: list[np.ndarray]    # per example: its rows of ``store``, in order
    question_ids: list[list[int]]
    question_dec_ids: list[list[int]]
    text_ids: list[list[int]]
    label_ids: list[list[int]]
    # model.skeleton: the split's keypoint store (rows follow the frame store: the same frame_rows)
    keypoints: KeypointStore | None = None
    # model.sign_input="gloss": each example's glosses in the gloss tokenizer (they replace the video)
    gloss_ids: list[list[int]] | None = None

    @classmethod
    def build(cls, examples: pd.DataFrame, store: np.ndarray | FrameStore, text_tokenizer, decoder_tokenizer, level: str,
              max_frames: int, max_text_tokens: int, gloss_tokenizer=None) -> "ExampleSet":
        """Index each example's frames in ``store`` (memmap or frame store) and tokenise its texts
        (and, with a ``gloss_tokenizer``, its glosses)."""
        frame_rows = []
        for offset, length in zip(examples["frame_offset"], examples["num_frames"]):
            rows = np.arange(offset, offset + length)
            if length > max_frames:  # keep the whole sign: subsample evenly rather than cut the end
                rows = evenly_spaced(rows, max_frames)
            frame_rows.append(rows)
        questions, translations = list(examples["question"]), list(examples["translation"])
        eos_dec = decoder_tokenizer.eos_token_id
        # BERT tokenizers end a sentence with [SEP] and have no eos token.
        eos_text = text_tokenizer.eos_token_id if text_tokenizer.eos_token_id is not None else text_tokenizer.sep_token_id
        cut = max_text_tokens - 1
        return cls(
            names=list(examples["name"]), questions=questions, translations=translations, store=store,
            frame_rows=frame_rows,
            question_ids=[ids[:cut] for ids in encode(text_tokenizer, questions, level)],
            question_dec_ids=[ids[:cut] for ids in encode(decoder_tokenizer, questions, level)],
            text_ids=[ids[:cut] + [eos_text] for ids in encode(text_tokenizer, translations, level)],
            label_ids=[ids[:cut] + [eos_dec] for ids in encode(decoder_tokenizer, translations, level)],
            gloss_ids=None if gloss_tokenizer is None else encode(gloss_tokenizer, list(examples["gloss"]), "word"),
        )

    def __len__(self) -> int:
        return len(self.names)

    def __getstate__(self) -> dict:
        # Loader workers started by spawn/forkserver receive a pickled copy: send the memory map's
        # file name, never its contents (a real split is > 100 GB). A FrameStore pickles itself
        # as its file name.
        state = dict(self.__dict__)
        if isinstance(self.store, np.memmap) and self.store.filename:
            state["store"] = _MappedStore(str(self.store.filename))
        if self.keypoints is not None:  # likewise: the store's path, not its rows
            state["keypoints"] = _MappedKeypoints(str(self.keypoints.path))
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["store"], _MappedStore):
            state["store"] = np.load(state["store"].path, mmap_mode="r")
        if isinstance(state.get("keypoints"), _MappedKeypoints):
            state["keypoints"] = open_keypoint_store(state["keypoints"].path)
        self.__dict__.update(state)

    def with_inputs_of(self, order: list[int], which: str) -> "ExampleSet":
        """This split with example ``i``'s ``which`` input ("video": frames, keypoints and glosses;
        "question") taken from example ``order[i]``, everything else its own: the input-reliance check."""
        take = lambda items: None if items is None else [items[j] for j in order]  # noqa: E731
        if which == "video":
            return dataclasses.replace(self, frame_rows=take(self.frame_rows), gloss_ids=take(self.gloss_ids))
        if which == "question":
            return dataclasses.replace(self, questions=take(self.questions), question_ids=take(self.question_ids),
                                       question_dec_ids=take(self.question_dec_ids))
        raise ValueError(f"unknown input {which!r} (expected 'video' or 'question')")

    @classmethod
    def concat(cls, parts: list["ExampleSet"]) -> "ExampleSet":
        """The examples of ``parts`` end to end. Parts are views of one split (e.g. ``with_inputs_of``):
        they share its frame and keypoint stores, which are not copied."""
        first = parts[0]
        if any(p.store is not first.store or p.keypoints is not first.keypoints for p in parts):
            raise ValueError("ExampleSet.concat: the parts must share one split's frame and keypoint stores")
        shared = ("store", "keypoints")
        return dataclasses.replace(first, **{
            f.name: [item for p in parts for item in getattr(p, f.name)]
            for f in dataclasses.fields(cls) if f.name not in shared and getattr(first, f.name) is not None})

    def __getitem__(self, i: int) -> int:
        return i  # the collator gathers by index: tensors stay in this object

    def video(self, i: int) -> torch.Tensor:
        """Frames of example ``i``: float32 [T, D] features or uint8 [T, H, W, 3], read from the store."""
        return VideoAugment().read(self.store, VideoPlan(self.frame_rows[i]))


def _pad(seqs: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids long [B, W] and mask bool [B, W] (W = longest sequence)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = int(lengths.max()) if len(seqs) else 0
    mask = torch.arange(width) < lengths.unsqueeze(1)
    ids = torch.full((len(seqs), width), value, dtype=torch.long)
    # One copy for the whole batch: the mask's True cells, row by row, are the sequences end to end.
    ids[mask] = torch.tensor([token for seq in seqs for token in seq], dtype=torch.long)
    return ids, mask


def pad_keypoints(store: KeypointStore, rows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each example's ``rows`` of a keypoint store, padded: (points float [B, T, J, 3] as stored, NaN at
    masked joints, zeros past a video's end; mask bool [B, T, J], False there)."""
    length = max((len(r) for r in rows), default=0)
    points = torch.zeros((len(rows), length, *store.points.shape[1:]))
    mask = torch.zeros((len(rows), length, store.mask.shape[1]), dtype=torch.bool)
    for b, r in enumerate(rows):
        p, m = store[r]
        points[b, :len(p)] = torch.from_numpy(p)
        mask[b, :len(m)] = torch.from_numpy(m)
    return points, mask


def mask_words(ids: torch.Tensor, mask: torch.Tensor, mask_id: int, eos_id: int, prob: float,
               generator: torch.Generator) -> torch.Tensor:
    """Replace each word (not </s>, not padding) by <mask> with probability ``prob``; at least one."""
    candidates = mask & (ids != eos_id)
    chosen = (torch.rand(ids.shape, generator=generator) < prob) & candidates
    # Guarantee one masked word per sentence so every example contributes to Eq. 2.
    first = torch.multinomial(candidates.float() + 1e-9, 1, generator=generator).squeeze(1)
    chosen[torch.arange(len(ids)), first] |= candidates[torch.arange(len(ids)), first]
    return torch.where(chosen, torch.full_like(ids, mask_id), ids)


@dataclass
class Collator:
    """Pads one batch in two steps. ``plan`` (training process, cheap): texts padded and every
    random draw made in batch order (``mask_prob`` > 0 adds ``masked_text_ids``, stage 1, Eq. 2;
    ``augment`` plans crops and, when ``training``, train-time augmentation). ``assemble`` (a
    data-loader worker): the planned frames read from the store, cropped and padded. The training
    loop seeds the generator per epoch, so resumed runs draw the same masks and crops."""

    data: ExampleSet
    text_pad_id: int
    decoder_pad_id: int
    mask_id: int
    eos_id: int
    mask_prob: float = 0.0
    augment: VideoAugment = field(default_factory=VideoAugment)
    training: bool = False
    # False: the model reads no video (model.inputs = question): every draw is planned as usual, but no
    # frame is read, and the batch's video has no positions.
    read_video: bool = True

    def plan(self, indices: list[int], generator: torch.Generator | None = None) -> dict:
        d = self.data
        if (self.training or self.mask_prob > 0) and generator is None:
            raise ValueError("a training batch needs a generator (random crops, augmentation, masks)")
        frame_hw = tuple(d.store.shape[1:3]) if d.store.dtype == np.uint8 else None
        videos = [self.augment.plan(d.frame_rows[i], frame_hw, generator if self.training else None)
                  for i in indices]
        question_ids, question_mask = _pad([d.question_ids[i] for i in indices], self.text_pad_id)
        question_dec_ids, question_dec_mask = _pad([d.question_dec_ids[i] for i in indices], self.decoder_pad_id)
        text_ids, text_mask = _pad([d.text_ids[i] for i in indices], self.text_pad_id)
        labels, _ = _pad([d.label_ids[i] for i in indices], -100)
        batch = {"index": torch.tensor(indices),
                 "question_ids": question_ids, "question_mask": question_mask,
                 "question_dec_ids": question_dec_ids, "question_dec_mask": question_dec_mask,
                 "text_ids": text_ids, "text_mask": text_mask, "labels": labels}
        if d.gloss_ids is not None:
            batch["gloss_ids"], batch["gloss_mask"] = _pad([d.gloss_ids[i] for i in indices], self.text_pad_id)
        if self.mask_prob > 0:
            batch["masked_text_ids"] = mask_words(text_ids, text_mask, self.mask_id, self.eos_id,
                                                  self.mask_prob, generator)
        if any(v.colour is not None for v in videos):
            batch["video_colour"] = torch.tensor([v.colour or (1.0, 1.0, 1.0) for v in videos])
        return {"batch": batch, "videos": videos}

    def assemble(self, plan: dict) -> dict:
        if not self.read_video:
            n, store = len(plan["videos"]), self.data.store
            dtype = torch.uint8 if store.dtype == np.uint8 else torch.float32  # as VideoAugment.read gives them
            return {**plan["batch"], "video": torch.zeros(n, 0, *store.shape[1:], dtype=dtype),
                    "video_mask": torch.zeros(n, 0, dtype=torch.bool)}
        videos = [self.augment.read(self.data.store, v) for v in plan["videos"]]
        lengths = torch.tensor([len(v) for v in videos])
        video = torch.nn.utils.rnn.pad_sequence(videos, batch_first=True)     # zeros past each video's end
        width = plan.get("pad_frames", video.shape[1])  # a rank's share: padded as its whole batch is
        if width > video.shape[1]:
            video = torch.cat([video, video.new_zeros(video.shape[0], width - video.shape[1], *video.shape[2:])], 1)
        video_mask = torch.arange(video.shape[1]) < lengths.unsqueeze(1)
        batch = {**plan["batch"], "video": video, "video_mask": video_mask}
        if self.data.keypoints is not None:  # the keypoints of exactly the planned frames
            batch["keypoints"], batch["keypoint_mask"] = pad_keypoints(self.data.keypoints,
                                                                       [v.rows for v in plan["videos"]])
        return batch

    def __call__(self, indices: list[int], generator: torch.Generator | None = None) -> dict:
        return self.assemble(self.plan(indices, generator))

    def share(self, plan: dict, part: slice) -> dict:
        return share_plan(plan, part)


def rank_share(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous share of a batch of ``n`` examples split among ``world`` processes:
    the shares, in rank order, are the batch; their sizes differ by at most one (the first
    ``n % world`` ranks take one more)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def share_plan(plan: dict, part: slice) -> dict:
    """Examples ``part`` of a planned batch (:meth:`Collator.plan`): a rank's share of it.

    The whole batch is planned on every rank (the same random draws, in batch order, as on one
    process), then cut: texts keep the whole batch's padding, and the videos are padded to the whole
    batch's longest (``pad_frames``), so a share is exactly those rows of the assembled whole batch."""
    batch, n = plan["batch"], len(plan["videos"])
    return {"batch": {k: v[part] if torch.is_tensor(v) and v.dim() and v.shape[0] == n else v
                      for k, v in batch.items()},
            "videos": plan["videos"][part], "pad_frames": max((len(v.rows) for v in plan["videos"]), default=0)}


def slice_batch(batch: dict, part: slice) -> dict:
    """Rows ``part`` of an assembled batch (every value is a tensor with the batch on dim 0)."""
    return {k: v[part] for k, v in batch.items()}


@dataclass
class _Share:
    """A planned whole batch of which this rank assembles only its share."""

    plan: object
    rank: int
    world: int


class _PlanSampler(torch.utils.data.Sampler):
    """Yields one planned batch at a time, planned here in the training process and in order
    (with ``world`` > 1: rank ``rank``'s share of it, see :class:`_Assembler`)."""

    def __init__(self, collator: Collator, batches: list[list[int]], generator: torch.Generator,
                 rank: int = 0, world: int = 1):
        self.collator, self.batches, self.generator = collator, batches, generator
        self.rank, self.world = rank, world

    def __iter__(self):
        for indices in self.batches:
            plan = self.collator.plan(indices, self.generator)
            yield [plan if self.world == 1 else _Share(plan, self.rank, self.world)]

    def __len__(self) -> int:
        return len(self.batches)


class _Assembler(torch.utils.data.Dataset):
    def __init__(self, collator: Collator):
        self.collator = collator

    def __getitem__(self, plan) -> dict:
        if not isinstance(plan, _Share):
            return self.collator.assemble(plan)
        # A rank's share: a collator that can cut its plans (Collator.share) reads only the share's
        # frames; any other assembles the whole batch and cuts it. ``full_size``: the whole batch's
        # size. A batch smaller than the world leaves some ranks no example: such a rank gets the
        # batch's first example as a ``ghost`` (it must still take part in the step; its loss
        # weight is 0 and it adds nothing to a gathered contrastive batch).
        cut = getattr(self.collator, "share", None)
        whole = None if cut is not None else self.collator.assemble(plan.plan)
        n = len(plan.plan["batch"]["index"]) if whole is None else len(whole["index"])
        part = rank_share(n, plan.rank, plan.world)
        ghost = part.start == part.stop
        part = slice(0, 1) if ghost else part
        batch = self.collator.assemble(cut(plan.plan, part)) if whole is None else slice_batch(whole, part)
        return {**batch, "full_size": n, "ghost": ghost}


def _only(items: list[dict]) -> dict:
    return items[0]


def batch_loader(collator: Collator, batches: list[list[int]], generator: torch.Generator, workers: int = 0,
                 pin_memory: bool = False, rank: int = 0, world: int = 1,
                 worker_init_fn=None) -> torch.utils.data.DataLoader:
    """Batches of one epoch: planned in order here, assembled by ``workers`` processes (0: here).
    The result does not depend on ``workers``. With ``world`` > 1 each batch is planned whole and
    rank ``rank`` gets its share (``collator.share(plan, rank, world)``, :func:`share_plan`).
    ``worker_init_fn`` runs first in each worker process (the training loop's: ignore stop signals)."""
    sampler = _PlanSampler(collator, batches, generator, rank, world)
    return torch.utils.data.DataLoader(_Assembler(collator), batch_sampler=sampler,
                                       num_workers=workers, collate_fn=_only, pin_memory=pin_memory,
                                       prefetch_factor=4 if workers else None, worker_init_fn=worker_init_fn,
                                       # its own generator: the loader must not draw from torch's global
                                       # RNG, whose stream (dropout) a resumed run restores
                                       generator=torch.Generator().manual_seed(0))


def split_batch(batch: dict, size: int | None) -> list[dict]:
    """One optimizer batch as passes of at most ``size`` examples (None: one pass)."""
    n = len(batch["index"])
    if not size or size >= n:
        return [batch]
    return [{k: v[i:i + size] for k, v in batch.items()} for i in range(0, n, size)]
