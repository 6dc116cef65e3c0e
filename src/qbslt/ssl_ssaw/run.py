"""One training run of either stage, from prepared files to weights, metrics and predictions.

Stage 1 (shared feature space, Eq. 1-2) runs once per distinct (dataset, backbone, text model,
alignment, seed) and is shared by every variant using it. Stage 2 (translation, Eq. 3-7) starts
from it, selects the best epoch on dev BLEU-4 (greedy decoding, cheap), then decodes dev and
test with beam search and writes the result contract:

    metrics      JSON: bleu1..bleu4, rouge_l for dev and test, epochs, train seconds, samples/s,
                 parameter count, config hash, the training budget (cap, patience, epochs run, best
                 epoch, early or at the cap, the dev curve: ``FitResult.budget``); per split also ``shuffled_video.bleu4`` and
                 ``shuffled_question.bleu4``: the input-reliance check (each input the variant reads
                 taken from another example of the split, a fixed derangement from the seed)
    predictions  TSV: name, reference, question, hypothesis (test split)
    dev_predictions  TSV: the same columns, dev split (from the same final beam-search pass that
                 scores dev: no extra decoding)
    ssaw         JSON: fusion, dataset, variant, seed; ``examples``: SSAW sigmoid weights of the first
                 test examples; ``test_summary``: per test example, the mean weight of its question
                 tokens and of its video positions (both null for other fusions)
    model dir    model.safetensors + config.json + tokenizer/ (for ``qbslt translate``)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from qbslt.config import config_hash, stage1_config
from qbslt.atomic import atomic_write_json, atomic_write_text
from qbslt.data.datasets import get_dataset
from qbslt.data.frame_store import open_video_store, store_path
from qbslt.data.join import read_examples
from qbslt.data.keypoints import open_keypoint_store
from qbslt.data.staging import stage
from qbslt.errors import ConfigError
from qbslt.eval.metrics import corpus_scores
from qbslt.eval.reliance import derangement
from qbslt.ssl_ssaw.configuration_ssl_ssaw import QBSLTConfig
from qbslt.ssl_ssaw.model_card import write_model_card
from qbslt.ssl_ssaw.settings import RunSettings
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
from qbslt.training.augment import VideoAugment
from qbslt.training.batches import Collator, ExampleSet
from qbslt.training.checkpoint import load_weights, save_weights
from qbslt.training.fingerprint import fingerprint
from qbslt.training.loop import (autocast, distributed, fit, init_distributed, resolve_device, seed_everything,
                                 to_device)
from qbslt.training.settings import TrainSettings
from qbslt.training.tokenizer import TRIMMED_MODEL_DIR, decode, load_tokenizer, train_gloss_tokenizer

log = logging.getLogger("qbslt.run")
SSAW_EXAMPLES = 8


@dataclass
class RunInputs:
    """Prepared files a run reads."""

    dataset: str
    examples_dir: Path  # {split}.tsv
    features_dir: Path  # {split}.npy (frozen backbone) or the frame store dir
    decoder_tokenizer: Path
    text_tokenizer: Path
    frame_size: tuple[int, int] | None = None  # recorded with the model for `qbslt translate`
    keypoints_dir: Path | None = None  # {split}.npy keypoint stores (model.skeleton)
    stage_dir: Path | None = None  # node-local folder the video stores are copied to first (cluster.stage_dir)


def _token_id(tokenizer, token: str, key: str) -> int:
    """Id of ``token`` in ``tokenizer`` (a trimmed one included); a ConfigError naming the config
    ``key`` when the tokenizer does not have it, rather than silently using ``<unk>``."""
    found = tokenizer.get_vocab().get(token)
    if found is None:
        raise ConfigError(f"{key}: {token!r} is not a token of {tokenizer.name_or_path}")
    return found


def model_config(cfg: dict, decoder_tok, text_tok, dataset: str | None = None, gloss_tok=None,
                 **overrides) -> QBSLTConfig:
    """The model config of ``cfg`` for these tokenizers. ``dataset`` picks its
    ``model.decoder_start_token`` (without it, or when that is null, the decoder starts with ``</s>``);
    ``gloss_tok``: the gloss tokenizer of ``model.sign_input="gloss"``."""
    m = {**cfg["model"], **overrides}
    start = m["decoder_start_token"][dataset] if dataset else None
    start_id = None if start is None else _token_id(decoder_tok, start, f"model.decoder_start_token.{dataset}")
    return QBSLTConfig.from_params(
        m, vocab_size=len(decoder_tok), bert_vocab_size=len(text_tok), pad_token_id=decoder_tok.pad_token_id,
        bos_token_id=decoder_tok.bos_token_id, eos_token_id=decoder_tok.eos_token_id,
        unk_token_id=decoder_tok.unk_token_id, mask_token_id=text_tok.mask_token_id,
        sep_question_token_id=decoder_tok.convert_tokens_to_ids("<q>"), decoder_start_token_id=start_id,
        gloss_vocab_size=len(gloss_tok) if gloss_tok is not None else 0)


def run_model_config(cfg: dict, inputs: "RunInputs", decoder_tok, text_tok, gloss_tok=None) -> QBSLTConfig:
    """Model config of a run; a vocabulary-trimmed mBART beside the tokenizer replaces mbart_path."""
    trimmed = Path(inputs.decoder_tokenizer) / TRIMMED_MODEL_DIR
    overrides = {"mbart_path": str(trimmed)} if trimmed.is_dir() else {}
    return model_config(cfg, decoder_tok, text_tok, inputs.dataset, gloss_tok, **overrides)


def gloss_tokenizer(cfg: dict, inputs: RunInputs):
    """``model.sign_input="gloss"``: a word-level tokenizer over the training split's glosses (None otherwise)."""
    if cfg["model"]["sign_input"] != "gloss":
        return None
    return train_gloss_tokenizer(read_examples(inputs.examples_dir / "train.tsv")["gloss"])


