"""Embedded synthetic data: grammars, renderer and the layout writer (tiny sizes, fast)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from qbslt.data import annotations, layout
from qbslt.data.datasets import get_dataset
from qbslt.data.frames import list_frame_files
from qbslt.data.join import question_overlap
from qbslt.data.synth import KINDS, choose_kind, csl_grammar, kind_probabilities, phoenix_grammar
from qbslt.data.synth.generate import generate_dataset, render_annotations, render_settings
from qbslt.data.synth.render import SignRenderer

RENDER = {"frames_per_gloss": [3, 5], "transition_frames": [1, 2], "noise_std": 6.0}
MIX = {"partial": 0.55, "disambiguating": 0.25, "unrelated": 0.1, "yes_no": 0.1}
FRAME_SIZE = (40, 32)


def tiny_cfg(defects: bool = True) -> dict:
    return {"seed": 7, "phoenix": {"signers": 3, "train": 6, "dev": 3, "test": 3},
            "csl": {"signers": 4, "train": 6, "dev": 3, "test": 3},
            "render": RENDER, "questions": MIX, "inject_defects": defects}


def all_files(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def samples(grammar, n: int, seed: int = 0):
    rng, p = np.random.default_rng(seed), kind_probabilities(MIX)
    return [grammar.sample(rng, choose_kind(rng, p)) for _ in range(n)]


# --- grammars -------------------------------------------------------------------------------

def test_phoenix_question_overlap_in_band_and_some_questions_share_nothing():
    overlaps = [question_overlap(s.translation, s.question) for s in samples(phoenix_grammar, 400)]
    assert 0.3 <= np.mean(overlaps) <= 0.7
    assert any(o == 0 for o in overlaps)


@pytest.mark.parametrize("grammar", [phoenix_grammar, csl_grammar])
def test_numbers_never_appear_in_questions(grammar):
    for s in samples(grammar, 400, seed=1):
        words = set(s.question.lower().replace("？", " ").split())
        assert not words & set(grammar.NUMBER_WORDS), s
        assert not any(c.isdigit() for c in s.question), s


def test_phoenix_sample_conventions():
    for s in samples(phoenix_grammar, 200, seed=2):
        assert s.translation == s.translation.lower() and "%" not in s.translation + s.question
        assert all(g == g.upper() and not set(g) & set("ÄÖÜß") for g in s.gloss)
        assert s.question[0].isupper() and s.kind in KINDS
    assert 100 <= len(phoenix_grammar.GLOSS_VOCAB) <= 400


def test_csl_sample_conventions():
    for s in samples(csl_grammar, 200, seed=3):
        assert s.chars == s.translation and all(len(c) == 1 for c in s.chars.split())
        assert s.chars.replace(" ", "") == s.words.replace(" ", "")
        assert s.question.endswith("？") and " ？" not in s.question


@pytest.mark.parametrize("grammar", [phoenix_grammar, csl_grammar])
def test_disambiguating_questions_name_the_homonym_and_unrelated_share_nothing(grammar):
    homonyms = set(grammar.HOMONYMS) | set(grammar.HOMONYMS.values())
    rng = np.random.default_rng(4)
    for _ in range(100):
        s = grammar.sample(rng, "disambiguating")
        assert homonyms & set(s.gloss)
        answer = s.words if s.words else s.translation
        assert question_overlap(answer, s.question) > 0
        u = grammar.sample(rng, "unrelated")
        assert question_overlap(u.words if u.words else u.translation, u.question) == 0


# --- renderer -------------------------------------------------------------------------------

def renderer(grammar=phoenix_grammar, **cfg) -> SignRenderer:
    return SignRenderer(FRAME_SIZE, {**RENDER, **cfg}, seed=3, vocabulary=grammar.GLOSS_VOCAB,
                        homonyms=grammar.HOMONYMS)


def test_render_shape_and_frame_count_grows_with_glosses():
    r = renderer(transition_frames=[1, 1])
    glosses = ["MONTAG", "NORD", "REGEN", "WIND", "STARK", "GRAD"]
    counts = [len(r.render(glosses[:n], "Signer01", np.random.default_rng(0))) for n in range(0, 7)]
    assert counts == sorted(set(counts)) and counts[0] == 0
    video = r.render(glosses, "Signer02", np.random.default_rng(0))
    assert video.dtype == np.uint8 and video.shape[1:] == (*FRAME_SIZE, 3)


@pytest.mark.parametrize("grammar, same, other", [(phoenix_grammar, ("REGEN", "SCHNEE"), "GEWITTER"),
                                                  (csl_grammar, ("北京", "上海"), "公园")])
def test_homonyms_render_identically_distinct_glosses_differ(grammar, same, other):
    r = renderer(grammar)
    a, b, c = (r.render(["X", g], "S1", np.random.default_rng(5)) for g in (*same, other))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize("grammar", [phoenix_grammar, csl_grammar])
def test_distinct_vocabulary_glosses_have_distinct_patterns(grammar):
    r = renderer(grammar)
    keys = dict.fromkeys(grammar.HOMONYMS.get(g, g) for g in grammar.GLOSS_VOCAB)
    patterns = {(p.colour, p.start, p.end, p.shape) for p in map(r.pattern, keys)}
    assert len(patterns) == len(keys)


def test_unknown_glosses_render_deterministically():
    a = renderer().render(["NIE-GESEHEN", "WETTER-WIE-AUSSEHEN"], "SignerX", np.random.default_rng(1))
    b = renderer().render(["NIE-GESEHEN", "WETTER-WIE-AUSSEHEN"], "SignerX", np.random.default_rng(1))
    c = renderer().render(["ANDERE-GEBAERDE", "WETTER-WIE-AUSSEHEN"], "SignerX", np.random.default_rng(1))
    assert len(a) > 0 and np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


HARD = {"speed_jitter": 0.4, "coarticulation": 0.6, "drop_frames": 0.3, "occlusion": 1.0, "lighting": 0.2}
GLOSSES = ["MONTAG", "NORD", "REGEN", "WIND", "STARK", "GRAD"]


def test_hard_video_is_off_by_default_and_deterministic():
    plain = renderer().render(GLOSSES, "Signer01", np.random.default_rng(2))
    zeros = renderer(**{k: 0.0 for k in HARD}).render(GLOSSES, "Signer01", np.random.default_rng(2))
    assert np.array_equal(plain, zeros)
    a, b = (renderer(**HARD).render(GLOSSES, "Signer01", np.random.default_rng(2)) for _ in range(2))
    assert np.array_equal(a, b) and a.dtype == np.uint8 and a.shape[1:] == plain.shape[1:]
    assert a.shape != plain.shape or not np.array_equal(a, plain)


def test_dropped_frames_never_remove_a_sign():
    r = renderer(drop_frames=0.9, speed_jitter=0.5, transition_frames=[0, 0], noise_std=0.0)
    for seed in range(10):
        video = r.render(GLOSSES, "Signer02", np.random.default_rng(seed))
        assert len(video) >= len(GLOSSES)


def test_render_settings_put_hard_video_on_top_of_render():
    from qbslt import config

    synthetic = {k: v for k, v in config.load("params.yaml")["data"]["synthetic"].items() if k != "hard_video"}
    assert render_settings({**synthetic, "render": RENDER}) == RENDER
    merged = render_settings({**synthetic, "render": RENDER, "hard_video": {"noise_std": 9.0, "drop_frames": 0.1}})
    assert merged == {**RENDER, "noise_std": 9.0, "drop_frames": 0.1}


def test_the_video_cannot_tell_everything():
    """One sign for several words, and the generic pointing sign for regions (docs/embedded-data.md)."""
    rng = np.random.default_rng(6)
    drawn = [phoenix_grammar.sample(rng, "yes_no") for _ in range(300)]
    assert sum("REGION" in s.gloss for s in drawn) > 10
    rain = {w for s in drawn if "REGEN" in s.gloss for w in s.translation.split()}
    assert {"regen", "regenfälle"} <= rain
    drawn = [csl_grammar.sample(rng, "yes_no") for _ in range(300)]
    she = [s for s in drawn if "她" in s.words.split()]
    assert she and all("她" not in s.gloss and "他" in s.gloss for s in she)


# --- generated datasets ---------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["phoenix", "csl"])
def test_generation_is_byte_identical_and_thread_independent(tmp_path, dataset):
    generate_dataset(dataset, tmp_path / "a", tiny_cfg(), FRAME_SIZE, threads=1, progress=False)
    generate_dataset(dataset, tmp_path / "b", tiny_cfg(), FRAME_SIZE, threads=2, progress=False)
    a, b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


def test_phoenix_files_parse_and_match_frames(tmp_path):
    manifest = generate_dataset("phoenix", tmp_path, tiny_cfg(defects=False), FRAME_SIZE, progress=False)
    root, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path)
    for split, size in tiny_cfg()["phoenix"].items():
        if split == "signers":
            continue
        qa = annotations.read_phoenix_qa(layout.qa_path(qa_dir, split), expected_split=split)
        corpus = {r.name: r for r in annotations.read_phoenix_corpus(layout.phoenix_corpus_path(root, split))}
        assert len(qa) == len(corpus) == size
        assert not layout.qa_path(qa_dir, split).read_bytes().endswith(b"\n")
        assert layout.phoenix_corpus_path(root, split).read_text().startswith("name|video|start|end|speaker|orth|")
        for record in qa:
            row = corpus[record.name]
            assert (row.translation, row.orth) == (record.translation, record.gloss)
            assert row.video == f"{record.name}/*.png" and row.speaker in {"Signer01", "Signer02", "Signer03"}
            frames = list_frame_files(layout.phoenix_frames_dir(root, split, record.name))
            assert frames[0].name == "images0001.png" and len(frames) >= 3 * len(record.gloss.split())
    assert manifest["root"] == "PHOENIX-2014-T-release-v3/PHOENIX-2014-T" and manifest["qa_dir"] == "qa"
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert manifest["qa_sha256"]["dev"] == hashlib.sha256(layout.qa_path(qa_dir, "dev").read_bytes()).hexdigest()


def test_csl_files_parse_and_match_frames(tmp_path):
    manifest = generate_dataset("csl", tmp_path, tiny_cfg(defects=False), FRAME_SIZE, progress=False)
    root, qa_dir = get_dataset("csl").embedded_roots(tmp_path)
    splits = annotations.read_csl_split(layout.csl_split_path(root))
    total = 0
    for split in ("train", "dev", "test"):
        qa = annotations.read_csl_qa(layout.qa_path(qa_dir, split))
        assert len(qa) == tiny_cfg()["csl"][split] and all(splits[r.name] == split for r in qa)
        for record in qa:
            frames = list_frame_files(layout.csl_frames_dir(root, record.name))
            assert record.num_frames == len(frames) and frames[0].name == "000000.jpg"
            assert record.name[:1] == "S" and record.name.endswith("_T00")
            total += len(frames)
    assert manifest["frames"] == total


def test_defects_present_when_enabled(tmp_path):
    generate_dataset("phoenix", tmp_path / "p", tiny_cfg(), FRAME_SIZE, progress=False)
    root, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path / "p")
    qa = annotations.read_phoenix_qa(layout.qa_path(qa_dir, "dev"), expected_split="dev")
    corpus = {r.name: r for r in annotations.read_phoenix_corpus(layout.phoenix_corpus_path(root, "dev"))}
    names = [r.name for r in qa]
    assert len(qa) == 3 + 5
    assert len(names) - len(set(names)) == 1
    assert sum(r.name not in corpus for r in qa) == 1
    assert sum(not r.question for r in qa) == 1
    assert sum(r.name in corpus and corpus[r.name].translation != r.translation for r in qa) == 1
    empty = [n for n in corpus if not list_frame_files(layout.phoenix_frames_dir(root, "dev", n))]
    assert len(empty) == 1 and layout.phoenix_frames_dir(root, "dev", empty[0]).is_dir()

    generate_dataset("csl", tmp_path / "c", tiny_cfg(), FRAME_SIZE, progress=False)
    root, qa_dir = get_dataset("csl").embedded_roots(tmp_path / "c")
    splits = annotations.read_csl_split(layout.csl_split_path(root))
    qa = annotations.read_csl_qa(layout.qa_path(qa_dir, "test"))
    names = [r.name for r in qa]
    assert len(names) - len(set(names)) == 1 and sum(not r.question for r in qa) == 2
    unknown = [n for n in names if n not in splits]
    assert len(unknown) == 1 and not layout.csl_frames_dir(root, unknown[0]).exists()


@pytest.mark.parametrize("dataset", ["phoenix", "csl"])
def test_no_defects_when_disabled(tmp_path, dataset):
    manifest = generate_dataset(dataset, tmp_path, tiny_cfg(defects=False), FRAME_SIZE, progress=False)
    _, qa_dir = get_dataset(dataset).embedded_roots(tmp_path)
    for split in ("train", "dev", "test"):
        qa = get_dataset(dataset).read_qa(layout.qa_path(qa_dir, split), expected_split=split)
        assert len({r.name for r in qa}) == len(qa) == manifest["counts"][split]["frame_folders"]
        assert all(r.question for r in qa)


def test_regeneration_leaves_no_stale_files(tmp_path):
    big = tiny_cfg()
    big["phoenix"] = {"signers": 3, "train": 12, "dev": 3, "test": 3}
    generate_dataset("phoenix", tmp_path, big, FRAME_SIZE, progress=False)
    generate_dataset("phoenix", tmp_path, tiny_cfg(), FRAME_SIZE, progress=False)
    root, _ = get_dataset("phoenix").embedded_roots(tmp_path)
    folders = [p for p in (root / layout.PHOENIX_FRAME_DIR / "train").iterdir()]
    assert len(folders) == 6 + 3  # configured + the defect videos that have a folder (not the unknown one)


# --- real annotations -----------------------------------------------------------------------

def test_render_annotations_on_real_phoenix_rows(shared_data, tmp_path):
    real = shared_data / "phoenix-2014t-qa"
    lines = (real / "dev.txt").read_text(encoding="utf-8").splitlines()[:5]
    qa_file = tmp_path / "in" / "dev.txt"
    qa_file.parent.mkdir()
    qa_file.write_text("\n".join(lines), encoding="utf-8")
    corpus_file = tmp_path / "in" / "corpus.csv"
    corpus_file.write_text("\n".join((real / "PHOENIX-2014-T.dev.corpus.csv").read_text(encoding="utf-8")
                                     .splitlines()[:3]), encoding="utf-8")

    manifest = render_annotations("phoenix", {"dev": qa_file}, tmp_path / "out", FRAME_SIZE, RENDER, seed=1,
                                  corpus_files={"dev": corpus_file}, progress=False)
    root, qa_dir = get_dataset("phoenix").embedded_roots(tmp_path / "out")
    assert layout.qa_path(qa_dir, "dev").read_bytes() == qa_file.read_bytes()
    corpus = annotations.read_phoenix_corpus(layout.phoenix_corpus_path(root, "dev"))
    real_corpus = {r.name: r for r in annotations.read_phoenix_corpus(corpus_file)}
    assert [r.speaker for r in corpus] == [real_corpus[r.name].speaker for r in corpus] and len(corpus) == 3
    for record in annotations.read_phoenix_qa(qa_file, expected_split="dev"):
        frames = list_frame_files(layout.phoenix_frames_dir(root, "dev", record.name))
        assert (len(frames) > 0) == (record.name in real_corpus)
    assert manifest["counts"]["dev"]["qa_rows"] == 5

    render_annotations("phoenix", {"dev": qa_file}, tmp_path / "nocorpus", FRAME_SIZE, RENDER, seed=1, progress=False)
    root, _ = get_dataset("phoenix").embedded_roots(tmp_path / "nocorpus")
    assert len(annotations.read_phoenix_corpus(layout.phoenix_corpus_path(root, "dev"))) == 5
