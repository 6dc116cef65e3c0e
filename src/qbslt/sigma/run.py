"""Sigma runs: every variant of one (dataset, seed) in one process, each pre-training (unless the
variant turns it off) and then fine-tuning for gloss-free translation from the skeleton stream alone.

Per variant:

1. unified pre-training on the training split (contrastive alignment + video-text matching +
   language modelling, weighted by the variant), ``pretrain.epochs`` epochs;
2. downstream translation: the same weights, the translation CE, ``finetune.epochs`` epochs; every
   ``finetune.eval_every`` epochs and after the last, dev BLEU-4 of a decoding pass with
   ``eval.eval_beams_during_training`` beams (greedy) picks the weights kept, as the translation
   runs (:func:`qbslt.ssl_ssaw.run.run_stage2`) pick theirs;
3. dev and test decoded with ``eval.num_beams`` beams (the translation models' beam search), scored
   by :func:`qbslt.eval.metrics.corpus_scores`; then two checks that the model reads the skeleton
   (:mod:`qbslt.eval.reliance`): the number of distinct test hypotheses, and test decoded again
   with every example's keypoints taken from another test example (a derangement fixed by the
   seed), scored against the original references (``test.shuffled_keypoints``).

Both phases use :func:`qbslt.training.loop.fit` (seeded epochs, resumable checkpoints under
``checkpoint_dir/<variant>/<phase>/<config hash>``). Writes, per variant::

    <out_dir>/metrics/<dataset>/<variant>/seed<seed>.json      dev/test scores, checks, histories, seconds
    <out_dir>/predictions/<dataset>/<variant>/seed<seed>.tsv   name, reference, hypothesis (test)
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from qbslt.atomic import atomic_write_json, atomic_write_text
from qbslt.config import config_hash
from qbslt.data.datasets import get_dataset
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.reliance import derangement, distinct_hypotheses
from qbslt.eval.settings import EvalSettings
from qbslt.sigma.configuration_sigma import SigmaConfig, SigmaJobSettings, SigmaSettings, check_settings
from qbslt.sigma.data import KeypointCollator, KeypointExamples
from qbslt.sigma.modeling_sigma import SigmaModel
from qbslt.training.checkpoint import load_weights
from qbslt.training.fingerprint import fingerprint
from qbslt.training.loop import fit, resolve_device, seed_everything, to_device
from qbslt.training.settings import LoopSettings
from qbslt.training.tokenizer import decode, load_tokenizer

log = logging.getLogger("qbslt.sigma")
SPLITS = ("train", "dev", "test")


@dataclass
class SigmaInputs:
    dataset: str
    examples_dir: Path   # <split>.tsv
    keypoints_dir: Path  # <split>.npy (+ .mask.npy, .json)
    frames_dir: Path | None  # <split>.index.tsv: the frame index the stores must follow (None: not checked)
    tokenizer: Path      # the dataset's decoder (mBART) tokenizer


def result_paths(out_dir: Path, dataset: str, variant: str, seed: int) -> dict[str, Path]:
    return {"metrics": Path(out_dir) / "metrics" / dataset / variant / f"seed{seed}.json",
            "predictions": Path(out_dir) / "predictions" / dataset / variant / f"seed{seed}.tsv"}


def model_config(settings: SigmaSettings | dict, tokenizer) -> SigmaConfig:
    model = settings.model if isinstance(settings, SigmaSettings) else settings["model"]
    return SigmaConfig.from_params(model, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def loop_settings(settings: SigmaSettings) -> LoopSettings:
    """What :func:`qbslt.training.loop.fit` reads besides a phase's optimisation, for a Sigma phase:
    the loop's defaults (fp32, no compile, no workers, one pass a batch, last.pt every epoch) and the
    variant's ``grad_clip``."""
    return LoopSettings(grad_clip=settings.grad_clip, bucket_by_length=True)


def translate(model: SigmaModel, data: KeypointExamples, collator: KeypointCollator, tokenizer, level: str,
              max_new_tokens: int, num_beams: int = 1, batch_size: int = 256) -> list[str]:
    """Hypotheses of every example, in order (greedy for ``num_beams`` 1, else beam search)."""
    hyps = []
    for start in range(0, len(data), batch_size):
        batch = to_device(collator(list(range(start, min(start + batch_size, len(data))))), model.device)
        hyps += [decode(tokenizer, ids, level) for ids in model.generate(batch, max_new_tokens, num_beams)]
    return hyps


def with_inputs_of(data: KeypointExamples, order) -> KeypointExamples:
    """``data`` with example i's keypoints taken from example ``order[i]`` (texts unchanged)."""
    return dataclasses.replace(data, rows=[data.rows[j] for j in order])