def load_split(inputs: RunInputs, split: str, cfg: RunSettings | dict, decoder_tok, text_tok,
               gloss_tok=None) -> ExampleSet:
    """One split as a run reads it; ``cfg``: the run's settings, or any tree with the ``model`` and
    ``train`` blocks (a resolved params tree: benchmarks and tests)."""
    if isinstance(cfg, RunSettings):
        train, skeleton = cfg.train, cfg.skeleton
    else:
        train, skeleton = TrainSettings.of(cfg["train"], "train"), bool(cfg["model"].get("skeleton"))
    examples = read_examples(inputs.examples_dir / f"{split}.tsv")
    # features or frames (raw / compressed); read from a node-local copy when the run stages its stores
    store = open_video_store(stage(store_path(inputs.features_dir, split), inputs.stage_dir))
    data = ExampleSet.build(examples, store, text_tok, decoder_tok, get_dataset(inputs.dataset).eval_level,
                            train.max_frames, train.max_text_tokens, gloss_tok)
    if skeleton:  # RGB + skeleton: the keypoint store beside the frames, same rows
        if inputs.keypoints_dir is None:
            raise ConfigError("model.skeleton is on but the run was given no keypoint stores (--keypoints-dir)")
        data.keypoints = open_keypoint_store(Path(inputs.keypoints_dir) / f"{split}.npy")
        if len(data.keypoints) != len(store):
            raise ConfigError(f"{data.keypoints.path}: {len(data.keypoints)} rows, the video store of {split} has "
                              f"{len(store)} (rerun the keypoints step)")
    return data


def make_collator(data: ExampleSet, decoder_tok, text_tok, mask_prob: float = 0.0,
                  augment: VideoAugment = VideoAugment(), training: bool = False, read_video: bool = True) -> Collator:
    return Collator(data, text_pad_id=text_tok.pad_token_id, decoder_pad_id=decoder_tok.pad_token_id,
                    mask_id=text_tok.mask_token_id, eos_id=text_tok.eos_token_id if text_tok.eos_token_id is not None
                    else text_tok.sep_token_id, mask_prob=mask_prob, augment=augment, training=training,
                    read_video=read_video)


