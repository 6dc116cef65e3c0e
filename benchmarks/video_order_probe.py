"""Does a trained model read the order of its video? The "position signal" suspect of the realtext
recipe (docs/model-choices.md): the Video Encoder's learned positions start small next to the
video tokens, so the tokens might reach the decoder as a bag. Decodes a split three times with
each trained model of a profile's DAG and prints BLEU-4:

- as trained;
- with every video's frames in reverse order (what the temporal blocks and positions see is
  reversed; the content is the same);
- with the Video Encoder's position table zeroed (order then comes from the temporal blocks alone).

It also prints the mean norm of the position rows the encoder uses and of the fused tokens they
are added to. A model that scores the same reversed reads its video as a bag of signs.

    python benchmarks/video_order_probe.py --profile realtext --variants sign_only qb_concat [--split test]

Run it where the profile's DAG has written models/<profile>/<dataset>/<variant>/seed<seed>.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from qbslt import config
from qbslt.data.datasets import get_dataset
from qbslt.eval.metrics import corpus_scores
from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
from qbslt.ssl_ssaw.run import RunInputs, load_split, make_collator, predict
from qbslt.training.tokenizer import load_tokenizer


def bleu4(model, data, decoder_tok, text_tok, level, ev) -> float:
    hyps, _ = predict(model, data, make_collator(data, decoder_tok, text_tok), decoder_tok, level,
                      ev["batch_size"] or 32, ev["num_beams"], ev["max_new_tokens"])
    return round(corpus_scores(hyps, data.translations, level)["bleu4"], 2)


@torch.no_grad()
def norms(model: QBSLTModel, data, decoder_tok, text_tok, n: int = 64) -> tuple[float, float]:
    """Mean L2 norm of the fused encoder-input tokens (valid positions) and of the position rows
    added to them (mBART's learned table, offset 2), over the first ``n`` examples."""
    batch = make_collator(data, decoder_tok, text_tok)(list(range(min(n, len(data)))))
    captured = {}

    def hook(_module, args, kwargs):
        captured["embeds"], captured["mask"] = kwargs["inputs_embeds"], kwargs["attention_mask"].bool()

    handle = model.video_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    model.encode(batch)
    handle.remove()
    embeds, mask = captured["embeds"], captured["mask"]
    table = model.video_encoder.embed_positions.weight[2:2 + embeds.shape[1]]  # mBART offsets positions by 2
    token_norm = embeds.norm(dim=-1)[mask].mean().item()
    position_norm = table.norm(dim=-1).unsqueeze(0).expand_as(mask)[mask].mean().item()
    return round(token_norm, 3), round(position_norm, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="realtext")
    parser.add_argument("--dataset", default="phoenix")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tree = config.load(args.params, profile=args.profile)
    data_root = Path("data") / tree["profile"]
    level = get_dataset(args.dataset).eval_level
    for variant in args.variants:
        cfg = config.variant_config(tree, variant)
        folder = Path("models") / tree["profile"] / args.dataset / variant / f"seed{args.seed}"
        model = QBSLTModel.from_pretrained(folder).eval()
        decoder_tok, text_tok = load_tokenizer(folder / "tokenizer"), load_tokenizer(folder / "text_tokenizer")
        inputs = RunInputs(args.dataset, data_root / "examples" / args.dataset,
                           data_root / "features" / args.dataset / cfg["model"]["backbone"],
                           data_root / "tokenizers" / args.dataset / "mbart",
                           data_root / "tokenizers" / args.dataset / cfg["model"]["text_model"],
                           tuple(tree["data"]["frame_size"]))
        data = load_split(inputs, args.split, cfg, decoder_tok, text_tok)
        ev = cfg["eval"]
        line = {"variant": variant, "seed": args.seed, "split": args.split,
                "bleu4": bleu4(model, data, decoder_tok, text_tok, level, ev)}
        line["token_norm"], line["position_norm"] = norms(model, data, decoder_tok, text_tok)
        reversed_data = dataclasses.replace(data, frame_rows=[rows[::-1].copy() for rows in data.frame_rows])
        line["reversed_frames_bleu4"] = bleu4(model, reversed_data, decoder_tok, text_tok, level, ev)
        positions = model.video_encoder.embed_positions.weight
        saved = positions.detach().clone()
        with torch.no_grad():
            positions.zero_()
        line["no_positions_bleu4"] = bleu4(model, data, decoder_tok, text_tok, level, ev)
        with torch.no_grad():
            positions.copy_(saved)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