def run_variant(settings: dict, variant: str, seed: int, splits: dict[str, KeypointExamples], tokenizer, level: str,
                dataset: str, device: torch.device, checkpoint_dir: Path, out: dict[str, Path], ev: dict,
                inputs_fingerprint: dict | None = None, deterministic: bool = True) -> dict:
    """Pre-training (if on) + translation fine-tuning (dev-selected weights) + evaluation of one variant.
    ``ev``: the ``eval`` keys num_beams, eval_beams_during_training, batch_size (null: the fine-tuning batch);
    ``inputs_fingerprint``: what the phases' checkpoints resume from (qbslt.training.fingerprint);
    ``deterministic``: train.deterministic. ``settings`` and ``ev`` are the plain blocks (their hash
    names the checkpoints); they are read typed."""
    typed, decoding = SigmaSettings.from_dict(settings, f"sigma.variants.{variant}"), EvalSettings.of(ev, "eval")
    seed_everything(seed, deterministic=deterministic)
    model = SigmaModel(model_config(typed, tokenizer)).to(device)
    model.pretrain_settings = {"loss_weights": typed.loss_weights, "levels": typed.levels}
    collators = {s: KeypointCollator(d, tokenizer.pad_token_id) for s, d in splits.items()}
    base = {"system": "sigma", "dataset": dataset, "variant": variant, "seed": seed, "settings": settings,
            "vocab": len(tokenizer)}
    loop = loop_settings(typed)
    batch_size = decoding.batch_size or typed.finetune.batch_size
    max_new = typed.max_new_tokens

    def dev_bleu4(m: SigmaModel) -> float:
        hyps = translate(m, splits["dev"], collators["dev"], tokenizer, level, max_new,
                         decoding.eval_beams_during_training, batch_size)
        return corpus_scores(hyps, splits["dev"].translations, level)["bleu4"]

    phases = {}
    started = time.perf_counter()
    for phase, objective, on in (("pretrain", "pretrain", typed.pretraining),
                                 ("finetune", "translation", True)):
        if not on:
            continue
        run_config = {**base, "phase": phase, **({"eval": ev} if phase == "finetune" else {})}
        phase_dir = Path(checkpoint_dir) / variant / phase / config_hash(run_config)
        result = fit(model, collators["train"], len(splits["train"]), objective, getattr(typed, phase), loop, run_config,
                     seed, phase_dir, device, evaluate=dev_bleu4 if phase == "finetune" else None,
                     desc=f"sigma {variant} {phase}", fingerprint=inputs_fingerprint)
        phases[phase] = {"epochs": result.epochs, "train_seconds": round(result.train_seconds, 2),
                         "history": result.history}
        if phase == "finetune":
            phases[phase]["best_epoch"] = result.best_epoch
            phases[phase]["budget"] = result.budget()
            if (phase_dir / "best.safetensors").exists():
                model.load_state_dict(load_weights(phase_dir / "best.safetensors"))
    model.eval()
    scores, hyps = {}, {}
    for split in ("dev", "test"):
        hyps[split] = translate(model, splits[split], collators[split], tokenizer, level, max_new, decoding.num_beams,
                                batch_size)
        scores[split] = {k: round(v, 2) for k, v in corpus_scores(hyps[split], splits[split].translations,
                                                                   level).items()}
        distinct = distinct_hypotheses(hyps[split])
        scores[split].update(distinct_hypotheses=distinct["count"], distinct_share=distinct["share"])
    test = splits["test"]
    shuffled = with_inputs_of(test, derangement(len(test), seed))
    shuffled_hyps = translate(model, shuffled, KeypointCollator(shuffled, tokenizer.pad_token_id), tokenizer, level,
                              max_new, decoding.num_beams, batch_size)
    scores["test"]["shuffled_keypoints"] = {k: round(v, 2) for k, v in corpus_scores(
        shuffled_hyps, test.translations, level).items()}
    atomic_write_text(out["predictions"], pd.DataFrame({"name": test.names, "reference": test.translations,
                                                        "hypothesis": hyps["test"]}).to_csv(sep="\t", index=False))
    metrics = {"system": "sigma", "dataset": dataset, "variant": variant, "seed": seed, **scores,
               "decoding": {"num_beams": decoding.num_beams, "max_new_tokens": max_new},
               "pretraining": typed.pretraining, **phases,
               "seconds": round(time.perf_counter() - started, 2),
               "parameters": sum(p.numel() for p in model.parameters()),
               "config_hash": config_hash({**base, "settings": settings, "eval": ev})}
    atomic_write_json(out["metrics"], metrics)
    log.info("sigma %s %s seed %d: test BLEU-4 %.2f, shuffled keypoints %.2f, %d distinct of %d (%.1f s)", dataset,
             variant, seed, scores["test"]["bleu4"], scores["test"]["shuffled_keypoints"]["bleu4"],
             scores["test"]["distinct_hypotheses"], len(test), metrics["seconds"])
    return metrics


def run_all(cfg: dict, dataset: str, seed: int, inputs: SigmaInputs, out_dir: Path, checkpoint_dir: Path) -> dict:
    """Every variant of ``cfg["variants"]`` ({name: settings}) on one dataset and seed.
    ``cfg``: {"variants", "data" (max_frames, max_text_tokens), "eval" (num_beams, eval_beams_during_training,
    batch_size: the translation runs' ``eval`` keys), "device", "threads", "deterministic"}
    (:class:`SigmaJobSettings`). Returns {variant: metrics}."""
    job = SigmaJobSettings.from_dict(cfg, "--cfg")
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    for name, settings in job.variants.items():
        check_settings(settings, f"sigma.variants.{name}")
    tokenizer = load_tokenizer(inputs.tokenizer)
    level = get_dataset(dataset).eval_level
    splits = {}
    for split in SPLITS:
        index = Path(inputs.frames_dir) / f"{split}.index.tsv" if inputs.frames_dir else None
        splits[split] = KeypointExamples.load(Path(inputs.examples_dir) / f"{split}.tsv",
                                              Path(inputs.keypoints_dir) / f"{split}.npy", tokenizer, level,
                                              job.data.max_frames, job.data.max_text_tokens, index)
    files = {"tokenizer": inputs.tokenizer, "keypoints": inputs.keypoints_dir,
             **{f"examples/{split}": Path(inputs.examples_dir) / f"{split}.tsv" for split in SPLITS}}
    return {name: run_variant(settings, name, seed, splits, tokenizer, level, dataset, device, checkpoint_dir,
                              result_paths(out_dir, dataset, name, seed), cfg["eval"], fingerprint(files),
                              deterministic=job.deterministic)
            for name, settings in cfg["variants"].items()}