def vocabulary_sizes(decoder_tok, text_tok) -> list[int]:
    """Part of a run's identity beside its config: regenerated data with a new vocabulary must not
    resume a checkpoint whose embedding tables have the old size."""
    return [len(decoder_tok), len(text_tok)]


def input_files(inputs: RunInputs, splits: tuple[str, ...], **extra: Path | None) -> dict[str, Path | None]:
    """Every file a run reads, by name, for its resume fingerprint (:mod:`qbslt.training.fingerprint`)."""
    files: dict[str, Path | None] = {"decoder_tokenizer": inputs.decoder_tokenizer,
                                     "text_tokenizer": inputs.text_tokenizer, **extra}
    for split in splits:
        files[f"examples/{split}"] = inputs.examples_dir / f"{split}.tsv"
        files[f"video/{split}"] = store_path(inputs.features_dir, split)
    return files


def config_checkpoint_dir(base: Path, run_config: dict) -> Path:
    """Checkpoints of one exact config: a changed parameter starts afresh instead of resuming."""
    return Path(base) / config_hash(run_config)


def _setup(train: TrainSettings, seed: int) -> torch.device:
    init_distributed()
    torch.set_num_threads(train.threads)
    seed_everything(seed, deterministic=train.deterministic)
    return resolve_device(train.device)


def run_stage1(cfg: dict, seed: int, inputs: RunInputs, out_dir: Path, checkpoint_dir: Path,
               stage0: Path | None = None) -> dict:
    """Stage 1 on the training split; writes out_dir/model.safetensors and stage1.json. ``stage0``: an
    SL-SLR encoder the temporal module starts from (qbslt.training.checkpoint.load_stage0; the variant's ``stage0`` key).
    ``cfg``: the job's settings (:class:`RunSettings`'s dict; the checkpoint folder is named by its hash)."""
    settings = RunSettings.from_dict(cfg, "--cfg")
    train_settings = settings.train
    device = _setup(train_settings, seed)
    decoder_tok, text_tok = load_tokenizer(inputs.decoder_tokenizer), load_tokenizer(inputs.text_tokenizer)
    config = run_model_config(cfg, inputs, decoder_tok, text_tok)
    model = QBSLTModel(config)
    if stage0 is not None:
        from qbslt.training.checkpoint import load_stage0

        load_stage0(model, stage0)
    model = model.to(device)
    train = load_split(inputs, "train", settings, decoder_tok, text_tok)
    collator = make_collator(train, decoder_tok, text_tok, train_settings.stage1.mask_prob or 0.0,
                             VideoAugment.from_config(train_settings), training=True)
    run_config = {"stage": 1, "seed": seed, **stage1_config(cfg), "vocab": vocabulary_sizes(decoder_tok, text_tok)}
    result = fit(model, collator, len(train), "pretrain", train_settings.stage1,
                 train_settings, run_config, seed, config_checkpoint_dir(checkpoint_dir, run_config), device,
                 desc="stage1", fingerprint=fingerprint(input_files(inputs, ("train",), stage0=stage0)))
    if distributed()[0] != 0:
        return {}
    save_weights(out_dir / "model.safetensors", model.state_dict())
    summary = {"seed": seed, "config_hash": config_hash(run_config), "epochs": result.epochs,
               "train_seconds": round(result.train_seconds, 2),
               "samples_per_second": round(result.samples_per_second, 1), "history": result.history}
    atomic_write_json(out_dir / "stage1.json", summary)
    return summary


def decoding_order(model: QBSLTModel, data: ExampleSet) -> list[int]:
    """The order ``predict`` decodes ``data`` in. Beam search runs one ``generate`` call per
    decoder-prefix length in a batch (``QBSLTModel.generate``); a question-prefixed model's
    examples sorted by that length fill each batch with few lengths, so it makes the fewest calls.
    Without a question prefix (no ssl, or ssl's ``auxiliary`` reading) every prefix is [start]:
    input order, one call a batch."""
    if not model.config.question_prefix:
        return list(range(len(data)))
    return sorted(range(len(data)), key=lambda i: len(data.question_dec_ids[i]))


