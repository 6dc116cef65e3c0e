"""Early stopping on dev (train.stage2.patience): a budget that cannot favour a row."""

from __future__ import annotations

import math

import pytest
import torch

from qbslt.training.loop import FitResult, evaluations_since_best, fit
from test_training import _regression_problem, _train_cfg

STAGE = {"epochs": 10, "batch_size": 4, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "warmup_steps": 0}


def _scripted(scores):
    calls = []

    def evaluate(model):
        calls.append(1)
        return scores[len(calls) - 1]

    return evaluate, calls


@pytest.mark.parametrize("history, since", [
    ([], None),
    ([{"epoch": 1}], None),
    ([{"epoch": 1, "dev_score": 1.0}], 0),
    ([{"epoch": 1, "dev_score": 2.0}, {"epoch": 2, "dev_score": 1.0}, {"epoch": 3, "dev_score": 2.0}], 2),  # first best
    ([{"epoch": 2, "dev_score": 1.0}, {"epoch": 4, "dev_score": 3.0}], 0),
])
def test_evaluations_since_best(history, since):
    assert evaluations_since_best(history) == since


def test_stops_after_patience_evaluations_without_improvement(tmp_path):
    Regression, rows, n = _regression_problem()
    evaluate, calls = _scripted([1.0, 2.0, 5.0, 4.0, 5.0, 3.0, 9.0, 9.0, 9.0, 9.0])
    result = fit(Regression(), rows, n, "regression", {**STAGE, "eval_every": 1, "patience": 3}, _train_cfg(), {}, 0,
                 tmp_path, torch.device("cpu"), evaluate=evaluate)
    # best 5.0 at epoch 3 (the later 5.0 is no improvement), then 3 evaluations without: stop after epoch 6
    assert len(calls) == 6 and result.epochs == 6 and result.best_epoch == 3 and result.best_score == 5.0
    budget = result.budget()
    assert budget == {"cap": 10, "patience": 3, "min_epochs": 0, "epochs_run": 6, "best_epoch": 3, "stopped": "early",
                      "still_improving": False,
                      "dev_curve": [[1, 1.0], [2, 2.0], [3, 5.0], [4, 4.0], [5, 5.0], [6, 3.0]]}


def test_a_run_still_improving_at_the_cap_is_flagged(tmp_path):
    Regression, rows, n = _regression_problem()
    evaluate, calls = _scripted([1.0, 2.0, 3.0, 2.5, 2.0])
    result = fit(Regression(), rows, n, "regression", {**STAGE, "epochs": 10, "eval_every": 2, "patience": 3},
                 _train_cfg(), {}, 0, tmp_path, torch.device("cpu"), evaluate=evaluate)
    # evaluations at 2, 4, 6, 8, 10: best at 6 is among the last 3 evaluations when the cap is hit
    assert len(calls) == 5 and result.epochs == 10 and result.best_epoch == 6
    assert result.budget()["stopped"] == "cap" and result.still_improving
    assert not FitResult(epochs=10, best_epoch=2, best_score=3.0, train_seconds=1, samples_seen=1, cap=10, patience=3,
                         history=[{"epoch": e, "dev_score": s} for e, s in ((2, 3.0), (4, 1), (6, 1), (8, 1))]
                         ).still_improving


def test_the_cap_alone_evaluates_at_its_last_epoch_only_when_patience_is_off(tmp_path):
    """patience null: the earlier behaviour (eval_every >= epochs: no dev pass at all)."""
    Regression, rows, n = _regression_problem()
    evaluate, calls = _scripted([1.0])
    result = fit(Regression(), rows, n, "regression", {**STAGE, "epochs": 3, "eval_every": 3, "patience": None},
                 _train_cfg(), {}, 0, tmp_path, torch.device("cpu"), evaluate=evaluate)
    assert calls == [] and result.epochs == 3 and result.best_epoch == 3 and result.budget()["stopped"] == "cap"


def test_a_stopped_run_resumes_as_stopped_with_the_same_weights(tmp_path):
    """A rerun of a run that stopped early trains no further and ends with the same weights and budget."""
    Regression, rows, n = _regression_problem()
    scores = [1.0, 2.0, 1.0, 1.0, 5.0, 5.0]
    stage = {**STAGE, "eval_every": 1, "patience": 2}
    first = Regression()
    evaluate, calls = _scripted(scores)
    result = fit(first, rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path, torch.device("cpu"),
                 evaluate=evaluate)
    assert result.epochs == 4 and result.stopped_early
    again = Regression()
    evaluate, calls = _scripted(scores)
    rerun = fit(again, rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path, torch.device("cpu"),
                evaluate=evaluate)
    assert calls == [] and rerun.budget() == result.budget()
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_patience_is_validated(tmp_path):
    from qbslt import config
    from qbslt.errors import ConfigError

    tree = config.load("params.yaml")
    tree["train"]["stage2"]["patience"] = 0
    with pytest.raises(ConfigError, match="patience"):
        config.validate(tree)


