"""Hugging Face-style model folders: ``save_pretrained(folder)`` / ``from_pretrained(folder)`` on the
models of this package (``QBSLTModel``, Sigma's ``SigmaModel``).

A model folder holds::

    config.json          the model's config (ModelConfig.to_json): every size, enough to rebuild it
    model.safetensors    the weights (state dict; tied tensors stored once per key)
    <name>/              each tokenizer given to save_pretrained, in its own save_pretrained format
                         (QBSLTModel: tokenizer/ of the decoder, text_tokenizer/ of the question)

Loading never fetches pretrained weights: the stored config already has the trained model's
sizes, and every weight comes from ``model.safetensors``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from qbslt.atomic import atomic_paths
from qbslt.errors import QbsltError
from qbslt.model.configuration import ModelConfig

WEIGHTS_FILE = "model.safetensors"
# What ``transformers.AutoModel.from_pretrained(folder)`` passes on to the registered model class's
# ``from_pretrained`` besides ``config``, with no model-specific meaning (a local folder: nothing to fetch).
HF_BOOKKEEPING_KWARGS = frozenset({"_from_auto", "adapter_kwargs", "trust_remote_code", "revision", "cache_dir",
                                   "force_download", "local_files_only", "proxies", "subfolder", "token",
                                   "code_revision", "_commit_hash", "name_or_path"})


def save_weights(path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    """Model weights as safetensors (tied/shared tensors are cloned so each key owns its data)."""
    tensors = {k: v.detach().contiguous().clone() for k, v in state_dict.items()}
    with atomic_paths(path) as (tmp,):
        save_file(tensors, str(tmp))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a safetensors file; QbsltError naming the file if it is truncated or corrupt."""
    try:
        return load_file(str(path))
    except SafetensorError as exc:  # e.g. "Error while deserializing header: header too small"
        raise QbsltError(f"{path}: corrupt or truncated safetensors file ({exc}); delete it and rerun the "
                         f"step that wrote it") from None


def _some(keys: list[str], shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def check_fits(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """QbsltError naming ``path`` and the first missing, unexpected or mis-shaped keys of ``state`` for
    ``model``: torch's own load_state_dict error is many lines of every key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} (file {list(state[k].shape)}, model {list(expected[k].shape)})"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = [f"{label}: {_some(keys)}" for label, keys in
                (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)) if keys]
    if problems:
        raise QbsltError(f"{path}: weights do not fit the model its config describes ({'; '.join(problems)})")


class PretrainedModel:
    """Mixin of a ``torch.nn.Module`` built from one config (``self.config``, of ``config_class``)."""

    config_class: type[ModelConfig]
    config: ModelConfig

    def save_pretrained(self, folder: Path | str, tokenizers: Mapping[str, object] | None = None) -> None:
        """Write the model folder ``folder``: weights, config and each of ``tokenizers`` ({folder name:
        a Hugging Face tokenizer}; a folder of that name is replaced)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(folder / WEIGHTS_FILE, self.state_dict())
        self.config.save_pretrained(folder)
        for name, tokenizer in (tokenizers or {}).items():
            target = folder / name
            if target.exists() and not (target / "tokenizer_config.json").is_file():  # never delete what we did not write
                raise QbsltError(f"{target}: exists and is not a tokenizer folder; not replacing it")
            shutil.rmtree(target, ignore_errors=True)
            tokenizer.save_pretrained(str(target))

    @classmethod
    def config_for_loading(cls, config: ModelConfig) -> ModelConfig:
        """The config a stored model is rebuilt from (a model that starts from downloaded weights
        switches that off here)."""
        return config

    @classmethod
    def from_pretrained(cls, folder: Path | str, *, config: ModelConfig | None = None, **hf_kwargs: Any):
        """The model of the folder ``folder`` (written by :meth:`save_pretrained`), in eval mode.

        ``config``: the folder's config, already read (``transformers.AutoModel.from_pretrained`` reads
        it first); None: read here. ``hf_kwargs``: only the bookkeeping that ``AutoModel`` passes along
        (:data:`HF_BOOKKEEPING_KWARGS`); any other keyword is a TypeError, not silently ignored."""
        unsupported = sorted(set(hf_kwargs) - HF_BOOKKEEPING_KWARGS)
        if unsupported:
            raise TypeError(f"{cls.__name__}.from_pretrained: unsupported keyword(s) {', '.join(unsupported)}")
        folder = Path(folder)
        for name in (cls.config_class.CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise QbsltError(f"{folder}: not a model folder ({name} missing)")
        if config is None:
            config = cls.config_class.from_pretrained(folder)
        elif not isinstance(config, cls.config_class):
            raise TypeError(f"{cls.__name__}.from_pretrained: config must be a {cls.config_class.__name__}, "
                            f"got {type(config).__name__}")
        model = cls(cls.config_for_loading(config))
        state = load_weights(folder / WEIGHTS_FILE)
        check_fits(model, state, folder / WEIGHTS_FILE)
        model.load_state_dict(state)
        return model.eval()


__all__ = ["HF_BOOKKEEPING_KWARGS", "PretrainedModel", "WEIGHTS_FILE", "check_fits", "load_weights", "save_weights"]
