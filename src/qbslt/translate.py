"""``qbslt translate``: one video + its question -> the spoken-language translation.

Loads a model folder written by the pipeline (``QBSLTModel.from_pretrained``: ``model.safetensors``,
``config.json``, ``tokenizer/``, ``text_tokenizer/``; and ``pipeline.json``) and runs the same preprocessing as
training: frames resized to the training frame size, frozen-backbone features recomputed with
the same (seeded) backbone, the question tokenised like the training questions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qbslt.data.frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_frames
from qbslt.errors import QbsltError
from qbslt.numerics import configure_torch
from qbslt.profiles import PROFILES
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
from qbslt.training.augment import crop_frames, evenly_spaced
from qbslt.training.features import build_frozen_backbone
from qbslt.training.tokenizer import decode, encode, load_tokenizer


@dataclass
class Translator:
    model: QBSLTModel
    pipeline: dict
    decoder_tok: object
    text_tok: object
    device: torch.device = torch.device("cpu")

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> "Translator":
        configure_torch()  # the pinned CPU kernels (qbslt.numerics): the same translations on every machine
        folder = Path(folder)
        for name in ("model.safetensors", "config.json", "pipeline.json", "tokenizer", "text_tokenizer"):
            if not (folder / name).exists():
                raise QbsltError(f"{folder}: not a model folder written by the pipeline ({name} missing)")
        config = QBSLTConfig.from_pretrained(folder)
        if config.sign_input == "gloss":
            raise QbsltError(f"{folder}: a text reference model (model.sign_input='gloss') reads glosses, not "
                             f"video; translate with a video model")
        if config.skeleton:
            raise QbsltError(f"{folder}: an RGB + skeleton model (model.skeleton) needs keypoints, which "
                             f"`qbslt translate` does not extract; translate with an RGB model")
        # Loaded on the CPU first: a corrupt or ill-fitting weights file is named as such (QbsltError),
        # not reported under --device.
        model = QBSLTModel.from_pretrained(folder)
        try:
            target = torch.device(device)
            model = model.to(target).eval()
        except (RuntimeError, AssertionError) as exc:  # an unknown or unavailable device
            raise QbsltError(f"--device {device}: {exc}") from exc
        return cls(model, json.loads((folder / "pipeline.json").read_text()),
                   load_tokenizer(folder / "tokenizer"), load_tokenizer(folder / "text_tokenizer"), target)

    def trained_on_rendered_video(self, folder: Path) -> str | None:
        """The profile whose rendered (synthetic) video the model was trained on, or None: embedded
        and realtext draw their videos at 40x32. pipeline.json records the frame size; the model
        folder's path (models/<profile>/...) names the profile."""
        parts = Path(folder).resolve().parts
        profile = PROFILES.get(parts[parts.index("models") + 1]) if "models" in parts[:-1] else None
        if profile is not None and profile.rendered_video:
            return profile.name
        size = self.pipeline.get("frame_size") or []
        rendered = " or ".join(p.name for p in PROFILES.values() if p.rendered_video)
        return rendered if size and max(size) < 64 else None

    def video_input(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames [T, H, W, 3] -> the model's video input [1, T', ...]."""
        limit = self.pipeline["max_frames"]
        if len(frames) > limit:
            frames = evenly_spaced(frames, limit)
        video = torch.from_numpy(np.array(frames))
        if self.pipeline.get("crop_size") and not self.model.config.freeze_backbone:
            video = crop_frames(video, self.pipeline["crop_size"], None)  # the evaluation's centre crop
        if self.model.config.freeze_backbone:
            backbone = build_frozen_backbone(self.model.config.backbone, self.model.config.backbone_pretrained)
            video = backbone.extract_features(video)
        return video.unsqueeze(0)

    @property
    def reads_video(self) -> bool:
        return self.model.config.inputs != "question"

    @property
    def reads_question(self) -> bool:
        return self.model.config.inputs != "sign"

    def check_inputs(self, has_video: bool, question: str) -> list[str]:
        """QbsltError when an input the model reads is missing; else notes on inputs it would ignore."""
        inputs = self.model.config.inputs
        if self.reads_video and not has_video:
            raise QbsltError(f"this model reads the sign video (model.inputs = {inputs}): give --frames or --video")
        if self.reads_question and not question.strip():
            raise QbsltError(f"this model reads the question asked before the answer (model.inputs = {inputs}): "
                             f"give --question")
        notes = []
        if has_video and not self.reads_video:
            notes.append(f"this model reads no video (model.inputs = {inputs}): the video is not read")
        if question.strip() and not self.reads_question:
            notes.append(f"this model reads no question (model.inputs = {inputs}): the question is not read")
        return notes

    @torch.no_grad()
    def translate(self, frames: np.ndarray | None, question: str, num_beams: int | None = None) -> tuple[str, dict]:
        """The translation of ``frames`` (None for a question-only model) given ``question``."""
        if num_beams is not None and num_beams < 1:  # 0 would silently mean "the default"
            raise QbsltError(f"num_beams must be >= 1, got {num_beams}")
        self.check_inputs(frames is not None, question)
        if frames is not None and len(frames) == 0:
            raise QbsltError("the video has no frames")
        level, cut = self.pipeline["level"], self.pipeline["max_text_tokens"] - 1
        # A question-only model never reads the video (QBSLTModel.encode): one empty frame stands in.
        video = self.video_input(frames) if self.reads_video else torch.zeros(1, 1, 1)
        q_text = encode(self.text_tok, [question], level)[0][:cut]
        q_dec = encode(self.decoder_tok, [question], level)[0][:cut]
        batch = {"video": video, "video_mask": torch.ones(video.shape[:2], dtype=torch.bool),
                 "question_ids": torch.tensor([q_text], dtype=torch.long).reshape(1, -1),
                 "question_mask": torch.ones((1, len(q_text)), dtype=torch.bool),
                 "question_dec_ids": torch.tensor([q_dec], dtype=torch.long).reshape(1, -1),
                 "question_dec_mask": torch.ones((1, len(q_dec)), dtype=torch.bool)}
        batch = {key: value.to(self.device) for key, value in batch.items()}
        ids, info = self.model.generate(batch, num_beams=num_beams or self.pipeline["num_beams"],
                                        max_new_tokens=self.pipeline["max_new_tokens"], return_weights=True)
        weights = None
        if info["weights"] is not None:
            weights = {"question_tokens": self.text_tok.convert_ids_to_tokens(q_text), "split": info["split"][0],
                       "weights": info["weights"][0].mean(dim=1).tolist()}
        return decode(self.decoder_tok, ids[0], self.pipeline["level"]), weights

    def translate_source(self, source: Path | None, question: str, num_beams: int | None = None) -> tuple[str, dict]:
        """Frames from a folder of images or a video file, resized to the training frame size (no source:
        a question-only model)."""
        if source is None or not self.reads_video:  # translate() says what is missing
            return self.translate(None, question, num_beams)
        if not source.exists():
            raise QbsltError(f"{source}: no such frame folder or video file")
        if source.is_file() and source.suffix.lower() not in VIDEO_SUFFIXES:
            raise QbsltError(f"{source}: not a video file ({', '.join(VIDEO_SUFFIXES)}) nor a frame folder")
        frames = read_frames(source, tuple(self.pipeline["frame_size"]))
        if len(frames) == 0:
            raise QbsltError(f"{source}: the video has no frames" if source.is_file() else
                             f"{source}: the frame folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        return self.translate(frames, question, num_beams)
