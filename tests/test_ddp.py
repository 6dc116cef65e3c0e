"""Training under torchrun (DistributedDataParallel) equals training on one process.

Two CPU processes (gloo, loopback only) run ``fit`` on the tiny prepared data; one process runs it
with the same global batch. The per-epoch losses, the final weights and the scheduler's step count
must agree. Differences that DDP cannot remove are kept out of the tiny model: no BatchNorm
(``temporal_blocks=0``, no ``input_norm``: per-rank batch statistics), no dropout (each rank draws its
own masks), and every example's texts cut to one length (the decoder losses are token means over the
batch, and DDP, like micro-batches, weights the ranks' means by their examples).
"""

import copy
import dataclasses
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from qbslt import config
from qbslt.training.batches import rank_share
from qbslt.training.checkpoint import load_checkpoint
from qbslt.training.settings import TrainSettings

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(tiny: dict, objective: str, micro, alignment: str = "vector"):
    """(model, collator, n_train, stage settings, train settings): the tiny model and data of ``objective``."""
    from qbslt.ssl_ssaw.modeling_ssl_ssaw import QBSLTModel
    from qbslt.training.augment import VideoAugment
    from qbslt.ssl_ssaw.run import RunInputs, load_split, make_collator, run_model_config
    from qbslt.training.tokenizer import load_tokenizer

    cfg = copy.deepcopy(tiny["params"])
    cfg = config.stage1_config(cfg) if objective == "pretrain" else cfg
    cfg["model"].update(temporal_blocks=0, input_norm=False, dropout=0.0, alignment=alignment)
    inputs = RunInputs("phoenix", tiny["examples"], tiny["features"], tiny["tokenizer"], tiny["tokenizer"],
                       frame_size=(16, 16))
    tok = load_tokenizer(tiny["tokenizer"])
    data = load_split(inputs, "train", cfg, tok, tok)
    cut = lambda seqs, n, keep_last: [s[:n - 1] + s[-1:] if keep_last else s[:n] for s in seqs]  # noqa: E731
    short = min(len(s) for s in data.label_ids + data.text_ids)
    data = dataclasses.replace(data, text_ids=cut(data.text_ids, short, True),
                               label_ids=cut(data.label_ids, short, True),
                               question_dec_ids=cut(data.question_dec_ids, min(map(len, data.question_dec_ids)), False))
    stage = "stage1" if objective == "pretrain" else "stage2"
    mask_prob = cfg["train"]["stage1"]["mask_prob"] if objective == "pretrain" else 0.0
    collator = make_collator(data, tok, tok, mask_prob, VideoAugment(), training=True)
    torch.manual_seed(0)
    model = QBSLTModel(run_model_config(cfg, inputs, tok, tok))
    stage_cfg = {**cfg["train"][stage], "epochs": 2, "eval_every": 1, "warmup_steps": 1}
    train_cfg = {**cfg["train"], "compile": False, "precision": "fp32", "workers": 0, "grad_clip": 1.0,
                 "micro_batch_size": micro, "checkpoint_seconds": 0}
    return model, collator, len(data), stage_cfg, train_cfg


def _fit(tiny, objective, batch_size, n_train, micro, out, alignment="vector"):
    from qbslt.training.loop import fit

    model, collator, n, stage_cfg, train_cfg = _setup(tiny, objective, micro, alignment)
    stage_cfg["batch_size"] = batch_size
    result = fit(model, collator, n_train or n, objective, stage_cfg, TrainSettings.from_dict(train_cfg, "train"),
                 {"test": objective}, 0, out,
                 torch.device("cpu"))
    return model, result


def _worker(rank: int, port: int, tiny: dict, objective: str, batch_size: int, n_train, micro, out,
            alignment) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from qbslt.training.loop import distributed, init_distributed, seed_everything

    init_distributed()
    try:
        assert distributed() == (rank, WORLD)
        seed_everything(0)
        model, result = _fit(tiny, objective, batch_size, n_train, micro, out / "ck", alignment)
        if rank == 0:
            torch.save({"history": result.history, "samples": result.samples_seen,
                        "weights": {k: v.detach().clone() for k, v in model.state_dict().items()}}, out / "result.pt")
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def _compare(tiny_prepared, tmp_path, objective, batch_size, n_train=None, micro=None, alignment="vector"):
    from qbslt.training.loop import seed_everything

    mp.spawn(_worker, args=(_free_port(), tiny_prepared, objective, batch_size, n_train, micro, tmp_path / "ddp",
                            alignment),
             nprocs=WORLD, join=True)
    ddp = torch.load(tmp_path / "ddp" / "result.pt")
    seed_everything(0)
    model, result = _fit(tiny_prepared, objective, batch_size, n_train, None, tmp_path / "one", alignment)
    n = n_train or len(_setup(tiny_prepared, objective, None)[1].data)
    steps = 2 * -(-n // batch_size)
    for run in (tmp_path / "ddp" / "ck", tmp_path / "one"):
        assert load_checkpoint(run / "last.pt", {"test": objective})["scheduler"]["last_epoch"] == steps
    assert ddp["samples"] == result.samples_seen == 2 * n
    assert [set(h) for h in ddp["history"]] == [set(h) for h in result.history]
    for mine, one in zip(ddp["history"], result.history):
        assert mine == pytest.approx(one, abs=3e-5)
    own = model.state_dict()
    assert set(ddp["weights"]) == set(own)
    for key, value in own.items():
        assert torch.allclose(ddp["weights"][key], value, atol=1e-5), key
    return result


def test_rank_shares_cut_the_batch_in_order():
    for n in range(0, 12):
        for world in (1, 2, 3, 4):
            parts = [rank_share(n, r, world) for r in range(world)]
            assert [i for p in parts for i in range(n)[p]] == list(range(n))
            sizes = [p.stop - p.start for p in parts]
            assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("alignment", ["vector", "video_to_text"])
def test_stage1_contrastive_sees_the_whole_global_batch(tiny_prepared, tmp_path, alignment):
    """Eq. 1 over the gathered batch: 24 examples in global batches of 7 (shares of 4 and 3, 2 and 1)."""
    result = _compare(tiny_prepared, tmp_path, "pretrain", 7, alignment=alignment)
    assert {"l_sim", "l_rec"} <= set(result.history[0])


def test_stage2_translation_with_a_ghost_pass_and_micro_batches(tiny_prepared, tmp_path):
    """17 examples in global batches of 8: the last batch has one example, so rank 1 runs a ghost
    pass; micro-batches of 2 split each share of 4 into passes."""
    _compare(tiny_prepared, tmp_path, "translation", 8, n_train=17, micro=2)