def test_reliance_table_shows_each_rows_budget(tmp_path):
    from qbslt.reports.reliance import render_reliance

    def run(best, ran, stopped, improving):
        split = {"bleu4": 10.0, "shuffled_video": {"bleu4": 2.0}}
        return {"dev": split, "test": split, "budget": {"cap": 20, "patience": 3, "epochs_run": ran, "best_epoch": best,
                                                        "stopped": stopped, "still_improving": improving,
                                                        "dev_curve": []}}

    metrics = {("phoenix", "sign_only"): {0: run(7, 10, "early", False), 1: run(19, 20, "cap", True)},
               ("phoenix", "old"): {0: {"dev": {"bleu4": 1.0, "shuffled_video": {"bleu4": 1.0}},
                                        "test": {"bleu4": 1.0, "shuffled_video": {"bleu4": 1.0}}}}}
    md, csv = render_reliance(metrics, tmp_path)
    text = md.read_text()
    assert "| phoenix | sign_only | 0 1 | 20 | 3 | 7 19 | 10 20 | 1 / 2 | 1 / 2 |" in text
    assert "| phoenix | old | 0 |" not in text.split("Training budget")[1]  # no record: no budget row
    import pandas as pd

    frame = pd.read_csv(csv).set_index("variant")
    assert frame.loc["sign_only", "still_improving"] == 1 and frame.loc["sign_only", "epochs_run"] == "10 20"
    assert "min_delta" not in text  # no run set it: the caption as it was
    metrics[("phoenix", "sign_only")][1]["budget"]["min_delta"] = 0.5
    md, _ = render_reliance(metrics, tmp_path)
    assert "more than train.stage2.min_delta = 0.5 dev BLEU-4 points" in md.read_text()


@pytest.mark.parametrize("k, patience, min_epochs, min_delta", [
    (1, 1, 0, 0.0), (1, 3, 0, 0.0), (2, 2, 0, 0.0), (3, 1, 0, 0.0), (4, 5, 0, 0.0), (1, 1, 6, 0.0), (2, 1, 8, 0.0),
    (1, 2, 0, 0.5), (1, 3, 0, 0.5), (2, 2, 0, 0.4), (1, 3, 0, 1.0), (1, 4, 0, 0.3), (1, 2, 0, 0.1), (2, 2, 4, 0.25)])