@dataclass
class Decoded:
    """What :func:`decode_split` returns (all lists in input order)."""

    hypotheses: list[str]  # every example
    weights: list[dict]  # the first ``weights_for``: their SSAW weights per position (Figure 4's strips)
    summary: list[dict]  # the first ``summary_for``: :func:`ssaw_part_means` of each (Figure 4's statistics)


def ssaw_part_means(weights: torch.Tensor, split: int, video_len: int) -> tuple[float | None, float | None]:
    """(question mean, video mean) of one example's SSAW weights ``weights`` [L, d] (its unpadded
    fused sequence, as ``QBSLTModel.generate(return_weights=True)`` returns it): the sigmoid weight
    averaged over the d channels and over positions ``[0, split)`` (question tokens, special tokens
    included), resp. ``[split, split + video_len)`` (video positions); None for an empty part."""
    per_position = weights.double().mean(dim=1)
    parts = per_position[:split], per_position[split:split + video_len]
    return tuple(float(part.mean()) if len(part) else None for part in parts)


def decode_split(model: QBSLTModel, data: ExampleSet, collator: Collator, decoder_tok, level: str,
                 batch_size: int, num_beams: int, max_new_tokens: int, weights_for: int = 0, text_tok=None,
                 summary_for: int = 0, precision: str = "fp32") -> Decoded:
    """Beam-search every example of ``data``; with ``weights_for`` also the SSAW weights of its first
    examples (``text_tok`` names their question tokens), with ``summary_for`` the question and video
    means of its first examples (:func:`ssaw_part_means`; run_stage2 asks for every test example).

    The weights come from the encoder side of the same decoding pass (the fusion runs once per
    batch whether asked or not; asking only copies them to the CPU), so they cost no second pass.
    Models without SSAW weights return empty ``weights`` and ``summary``. ``precision``: the training's
    (``train.precision``: bf16 autocast on a GPU, as the training steps run)."""
    device = model.device
    order = decoding_order(model, data)
    hypotheses: list[str] = [""] * len(data)
    weights: dict[int, dict] = {}
    summary: dict[int, dict] = {}
    wanted = max(weights_for, summary_for)
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        batch = to_device(collator(indices), device)
        want = any(i < wanted for i in indices)
        with autocast(device, precision):
            out = model.generate(batch, num_beams=num_beams, max_new_tokens=max_new_tokens, return_weights=want)
        ids, info = out if want else (out, None)
        for i, seq in zip(indices, ids):
            hypotheses[i] = decode(decoder_tok, seq, level)
        if info is None or info["weights"] is None:
            continue
        for row, i in enumerate(indices):
            split, video_len, w = info["split"][row], info["video_len"][row], info["weights"][row].float()
            if i < weights_for:
                weights[i] = {"name": data.names[i], "question": data.questions[i],
                              "reference": data.translations[i], "split": split, "video_len": video_len,
                              "question_tokens": text_tok.convert_ids_to_tokens(data.question_ids[i]),
                              "weights": w.mean(dim=1).tolist()}
            if i < summary_for:
                question_mean, video_mean = ssaw_part_means(w, split, video_len)
                summary[i] = {"name": data.names[i], "question_mean": question_mean, "video_mean": video_mean}
    return Decoded(hypotheses, [weights[i] for i in sorted(weights)], [summary[i] for i in sorted(summary)])


def predict(model: QBSLTModel, data: ExampleSet, collator: Collator, decoder_tok, level: str, batch_size: int,
            num_beams: int, max_new_tokens: int, weights_for: int = 0, text_tok=None,
            precision: str = "fp32") -> tuple[list[str], list[dict]]:
    """Hypotheses of every example (input order) and, for the first ``weights_for``, SSAW weights
    (:func:`decode_split` without the summary)."""
    decoded = decode_split(model, data, collator, decoder_tok, level, batch_size, num_beams, max_new_tokens,
                           weights_for, text_tok, precision=precision)
    return decoded.hypotheses, decoded.weights


