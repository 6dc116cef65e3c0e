"""The realtext profile: real PHOENIX-2014T-QA texts, video rendered from their glosses.

Unit tests of the raw-data step (local files verified, download fallback, subset), and one
end-to-end run of the DAG under ``profile=realtext`` on a few hundred real samples.
"""

import hashlib
import json
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO
from qbslt import config
from qbslt.data.download import DownloadError
from qbslt.data.realtext import CORPUS_NAME, locate_texts, prepare_realtext
from qbslt.eval.metrics import corpus_scores
from test_workflow import dvc_outputs, fresh_checkout, planned_jobs, run, snakemake, write_params

SPLITS = ("train", "dev", "test")


def realtext_params(shared_data, subset=None) -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["profile"] = "realtext"
    raw["data"]["sources"]["realtext"]["local_dir"] = str(shared_data / "phoenix-2014t-qa")
    raw["data"]["sources"]["realtext"]["subset"] = subset
    return raw


def test_local_texts_are_verified_against_the_pinned_checksums(shared_data, tmp_path):
    sources = config.resolve(realtext_params(shared_data))["data"]["sources"]
    qa, corpus = locate_texts(sources, tmp_path / "download", progress=False)
    assert sorted(qa) == sorted(corpus) == sorted(SPLITS)
    assert not (tmp_path / "download").exists()  # nothing downloaded

    # A local copy that is not the published file fails, naming the file.
    bad = tmp_path / "local"
    bad.mkdir()
    for path in [*qa.values(), *corpus.values()]:
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "dev.txt").write_text("dev/x a%b%C")
    sources["realtext"]["local_dir"] = str(bad)
    with pytest.raises(DownloadError, match=r"dev\.txt: sha256 .* is not the pinned"):
        locate_texts(sources, tmp_path / "download", progress=False)