def test_budget_choice_replays_fit_exactly(tmp_path, monkeypatch, k, patience, min_epochs, min_delta):
    """benchmarks/budget_choice.py chooses k and P by replaying per-epoch dev curves: its stopping
    epoch, kept score and 'still improving' must be those of fit itself."""
    import importlib.util
    from pathlib import Path

    import qbslt.training.loop as loop

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "budget_choice.py"
    spec = importlib.util.spec_from_file_location("budget_choice", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    curve = [1.0, 3.0, 2.0, 2.5, 3.0, 4.0, 3.5, 3.9, 3.2, 3.1, 4.2, 4.0]
    if min_delta:  # a curve of small gains, where a minimum gain decides when the run stops
        curve = [1.0, 2.0, 2.2, 2.3, 2.35, 2.9, 2.92, 2.95, 3.0, 3.6, 3.62, 3.65]
    trained = []  # epochs started (0-based), so that the dev score is the curve at the epoch just trained
    original = loop.epoch_batches
    monkeypatch.setattr(loop, "epoch_batches", lambda *a, **kw: trained.append(a[3]) or original(*a, **kw))
    Regression, rows, n = _regression_problem()
    stage = {**STAGE, "epochs": len(curve), "eval_every": k, "patience": patience, "min_epochs": min_epochs,
             **({"min_delta": min_delta} if min_delta else {})}
    result = fit(Regression(), rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path, torch.device("cpu"),
                 evaluate=lambda model: curve[trained[-1]])
    replayed = module.replay({e + 1: s for e, s in enumerate(curve)}, len(curve), k, patience, min_epochs, min_delta)
    assert replayed["run"] == result.epochs and replayed["best"] == result.best_score
    assert replayed["improving"] == result.still_improving
    assert result.budget().get("min_delta") == (min_delta or None)  # recorded only when set


def test_no_early_stop_before_min_epochs(tmp_path):
    """Dev can stall early in training (a model that still writes one sentence): min_epochs keeps a run
    from stopping there."""
    Regression, rows, n = _regression_problem()
    scores = [5.0, 1.0, 1.0, 1.0, 6.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    stage = {**STAGE, "eval_every": 1, "patience": 2}
    evaluate, calls = _scripted(scores)
    early = fit(Regression(), rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path / "a", torch.device("cpu"),
                evaluate=evaluate)
    assert early.epochs == 3 and early.best_epoch == 1  # stalled after epoch 1: stopped at 3
    evaluate, calls = _scripted(scores)
    result = fit(Regression(), rows, n, "regression", {**stage, "min_epochs": 5}, _train_cfg(), {}, 0, tmp_path / "b",
                 torch.device("cpu"), evaluate=evaluate)
    assert result.epochs == 7 and result.best_epoch == 5 and result.budget()["min_epochs"] == 5


def _budget_choice():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "budget_choice.py"
    spec = importlib.util.spec_from_file_location("budget_choice", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_choice_min_delta_counts_only_gains_above_it():
    """The what-if rule: gains of D or less are no improvement (the run stops on them), the dev-best
    weights are still the ones kept, and 'still improving' at the cap needs a gain above D."""
    replay = _budget_choice().replay
    curve = {1: 10.0, 2: 10.3, 3: 10.4, 4: 10.45, 5: 12.0, 6: 12.2}
    assert replay(curve, 6, 1, 2, min_delta=0.0) == {"run": 6, "best": 12.2, "evaluations": 6, "improving": True}
    # +0.3, +0.1: no gain above 0.5 in 2 evaluations after epoch 1 -> stop at 3, keeping the best (10.4)
    assert replay(curve, 6, 1, 2, min_delta=0.5) == {"run": 3, "best": 10.4, "evaluations": 3, "improving": False}
    # gains are counted from the last counted improvement (10.0 at epoch 1), not from each small step:
    # P 3 stops at epoch 4; with P 4 the gain of epoch 5 (+2.0) counts and, 1 evaluation back, is "improving"
    assert replay(curve, 6, 1, 3, min_delta=0.5)["run"] == 4
    assert replay(curve, 6, 1, 4, min_delta=0.5) == {"run": 6, "best": 12.2, "evaluations": 6, "improving": True}
    assert replay(curve, 6, 1, 3, min_delta=2.0) == {"run": 4, "best": 10.45, "evaluations": 4, "improving": False}


def test_budget_choice_replays_a_full_runs_recorded_curves(tmp_path, capsys, monkeypatch):
    """--metrics: each run at its own evaluation epochs; a rule that would go on past where a run stopped
    early is unknown, not guessed."""
    import json

    module = _budget_choice()
    runs = {"phoenix/a/seed0": {"cap": 8, "stopped": "early", "dev_curve": [[2, 1.0], [4, 2.0], [6, 1.9], [8, 1.8]]},
            "phoenix/b/seed0": {"cap": 8, "stopped": "early", "dev_curve": [[2, 1.0], [4, 1.2], [6, 1.1]]}}
    runs["phoenix/a/seed0"]["stopped"] = "cap"
    for name, budget in runs.items():
        path = tmp_path / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"budget": budget}))
    monkeypatch.setattr("sys.argv", ["budget_choice.py", "--metrics", str(tmp_path), "--patience", "1", "3",
                                     "--min-delta", "0", "0.5"])
    module.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| own")]
    # P 1, D 0: a stops at 6 (1.9 < 2.0), b at 6; kept 2.0 and 1.2
    assert rows[0] == "| own | 1 | 0 | 1.60 | 0.00 | 6.0 | 3.0 | 0 / 2 |"
    # P 3: b stopped early at 6, so P 3 would evaluate at 8, which it never did
    assert rows[2] == "| own | 3 | 0 | 1 of 2 runs stop beyond their recorded curve | | | | |"


# --- the learning rate's floor (train.stage2.min_lr_ratio, extra_epochs) ------------------------------------------

