"""Measured figures are recorded by the commands that measure them (qbslt.reports.measurements):
one entry rewritten, the rest of docs/measurements.yaml byte for byte, and the docs' wording kept."""

from __future__ import annotations

import datetime
import importlib.util
import shutil
from pathlib import Path

import pytest

from qbslt.errors import QbsltError
from qbslt.reports import measurements as m
from qbslt.reports.docs import default_docs, fill, load_measurements

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENTS = ROOT / "docs" / "measurements.yaml"
DAY = datetime.date(2027, 1, 2)
HARDWARE = "2-core Intel Xeon (AVX-512), 24 GiB, no GPU"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "measurements.yaml"
    shutil.copyfile(MEASUREMENTS, path)
    return path


def test_recording_one_entry_leaves_every_other_line(copy: Path) -> None:
    old = MEASUREMENTS.read_text(encoding="utf-8").splitlines(keepends=True)
    m.record_measurement(copy, "embedded.noop", "9.9 s", "python benchmarks/full_run.py --record", HARDWARE, DAY)
    start = old.index("embedded.noop:\n")
    entry = ["embedded.noop:\n", '  value: "9.9 s"\n', '  command: "python benchmarks/full_run.py --record"\n',
             "  date: 2027-01-02\n", f'  hardware: "{HARDWARE}"\n']
    assert copy.read_text(encoding="utf-8").splitlines(keepends=True) == old[:start] + entry + old[start + 5:]


def test_rerecording_every_entry_as_it_is_changes_no_byte(copy: Path) -> None:
    """The writer's style is the file's: each entry written back with its own fields is the same text."""
    for key, entry in load_measurements(MEASUREMENTS).items():
        m.record_measurement(copy, key, str(entry["value"]), entry["command"], entry["hardware"], entry["date"])
    assert copy.read_bytes() == MEASUREMENTS.read_bytes()


def test_multiline_value_round_trips_and_order_is_kept(copy: Path) -> None:
    before = load_measurements(copy)
    table = "| part | job time |\n|---|--:|\n| \"quoted\" stage: 1 | 5 s |\n\n| **total** | **5 s** |\n"
    m.record_measurement(copy, "realtext.job_times", table, 'python x.py --a "b"', HARDWARE, DAY)
    m.record_measurement(copy, "new.figure", "1 s: a `colon`, a \\ and ünïcode", "cmd", HARDWARE, DAY)
    after = load_measurements(copy)
    assert list(after) == [*before, "new.figure"]
    assert after["realtext.job_times"] == {"value": table, "command": 'python x.py --a "b"', "date": DAY,
                                           "hardware": HARDWARE}
    assert after["new.figure"]["value"] == "1 s: a `colon`, a \\ and ünïcode"
    assert {k: v for k, v in after.items() if k not in ("realtext.job_times", "new.figure")} == {
        k: v for k, v in before.items() if k != "realtext.job_times"}


def test_a_bad_value_writes_nothing(copy: Path) -> None:
    with pytest.raises(QbsltError):
        m.record_measurement(copy, "embedded.noop", "  ", "cmd", HARDWARE, DAY)
    with pytest.raises(QbsltError):
        m.record_measurement(copy, "embedded.job_times", " indented\nfirst line", "cmd", HARDWARE, DAY)
    assert copy.read_bytes() == MEASUREMENTS.read_bytes()