def test_missing_local_dir_downloads_the_pinned_files(shared_data, tmp_path):
    """No local folder: the QA and corpus files come from the pinned URLs, checksums checked."""
    raw = realtext_params(shared_data)
    raw["data"]["sources"]["realtext"]["local_dir"] = str(tmp_path / "absent")
    # A file:// mirror of the pinned GBT-code layout stands in for raw.githubusercontent.com.
    mirror = tmp_path / "mirror"
    qa_spec, corpus_spec = raw["data"]["sources"]["qa"]["phoenix"], raw["data"]["sources"]["realtext"]["corpus"]
    for split in SPLITS:
        for spec, name in ((qa_spec, f"{split}.txt"), (corpus_spec, CORPUS_NAME.format(split=split))):
            target = mirror / spec[split]["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((shared_data / "phoenix-2014t-qa" / name).read_bytes())
    raw["data"]["sources"]["qa"]["url"] = f"file://{mirror}/{{path}}"
    sources = config.resolve(raw)["data"]["sources"]
    qa, corpus = locate_texts(sources, tmp_path / "download", progress=False)
    for split in SPLITS:
        assert hashlib.sha256(qa[split].read_bytes()).hexdigest() == qa_spec[split]["sha256"]
        assert hashlib.sha256(corpus[split].read_bytes()).hexdigest() == corpus_spec[split]["sha256"]
        assert tmp_path / "download" in qa[split].parents


def test_subset_renders_the_first_rows_from_their_real_glosses(shared_data, tmp_path):
    raw = realtext_params(shared_data, subset={"train": 6, "dev": 3, "test": 3})
    raw["data"]["frame_size"] = [16, 16]
    data = config.resolve(raw)["data"]
    manifest = prepare_realtext("phoenix", data, tmp_path / "raw", progress=False)
    assert manifest["profile"] == "realtext"
    assert {s: c["qa_rows"] for s, c in manifest["counts"].items()} == {"train": 6, "dev": 3, "test": 3}
    first = (shared_data / "phoenix-2014t-qa" / "dev.txt").read_text(encoding="utf-8").splitlines()[:3]
    assert (tmp_path / "raw" / "qa" / "dev.txt").read_text(encoding="utf-8") == "\n".join(first)
    with pytest.raises(ValueError, match="CSL-Daily-QA has no public train split"):
        prepare_realtext("csl", data, tmp_path / "csl", progress=False)


@pytest.mark.e2e
def test_realtext_profile_end_to_end(shared_data, tmp_path):
    """A few hundred real samples through the whole DAG: words out, BLEU recomputable."""
    work = fresh_checkout(tmp_path)
    params = realtext_params(shared_data, subset={"train": 160, "dev": 40, "test": 40})
    realtext = params["overrides"]["realtext"]
    realtext["sigma"] = {"finetune": {"epochs": 1}}
    realtext["slslr"]["seeds"] = [0]  # one SL-SLR seed is enough to check the words and tables
    realtext["data"]["frame_size"] = [16, 16]
    realtext["model"].update(d_model=32, ffn_dim=64, contrastive_dim=32, subword_vocab_size=300)
    realtext["train"]["stage1"].update(epochs=1)
    realtext["train"]["stage2"].update(epochs=1, eval_every=1)
    realtext["eval"] = {"max_new_tokens": 24, "num_beams": 2, "bootstrap_samples": 50}
    realtext["experiment"]["datasets"]["phoenix"] = ["sign_only", "question_only", "ssl_ssaw", "gloss_text"]
    realtext["experiment"]["variant_seeds"] = {}  # one seed each: the machinery, not the comparison
    params["profile"] = "embedded"  # the profile is chosen on the command line, as the README shows
    write_params(work, params)
    run(["git", "commit", "-qam", "tiny realtext params"], work)

    snakemake(work, "--config", "profile=realtext")
    out = work / "results" / "realtext"
    assert not (work / "results" / "embedded").exists()  # the embedded default's paths are untouched
    # What DVC would track under this profile is what Snakemake wrote.
    missing = [path for path in dvc_outputs("realtext") if not (work / path).exists()]
    assert not missing, missing
    for variant in ("sign_only", "question_only", "ssl_ssaw", "copy_question", "retrieve"):
        metrics = json.loads((out / "metrics" / "phoenix" / variant / "seed0.json").read_text())
        predictions = pd.read_csv(out / "predictions" / "phoenix" / variant / "seed0.tsv", sep="\t",
                                  dtype=str, keep_default_na=False)
        assert len(predictions) == 40
        text = " ".join(predictions["hypothesis"])
        assert "▁" not in text and "##" not in text and "<" not in text
        recomputed = corpus_scores(list(predictions["hypothesis"]), list(predictions["reference"]), "word")
        assert recomputed["bleu4"] == pytest.approx(metrics["test"]["bleu4"], abs=0.006)
        assert recomputed["rouge_l"] == pytest.approx(metrics["test"]["rouge_l"], abs=0.006)
    # The real glosses as text (the text reference) and the input-reliance check of every trained run.
    reliance = pd.read_csv(out / "tables" / "reliance.csv")
    assert set(reliance["variant"]) == {"sign_only", "question_only", "ssl_ssaw", "gloss_text"}
    gloss = json.loads((out / "metrics" / "phoenix" / "gloss_text" / "seed0.json").read_text())
    assert set(gloss["dev"]["shuffled_video"]) == {"bleu4"} and "shuffled_question" not in gloss["dev"]
    assert (work / "models" / "realtext" / "phoenix" / "gloss_text" / "seed0" / "gloss_tokenizer").is_dir()
    # `qbslt translate` with a realtext model prints words too.
    row = pd.read_csv(out / "predictions" / "phoenix" / "ssl_ssaw" / "seed0.tsv", sep="\t", dtype=str,
                      keep_default_na=False).iloc[0]
    frames = next((work / "data" / "realtext" / "raw" / "phoenix").glob(f"**/test/{row['name']}"))
    printed = run([sys.executable, "-m", "qbslt", "translate", "--checkpoint",
                   str(work / "models" / "realtext" / "phoenix" / "ssl_ssaw" / "seed0"), "--frames", str(frames),
                   "--question", row["question"]], work).stdout.strip()
    assert printed and "▁" not in printed and "##" not in printed

    # Sigma (Table 9) and SL-SLR (Table 10) on real text: words out of the subword tokenizer, too.
    sigma = pd.read_csv(out / "sigma" / "predictions" / "phoenix" / "full" / "seed0.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    assert len(sigma) == 40 and "▁" not in " ".join(sigma["hypothesis"]) and "##" not in " ".join(sigma["hypothesis"])
    assert (out / "tables" / "table9.md").exists() and (out / "tables" / "table10.md").exists()

    table7 = (out / "tables" / "table7.md").read_text()
    assert "Realtext profile" in table7 and "Copy question" in table7
    assert "20.95" in table7  # the paper's question-only row beside ours
    assert not (out / "tables" / "table4.md").exists()  # a table is rendered only when all its rows run
    assert planned_jobs(work, "--config", "profile=realtext") == {}