def _lrs(stage, steps_per_epoch, steps):
    from qbslt.training.loop import learning_rate_schedule
    from qbslt.training.settings import StageSettings

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = learning_rate_schedule(optimizer, StageSettings.of(stage, "stage"), steps_per_epoch)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_default_schedule_is_transformers_cosine_over_the_epochs():
    from transformers import get_cosine_schedule_with_warmup

    stage = {**STAGE, "epochs": 6, "warmup_steps": 3}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = get_cosine_schedule_with_warmup(optimizer, 3, 6 * 5)
    expected = []
    for _ in range(30):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert _lrs(stage, 5, 30) == expected
    assert _lrs({**stage, "min_lr_ratio": 0.0, "extra_epochs": 0}, 5, 30) == expected  # the keys at 0: the same
    # the floor's curve with a floor of ~0 is the same curve
    assert _lrs({**stage, "min_lr_ratio": 1e-300}, 5, 30) == pytest.approx(expected, abs=1e-12)


def test_schedule_decays_to_its_floor_and_stays_there():
    rates = _lrs({**STAGE, "epochs": 4, "warmup_steps": 2, "min_lr_ratio": 0.1, "extra_epochs": 6}, 5, 50)
    assert rates[0] == 0.0 and rates[1] == 0.5 and rates[2] == 1.0  # linear warm-up over 2 steps
    assert all(a >= b for a, b in zip(rates[2:20], rates[3:21]))  # the cosine decays over 4 epochs (20 steps)
    assert rates[10] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 8 / 18)))
    assert rates[20:] == [pytest.approx(0.1)] * 30  # then the floor, to the cap


def test_epochs_after_the_decay_run_while_dev_improves(tmp_path):
    """extra_epochs: a run still improving when the decay ends trains on at the floor until dev stops
    improving (patience); the cap (epochs + extra_epochs) is only a safety net, and the budget records it."""
    Regression, rows, n = _regression_problem()
    evaluate, calls = _scripted([1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 9.0])
    stage = {**STAGE, "epochs": 3, "eval_every": 1, "patience": 2, "min_epochs": 2, "min_lr_ratio": 0.1,
             "extra_epochs": 9}
    result = fit(Regression(), rows, n, "regression", stage, _train_cfg(), {}, 0, tmp_path, torch.device("cpu"),
                 evaluate=evaluate)
    assert len(calls) == 7 and result.epochs == 7 and result.best_epoch == 5 and result.stopped_early
    budget = result.budget()
    assert budget["extra_epochs"] == 9 and budget["min_lr_ratio"] == 0.1 and budget["cap"] == 12
    assert not result.still_improving
    # still improving at the end of the extra epochs: flagged, as at any cap
    evaluate, calls = _scripted([float(i) for i in range(1, 9)])
    result = fit(Regression(), rows, n, "regression", {**stage, "extra_epochs": 5}, _train_cfg(), {}, 0,
                 tmp_path / "again", torch.device("cpu"), evaluate=evaluate)
    assert result.epochs == 8 and result.budget()["stopped"] == "cap" and result.still_improving


@pytest.mark.parametrize("stage2, key", [
    ({"extra_epochs": 10, "min_lr_ratio": 0.0}, "train.stage2.min_lr_ratio"),
    ({"extra_epochs": 10, "min_lr_ratio": 0.1, "patience": None}, "train.stage2.extra_epochs"),
])
def test_extra_epochs_without_a_floor_or_early_stopping_are_refused(stage2, key):
    import yaml

    from qbslt import config
    from qbslt.errors import ConfigError

    raw = yaml.safe_load(open("params.yaml"))
    raw["train"]["stage2"].update(stage2)
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        config.resolve(raw)


def test_a_variant_schedule_that_does_not_fit_is_refused():
    import yaml

    from qbslt import config
    from qbslt.errors import ConfigError

    raw = yaml.safe_load(open("params.yaml"))
    raw["train"]["stage2"].update(extra_epochs=10, min_lr_ratio=0.1)
    config.resolve(raw)  # the base with extra epochs at a floor is fine
    raw["experiment"]["variants"]["sign_only"]["train"] = {"stage2": {"min_lr_ratio": 0.0}}
    with pytest.raises(ConfigError, match="key 'experiment.variants.sign_only.train.stage2.min_lr_ratio'"):
        config.resolve(raw)


def test_reliance_caption_states_the_floor_where_a_run_set_it(tmp_path):
    from qbslt.reports.reliance import render_reliance

    split = {"bleu4": 10.0, "shuffled_video": {"bleu4": 2.0}}
    budget = {"cap": 36, "patience": 2, "epochs_run": 26, "best_epoch": 22, "stopped": "early",
              "still_improving": False, "dev_curve": []}
    metrics = {("phoenix", "sign_only"): {0: {"dev": split, "test": split, "budget": budget}}}
    md, _ = render_reliance(metrics, tmp_path)
    assert "extra_epochs" not in md.read_text()
    budget.update(extra_epochs=12, min_lr_ratio=0.1)
    md, _ = render_reliance(metrics, tmp_path)
    assert ("over train.stage2.epochs = 24 to lr × train.stage2.min_lr_ratio = 0.1 and stays there for at most "
            "train.stage2.extra_epochs = 12 more") in md.read_text()