def test_docs_check_reads_the_recorded_file(copy: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for doc in default_docs(ROOT):
        shutil.copyfile(doc, (tmp_path if doc.name == "README.md" else docs) / doc.name)
    current = load_measurements(MEASUREMENTS)["tests.suite_time"]["value"]
    m.record_measurement(copy, "tests.suite_time", current, "python benchmarks/test_suite.py --record", HARDWARE, DAY)
    report = fill(default_docs(tmp_path), tmp_path / "no-results", copy, check=True)
    assert not [label for label in report.changed if "measurement:" in label]

    m.record_measurement(copy, "tests.suite_time", "200 s for 680 tests", "cmd", HARDWARE, DAY)
    report = fill(default_docs(tmp_path), tmp_path / "no-results", copy, check=True)
    assert [label.split(": ", 1)[1] for label in report.changed] == ["measurement: tests.suite_time"]
    fill(default_docs(tmp_path), tmp_path / "no-results", copy)
    assert "it took <!-- measurement: tests.suite_time -->200 s for 680 tests<!-- end -->." in (
        tmp_path / "README.md").read_text(encoding="utf-8")


def test_hardware_description() -> None:
    intel = "model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nflags\t\t: fpu sse avx2 avx512f\n"
    amd = "model name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu sse avx2\n"
    assert m.hardware_description(intel, 2, 25276182528, []) == "2-core Intel Xeon (AVX-512), 24 GiB, no GPU"
    assert m.hardware_description(amd, 16, 128 * 2**30, [("NVIDIA H200", 140 * 2**30)]) == (
        "16-core AMD EPYC (AVX2), 128 GiB, one NVIDIA H200 (140 GiB)")
    assert m.hardware_description().count(", ") == 2  # this machine


def test_wall_time_noop_dvc_and_disk_formats() -> None:
    assert m.format_wall_time(1087.4, 2) == "18.1 min (1,087 s, two jobs at a time)"
    assert m.format_wall_time(4075, 2) == "68 min (4,075 s, two jobs at a time)"
    assert m.format_noop(3.14) == "3.1 s"
    assert m.format_dvc(25.94, 3.06) == "25.9 s (it records dvc.lock), then 3.1 s for a no-op `dvc repro`"
    mib = 2**20
    assert m.format_disk(453 * mib, 144 * mib, 491 * mib) == (
        "about 1.1 GB: data 453 MB, models 144 MB, resumable checkpoints 491 MB")
    assert m.format_disk(300 * mib, 20 * mib, 0) == "about 320 MB: data 300 MB, models 20 MB, resumable checkpoints 0 MB"


def test_disk_usage(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "a" / "g").hardlink_to(tmp_path / "a" / "f")
    assert 100_000 <= m.disk_usage(tmp_path / "a") < 200_000  # the hard link counted once
    assert m.disk_usage(tmp_path / "absent") == 0


def jobs(rule: str, count: int, total: float, name: str = "d_x_seed{}") -> list[m.Job]:
    return [m.Job(rule, name.format(i), total / count) for i in range(count)]


def test_embedded_job_times_reproduce_the_table() -> None:
    run = (jobs("generate_embedded", 2, 10) + jobs("extract_frames", 6, 20) + jobs("keypoints", 6, 8)
           + jobs("slslr_clips", 2, 2) + jobs("features", 9, 72) + jobs("pretrain", 24, 130)
           + jobs("train", 65, 1665) + jobs("sigma", 6, 126) + jobs("slslr_run", 3, 94) + jobs("tables", 1, 4))
    assert m.embedded_job_times(run) == """\
| part | jobs | job time |
|---|--:|--:|
| data: generate, extract frames, keypoints, clips | 16 | 40 s |
| frozen-backbone features | 9 | 72 s (8.0 s each) |
| stage 1 (shared) | 24 | 130 s (5.4 s each) |
| stage 2 + evaluation (dev passes while training, the input-reliance decodes) | 65 | 1,665 s (25.6 s each) |
| Sigma (Table 9) | 6 | 126 s |
| SL-SLR (Table 10) | 3 | 94 s |
| tables | 1 | 4 s |
| **total job time** | | **2,131 s** |
"""
    extra = m.embedded_job_times(run + [m.Job("table10", "table10", 1.0), m.Job("mystery", "x", 2.0)])
    assert "| tables | 2 | 5 s |" in extra and "| other (mystery) | 1 | 2 s |" in extra
    assert "**2,134 s**" in extra


def test_realtext_job_times_reproduce_the_table() -> None:
    run = (jobs("realtext_data", 1, 84) + jobs("extract_frames", 3, 45) + jobs("keypoints", 3, 3)
           + [m.Job("features", f"phoenix_resnet18_{s}", 388 / 3) for s in ("train", "dev", "test")]
           + jobs("pretrain", 3, 310, "phoenix_resnet18-mbart-vector-da646d7a_seed{}") + jobs("train", 17, 5447)
           + jobs("sigma", 1, 891) + jobs("slslr_clips", 1, 0.6) + jobs("slslr_run", 3, 799) + jobs("tables", 1, 2.6))
    assert m.realtext_job_times(run, videos=8257, sigma_variants=4) == """\
| part | job time |
|---|--:|
| rendering the 8,257 videos | 84 s |
| frame extraction | 45 s |
| keypoints | 3 s |
| frozen ResNet-18 features | 388 s |
| stage 1, three seeds | 310 s |
| the 17 stage-2 runs (with their input-reliance decodes) | 5,447 s (320 s each) |
| Sigma, 4 variants | 891 s |
| SL-SLR: clips, three seeds | 1 s, 799 s |
| tables | 3 s |
| **total** | **7,970 s** |
"""


def test_jobs_from_benchmark_files(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "phoenix_ssl_seed0.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "tables.tsv").write_text("s\th:m:s\n3.0\t0:00:03\n4.0\t0:00:04\n")
    assert m.jobs_from_benchmarks(tmp_path) == [m.Job("tables", "tables", 4.0),
                                                m.Job("train", "phoenix_ssl_seed0", 12.5)]
    (tmp_path / "tables" / "broken.tsv").write_text("nothing\n")
    with pytest.raises(QbsltError):
        m.jobs_from_benchmarks(tmp_path)


SUITE_OUTPUT = """\
........s.....
=========================== short test summary info ============================
SKIPPED [20] tests/conftest.py:26: real annotation files not found at /tmp/x/shared/data (the ../shared/data folder beside the checkout)
SKIPPED [4] tests/test_overlap.py:37: /tmp/x/shared/data/a.csv absent: the real PHOENIX-2014T-QA annotations are not in ../shared/data
SKIPPED [1] tests/test_report_browser.py:40: no chromium
================ 655 passed, 25 skipped, 3 warnings in 153.21s (0:02:33) ================
"""


def test_pytest_summary_is_parsed_and_worded() -> None:
    summary = m.parse_pytest_summary(SUITE_OUTPUT)
    assert (summary.count("passed"), summary.count("skipped"), summary.count("warnings")) == (655, 25, 3)
    assert summary.seconds == 153.21 and summary.tests == 680 and summary.ok
    assert m.format_test_suite(summary) == (
        "153 s for 680 tests (24 real-data tests skipped: no ../shared beside the clone; 1 other tests skipped)")
    plain = m.parse_pytest_summary("548 passed, 24 skipped in 12.5s\n"
                                   "SKIPPED [24] tests/conftest.py:26: not in ../shared/data\n")
    assert m.format_test_suite(plain) == "12 s for 572 tests (24 real-data tests skipped: no ../shared beside the clone)"
    failed = m.parse_pytest_summary("=== 1 failed, 3 passed, 1 error in 2.00s ===")
    assert (failed.count("failed"), failed.count("errors"), failed.tests, failed.ok) == (1, 1, 4, False)
    assert m.format_test_suite(failed) == "2 s for 4 tests"
    with pytest.raises(QbsltError):
        m.parse_pytest_summary("collected 3 items\n")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_run_measured_values_from_a_run_tree(tmp_path: Path) -> None:
    full_run = load_script("full_run")
    bench = tmp_path / "results" / "embedded" / "benchmarks"
    for rule, name, seconds in (("pretrain", "d_k_seed0", 130.0), ("train", "d_v_seed0", 20.0),
                                ("train", "d_v_seed1", 30.0)):
        (bench / rule).mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{name}.tsv").write_text(f"s\th:m:s\n{seconds}\t0\n")
    for folder in ("data/embedded", "models", "checkpoints"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "f").write_bytes(b"x" * 4096)
    values = full_run.measured_values("embedded", tmp_path, 1087.4, 3.14, (25.9, 3.1), 2)
    assert list(values) == ["embedded.wall_time", "embedded.noop", "embedded.disk", "embedded.job_times",
                            "embedded.dvc"]
    assert values["embedded.wall_time"] == "18.1 min (1,087 s, two jobs at a time)"
    assert values["embedded.disk"].startswith("about 0 MB: data 0 MB")
    assert "| stage 2 + evaluation (dev passes while training, the input-reliance decodes) | 2 | 50 s (25.0 s each) |" \
        in values["embedded.job_times"]
    assert set(values) <= set(load_measurements(MEASUREMENTS)) & set(full_run.RECORDED["embedded"])
    assert full_run.measured_values("paper", tmp_path, 1.0, 1.0, None, 2) == {}


def test_a_benchmark_records_only_when_asked_and_names_the_machine_it_is_told(copy: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    m.add_record_options(parser, "jobs.grain")
    before = copy.read_text()
    m.record_if_asked(parser.parse_args([]), copy, "jobs.grain", "1 s", "python benchmarks/x.py")
    assert copy.read_text() == before
    m.record_if_asked(parser.parse_args(["--record", "--hardware", "a test machine"]), copy, "jobs.grain", "1 s",
                      "python benchmarks/x.py")
    entry = load_measurements(copy)["jobs.grain"]
    assert entry["value"] == "1 s" and entry["hardware"] == "a test machine"


def test_rule_times_records_a_realtext_run_timed_per_job(tmp_path: Path, copy: Path, monkeypatch) -> None:
    """A realtext run stopped and resumed has no wall time of its own: `rule_times.py --record` writes its
    job times per part and their total over the cores, from the run's benchmark files."""
    rule_times = load_script("rule_times")
    results = tmp_path / "run" / "results" / "realtext"
    for rule, name, seconds in [("train", "phoenix_ssl_ssaw_seed0", 900.0), ("train", "phoenix_sign_only_seed0", 300.0),
                                ("pretrain", "phoenix_seed0", 100.0), ("realtext_data", "realtext", 60.0)]:
        path = results / "benchmarks" / rule / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\n{seconds}\t0:00:00\n", encoding="utf-8")
    examples = tmp_path / "run" / "data" / "realtext" / "examples" / "phoenix"
    examples.mkdir(parents=True)
    for split, rows in (("train", 5), ("dev", 2), ("test", 2)):
        (examples / f"{split}.tsv").write_text("header\n" + "row\n" * rows, encoding="utf-8")
    monkeypatch.setattr(rule_times, "MEASUREMENTS", copy)
    monkeypatch.setattr(rule_times.os, "cpu_count", lambda: 2)
    monkeypatch.setattr("sys.argv", ["rule_times.py", "--results", str(results), "--record", "--hardware", HARDWARE])
    rule_times.main()
    entries = load_measurements(copy)
    assert entries["realtext.wall_time"]["value"] == ("not timed in one piece (the run was stopped and resumed): its jobs "
                                                      "took 1,360 s, about 0.2 hours two jobs at a time")
    table = entries["realtext.job_times"]["value"]
    assert "rendering the 9 videos" in table and "1,200 s" in table and "**1,360 s**" in table
    assert entries["realtext.job_times"]["hardware"] == HARDWARE


def test_rule_times_records_only_realtext(tmp_path: Path, monkeypatch) -> None:
    rule_times = load_script("rule_times")
    monkeypatch.setattr("sys.argv", ["rule_times.py", "--results", str(tmp_path / "results" / "embedded"), "--record"])
    with pytest.raises(SystemExit):
        rule_times.main()
