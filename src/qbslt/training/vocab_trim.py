"""Vocabulary trimming for pretrained mBART (paper profile), as GFSLT-VLP does.

mBART-cc25 has a 250k-token vocabulary, of which a sign-language corpus uses a few thousand.
Trimming keeps the embedding rows (and the tied output layer) of the tokens the corpus uses
plus the special tokens, which shrinks the model and the softmax by two orders of magnitude.

The pretrained tokenizer itself is kept unchanged; :class:`TrimmedTokenizer` maps its ids to
the kept rows (``keep``: old id of each new id) and back, exposing the small part of the
tokenizer API the pipeline uses. A token outside ``keep`` becomes ``<unk>``. ``keep.json`` next
to the saved tokenizer records the mapping; :func:`qbslt.training.tokenizer.load_tokenizer`
restores the wrapper, and :func:`trim_embeddings` slices a loaded model to match.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

KEEP_FILE = "keep.json"


class TrimmedTokenizer:
    """A pretrained tokenizer restricted to the ids in ``keep`` (renumbered 0..len(keep)-1)."""

    def __init__(self, base, keep: list[int]):
        self.base, self.keep = base, list(keep)
        self.new_id = {old: new for new, old in enumerate(self.keep)}

    def _to_new(self, old: int | None) -> int | None:
        return None if old is None else self.new_id.get(old, self.new_id.get(self.base.unk_token_id))

    def __len__(self) -> int:
        return len(self.keep)

    @property
    def name_or_path(self) -> str:
        return self.base.name_or_path

    def __getattr__(self, name: str):
        # pad_token_id, eos_token_id, ...: the base tokenizer's special ids in the new numbering.
        if name.endswith("_token_id") and name != "unk_token_id":
            return self._to_new(getattr(self.base, name))
        if name == "unk_token_id":
            return self.new_id.get(self.base.unk_token_id)
        raise AttributeError(name)

    @property
    def all_special_ids(self) -> list[int]:
        return [self.new_id[i] for i in self.base.all_special_ids if i in self.new_id]

    def __call__(self, texts, add_special_tokens: bool = False) -> dict:
        ids = self.base(texts, add_special_tokens=add_special_tokens)["input_ids"]
        return {"input_ids": [[self._to_new(i) for i in row] for row in ids]}

    def convert_tokens_to_ids(self, token: str) -> int:
        return self._to_new(self.base.convert_tokens_to_ids(token))

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return self.base.convert_ids_to_tokens([self.keep[i] for i in ids])

    def decode(self, ids: list[int], **kwargs) -> str:
        return self.base.decode([self.keep[i] for i in ids], **kwargs)

    def get_vocab(self) -> dict[str, int]:
        return {t: self.new_id[i] for t, i in self.base.get_vocab().items() if i in self.new_id}

    def save_pretrained(self, path: str) -> None:
        self.base.save_pretrained(path)
        (Path(path) / KEEP_FILE).write_text(json.dumps(self.keep))


def used_ids(tokenizer, texts: list[str]) -> list[int]:
    """Sorted ids the texts use, plus every special and added token (language codes, <q>)."""
    ids = {i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row}
    ids |= set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    return sorted(ids)


def trim_model(seq2seq, keep: list[int]) -> None:
    """Slice an ``MBartForConditionalGeneration`` to the rows ``keep`` in place, through its own
    ``set_input_embeddings`` (shared table, encoder and decoder) and re-tied output layer."""
    index = torch.tensor(keep, dtype=torch.long)
    old = seq2seq.get_input_embeddings()
    new = type(old)(len(keep), old.embedding_dim, old.padding_idx if old.padding_idx is None else
                    keep.index(old.padding_idx), **({"embed_scale": old.embed_scale} if hasattr(old, "embed_scale")
                                                    else {}))
    new.weight.data = old.weight.data[index].clone()
    seq2seq.set_input_embeddings(new)
    seq2seq.final_logits_bias = seq2seq.final_logits_bias[:, index].clone()
    seq2seq.config.vocab_size = len(keep)
    output = torch.nn.Linear(old.embedding_dim, len(keep), bias=False)
    output.weight = new.weight  # mBART ties the output layer to the token table
    seq2seq.set_output_embeddings(output)