def _write_run(root, variant, seed, dev, epochs, improving, test=99.0):
    import json

    path = root / "metrics" / "phoenix" / variant / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dev": {"bleu4": dev}, "test": {"bleu4": test},
                                "budget": {"epochs_run": epochs, "still_improving": improving}}))


def test_compare_budgets_applies_the_stated_rule_on_dev_only(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_budgets.py"
    spec = importlib.util.spec_from_file_location("compare_budgets", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    base, cand = tmp_path / "base", tmp_path / "cand"
    for seed, dev in enumerate([20.0, 21.0]):
        _write_run(base, "ssl_ssaw", seed, dev, 24, seed == 0)
    _write_run(base, "sign_only", 0, 18.0, 20, False)
    (base / "metrics" / "phoenix" / "gloss").mkdir()  # a reference system: no budget, not a trained run
    _write_run(cand, "ssl_ssaw", 0, 20.3, 28, False, test=0.0)  # test is never read
    _write_run(cand, "ssl_ssaw", 1, 20.5, 30, False)
    _write_run(cand, "sign_only", 0, 17.6, 22, False)
    runs = module.compare(module.read_runs(base), module.read_runs(cand), 0.25)
    assert runs["runs"] == 3 and runs["baseline_improving"] == 1 and runs["candidate_improving"] == 0
    assert runs["baseline_dev"] == pytest.approx(59 / 3) and runs["candidate_dev"] == pytest.approx(58.4 / 3)
    assert runs["adopt"]  # 0.2 less on average, within 0.25, none still improving
    assert not module.compare(module.read_runs(base), module.read_runs(cand), 0.1)["adopt"]
    _write_run(cand, "sign_only", 0, 19.0, 36, True)  # better, but a run still improving at its cap
    assert not module.compare(module.read_runs(base), module.read_runs(cand), 0.25)["adopt"]
    row = {r["variant"]: r for r in runs["rows"]}["ssl_ssaw"]
    assert row["seeds"] == 2 and row["candidate_epochs"] == 29 and row["baseline_improving"] == 1


def test_floor_schedule_resumes_from_a_checkpoint(tmp_path):
    """The schedule's state goes through last.pt (weights_only load) and continues the same curve."""
    from qbslt.training.checkpoint import load_checkpoint, save_checkpoint
    from qbslt.training.loop import learning_rate_schedule
    from qbslt.training.settings import StageSettings

    stage = StageSettings.of({**STAGE, "epochs": 4, "warmup_steps": 2, "min_lr_ratio": 0.1, "extra_epochs": 6}, "stage")

    def schedule():
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return optimizer, learning_rate_schedule(optimizer, stage, 5)

    optimizer, scheduler = schedule()
    rates = []
    for step in range(40):
        if step == 13:
            save_checkpoint(tmp_path / "last.pt", {"run_config": {}, "optimizer": optimizer.state_dict(),
                                                   "scheduler": scheduler.state_dict()})
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    state = load_checkpoint(tmp_path / "last.pt", {})
    optimizer, scheduler = schedule()
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    resumed = []
    for _ in range(13, 40):
        resumed.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert resumed == rates[13:]


def test_cap_gains_counts_runs_still_improving_at_their_cap(tmp_path, monkeypatch, capsys):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "cap_gains.py"
    spec = importlib.util.spec_from_file_location("cap_gains", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def write(seed, stopped, improving, curve):
        path = tmp_path / "embedded" / "metrics" / "phoenix" / "ssl_ssaw" / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"budget": {"stopped": stopped, "still_improving": improving, "patience": 2,
                                               "dev_curve": curve}}))

    write(0, "early", False, [[2, 1.0], [4, 3.0], [6, 2.0], [8, 2.5]])
    monkeypatch.setattr(sys, "argv", ["cap_gains.py", "--results", str(tmp_path)])
    module.main()
    assert "none of 1 trained runs reached the cap" in capsys.readouterr().out
    write(1, "cap", True, [[2, 1.0], [4, 3.0], [6, 2.0], [8, 3.5]])
    module.main()
    out = capsys.readouterr().out
    assert "1 of 2 trained runs reached the cap" in out and "median 0.50 dev BLEU-4" in out  # 3.5 over 3.0