def run_stage2(cfg: dict, seed: int, inputs: RunInputs, stage1_weights: Path | None, out: dict[str, Path],
               checkpoint_dir: Path, variant: str) -> dict:
    """Stage 2 of one variant and seed; writes every path of ``out`` (metrics, predictions,
    dev_predictions, ssaw, model). ``cfg``: the job's settings (:class:`RunSettings`'s dict; the
    checkpoint folder is named by its hash)."""
    settings = RunSettings.from_dict(cfg, "--cfg")
    if settings.eval is None or settings.train.stage2 is None:
        raise ConfigError("--cfg: a stage-2 run needs the eval block and train.stage2")
    train, ev = settings.train, settings.eval
    device = _setup(train, seed)
    decoder_tok, text_tok = load_tokenizer(inputs.decoder_tokenizer), load_tokenizer(inputs.text_tokenizer)
    gloss_tok = gloss_tokenizer(cfg, inputs)
    config = run_model_config(cfg, inputs, decoder_tok, text_tok, gloss_tok)
    model = QBSLTModel(config).to(device)
    if stage1_weights is not None:
        model.load_stage1(load_weights(stage1_weights))
    level = get_dataset(inputs.dataset).eval_level
    splits = {s: load_split(inputs, s, settings, decoder_tok, text_tok, gloss_tok) for s in ("train", "dev", "test")}
    # A question-only model reads no video: its batches read no frame (model.inputs = question).
    read_video = config.inputs != "question"
    collators = {s: make_collator(d, decoder_tok, text_tok, augment=VideoAugment.from_config(train),
                                 training=s == "train", read_video=read_video)
                 for s, d in splits.items()}
    # Decoding batch: beam search runs one generate call per decoder-prefix length in a batch, so a
    # larger batch means fewer, fuller calls (eval.batch_size; null: the training batch).
    batch_size = ev.batch_size or train.stage2.batch_size

    def dev_bleu4(m: QBSLTModel) -> float:
        hyps, _ = predict(m, splits["dev"], collators["dev"], decoder_tok, level, batch_size,
                          ev.eval_beams_during_training, ev.max_new_tokens, precision=train.precision)
        return corpus_scores(hyps, splits["dev"].translations, level)["bleu4"]

    run_config = {"stage": 2, "seed": seed, "variant": variant, **cfg,
                  "vocab": vocabulary_sizes(decoder_tok, text_tok)}
    checkpoint_dir = config_checkpoint_dir(checkpoint_dir, run_config)
    result = fit(model, collators["train"], len(splits["train"]), "translation",
                 train.stage2, train, run_config, seed, checkpoint_dir, device,
                 evaluate=dev_bleu4, desc=f"stage2 {variant}",
                 fingerprint=fingerprint(input_files(inputs, ("train", "dev", "test"), stage1=stage1_weights,
                                                     keypoints=inputs.keypoints_dir if config.skeleton else None)))
    if distributed()[0] != 0:
        return {}  # rank 0 evaluates and writes the results
    best = checkpoint_dir / "best.safetensors"
    if best.exists():
        model.load_state_dict(load_weights(best))
    model.eval()

    scores, final_hyps, ssaw, ssaw_summary = {}, {}, [], []
    for split in ("dev", "test"):
        data, n = splits[split], len(splits[split])
        # Input-reliance check: the split again with each example's video (or question) taken from
        # another example of the split; a model whose score barely moves does not read that input.
        # One decoding pass over the split and its shuffled copies: fewer, fuller generate calls.
        order = derangement(n, seed).tolist()
        shuffled = reliance_inputs(config)
        views = ExampleSet.concat([data] + [data.with_inputs_of(order, which) for which in shuffled])
        collator = make_collator(views, decoder_tok, text_tok, augment=collators[split].augment,
                                 read_video=read_video)
        # Test: the SSAW weights of the first examples (Figure 4's strips) and the question / video
        # means of every example (Figure 4's statistics), from this same pass; only the split's own
        # examples (views[:n]), never its shuffled copies.
        decoded = decode_split(model, views, collator, decoder_tok, level, batch_size, ev.num_beams,
                               ev.max_new_tokens, weights_for=min(SSAW_EXAMPLES, n) if split == "test" else 0,
                               text_tok=text_tok, summary_for=n if split == "test" else 0,
                               precision=train.precision)
        hyps = decoded.hypotheses
        scores[split] = {k: round(v, 2) for k, v in corpus_scores(hyps[:n], data.translations, level).items()}
        for k, which in enumerate(shuffled, start=1):
            bleu4 = corpus_scores(hyps[k * n:(k + 1) * n], data.translations, level)["bleu4"]
            scores[split][f"shuffled_{which}"] = {"bleu4": round(bleu4, 2)}
        final_hyps[split] = hyps[:n]
        if split == "test":
            ssaw, ssaw_summary = decoded.weights, decoded.summary
    for split, key in (("test", "predictions"), ("dev", "dev_predictions")):
        write_predictions(out[key], splits[split], final_hyps[split])
    is_ssaw = config.fusion == "ssaw"
    atomic_write_text(out["ssaw"], json.dumps({
        "fusion": config.fusion, "dataset": inputs.dataset, "variant": variant, "seed": seed,
        "examples": ssaw if is_ssaw else None, "test_summary": ssaw_summary if is_ssaw else None},
        ensure_ascii=False) + "\n")
    save_model(model, decoder_tok, text_tok, out["model"], {
        "dataset": inputs.dataset, "level": level, "frame_size": list(inputs.frame_size or ()),
        "max_frames": train.max_frames, "crop_size": train.crop_size, "max_text_tokens": train.max_text_tokens,
        "num_beams": ev.num_beams, "max_new_tokens": ev.max_new_tokens}, gloss_tok,
        card={"variant": variant, "seed": seed, "train": cfg["train"],
              "metrics": {**scores, "epochs": result.epochs, "best_epoch": result.best_epoch}})
    metrics = {"dataset": inputs.dataset, "variant": variant, "seed": seed, **scores,
               "epochs": result.epochs, "best_epoch": result.best_epoch, "budget": result.budget(),
               "train_seconds": round(result.train_seconds, 2),
               "samples_per_second": round(result.samples_per_second, 1),
               "parameters": sum(p.numel() for p in model.parameters()),
               "config_hash": config_hash(run_config), "history": result.history}
    atomic_write_json(out["metrics"], metrics)
    return metrics


