"""The measured or assumed figures behind the estimates (``reports/plan_figures.yaml``, where each
has its source), as the planner uses them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

# Shipped inside the package, beside the paper's numbers (paper_results.yaml).
FIGURES_FILE = resources.files("qbslt") / "reports" / "plan_figures.yaml"
PRETRAIN_KEYS = ("backbone", "text_model", "alignment")
TRANSLATION_KEYS = PRETRAIN_KEYS + ("fusion", "inputs", "ssl")


@dataclass(frozen=True)
class DatasetFigures:
    """Videos per split and mean frames per video of a real dataset."""

    videos: dict[str, int]
    mean_frames: float
    source: str


def _size(text: str) -> tuple[int, int]:
    height, width = text.split("x")
    return int(height), int(width)


def _flops(entries: dict[str, list[dict]]) -> dict[tuple, tuple[float, float, int]]:
    """{(objective, *keys): (FLOPs per frame, FLOPs per video, parameters)}."""
    return {(objective, *(e[k] for k in (PRETRAIN_KEYS if objective == "pretrain" else TRANSLATION_KEYS))):
            (float(e["per_frame"]), float(e["per_video"]), int(e["params"]))
            for objective, rows in entries.items() for e in rows}


with FIGURES_FILE.open(encoding="utf-8") as _f:
    _FIGURES = yaml.load(_f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: faster

DATASET_FIGURES = {name: DatasetFigures(dict(d["videos"]), float(d["mean_frames"]), d["source"])
                   for name, d in _FIGURES["datasets"].items()}
JPEG_BYTES_PER_FRAME = {_size(size): dict(by_quality)
                        for size, by_quality in _FIGURES["jpeg_bytes_per_frame"]["by_size"].items()}
FRAME_STORE_BENCHMARK = _FIGURES["jpeg_bytes_per_frame"]["benchmark"]
FLOPS_BENCHMARK = _FIGURES["flops"]["benchmark"]
MEASURED_MODEL = dict(_FIGURES["flops"]["measured_model"])
FLOPS = _flops({k: _FIGURES["flops"][k] for k in ("pretrain", "translation")})
PRETRAINED_PARAMS = dict(_FIGURES["pretrained_params"])
_VOCABULARY = _FIGURES["mbart_vocabulary"]
# mbart-large-cc25 without its token embedding, plus the assumed trimmed vocabulary: the trimmed
# model `qbslt tokenizer` saves beside the tokenizer (model.trim_vocab).
TRIMMED_MBART_PARAMS = (PRETRAINED_PARAMS["mbart"] - _VOCABULARY["full"] * _VOCABULARY["width"]
                        + _VOCABULARY["trimmed_assumed"] * _VOCABULARY["width"])
# {(objective, precision): (fixed GiB, GiB per frame in a pass)} of the paper profile's model
GPU_MEMORY = {(objective, precision): (float(f["fixed"]), float(f["per_frame"]))
              for objective in ("pretrain", "translation") for precision, f in _FIGURES["gpu_memory"][objective].items()}
SLURM_MARGINS = dict(_FIGURES["slurm_margins"])
# backbone -> (forward FLOPs per frame, training forward + backward FLOPs per frame) at the 224 crop
BACKBONE_FLOPS = {name: (float(f["forward"]), float(f["train"]))
                  for name, f in _FIGURES["backbone_flops"].items() if name != "benchmark"}
BACKBONE_FLOPS_BENCHMARK = _FIGURES["backbone_flops"]["benchmark"]
DEFAULT_GPU_TFLOPS = float(_FIGURES["gpu_tflops"])
DEFAULT_MFU = float(_FIGURES["mfu"])