def write_predictions(path: Path, data: ExampleSet, hypotheses: list[str]) -> None:
    """A predictions TSV of the result contract (name, reference, question, hypothesis), written atomically."""
    frame = pd.DataFrame({"name": data.names, "reference": data.translations, "question": data.questions,
                          "hypothesis": hypotheses})
    atomic_write_text(path, frame.to_csv(sep="\t", index=False))


def reliance_inputs(config: QBSLTConfig) -> list[str]:
    """The inputs a variant reads, for the input-reliance check: "video" (the sign stream: frames or
    glosses) and "question"."""
    return [which for which, read in (("video", config.inputs != "question"), ("question", config.inputs != "sign"))
            if read]


def save_model(model: QBSLTModel, decoder_tok, text_tok, out_dir: Path, pipeline: dict,
               gloss_tok=None, card: dict | None = None) -> None:
    """A self-contained model folder for ``qbslt translate`` and ``transformers.AutoModel``: the model's
    own folder (weights, config, tokenizers: ``QBSLTModel.save_pretrained``), how to preprocess
    (``pipeline.json``) and, with ``card``, the model card ``README.md`` (``card``: the keyword arguments
    of :func:`qbslt.ssl_ssaw.model_card.model_card`, ``variant`` required: train, metrics, profile, seed)."""
    tokenizers = {"tokenizer": decoder_tok, "text_tokenizer": text_tok}
    if gloss_tok is not None:
        tokenizers["gloss_tokenizer"] = gloss_tok
    model.save_pretrained(out_dir, tokenizers)
    atomic_write_text(out_dir / "pipeline.json", json.dumps(pipeline, indent=2) + "\n")
    if card is not None:
        write_model_card(out_dir, model.config, pipeline, **card)
