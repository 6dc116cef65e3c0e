# Results: Tables 1-8 and the input-reliance table, Figure 4, the Snakemake report, DVC's metrics and plots data.
import shutil
import subprocess

# The report's front page (workflow/report/workflow.rst, rendered with `snakemake.config`) names
# the profile in use and the commit (`git rev-parse --short HEAD`; "unknown" outside git). Nothing
# else reads this key.
config["report_front_page"] = {
    "profile": PROFILE,
    "commit": (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=workflow.basedir,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if shutil.which("git")
        else ""
    )
    or "unknown",
}

# One DVC metrics file per (dataset, variant) of the matrix: trained variants and reference systems.
SCORED = [(d, v) for d in DATASETS for v in sorted(MATRIX[d])]
# Figure 4 draws the first seed of its variant; its test-wide statistic reads every seed (any seeds
# when the matrix does not run the variant: no job needs them).
FIGURE4_SEEDS = RUN_SEEDS.get((FIGURE_DATASET, FIGURE_VARIANT), SEEDS)
FIGURE4_SSAWS = [
    f"{RESULTS}/ssaw/{FIGURE_DATASET}/{FIGURE_VARIANT}/seed{seed}.json"
    for seed in FIGURE4_SEEDS
]
FIGURE4_SSAW = FIGURE4_SSAWS[0]
# Figure 4's test-wide statistic per seed (question vs video weight), written by rule figure4; the
# claims table reads it (an input of `tables` when the profile runs the figure, "not measured" otherwise).
FIGURE4_STATS = f"{RESULTS}/plots/figure4.csv"


rule tables:
    """Tables 1-8 (md, csv, tex, html) of exactly the runs of the experiment matrix
    (the metrics files passed with --metrics), the input-reliance and claims tables (Table R, Table C;
    Table C's page also BLEU-4 per question-overlap tercile, from the dev and test predictions),
    and the data of `dvc metrics show` (summary.json,
    scores/<dataset>/<variant>.json) and `dvc plots show` (per-run BLEU-4, training curves,
    Figure 4's SSAW weights)."""
    input:
        unpack(table_inputs),
        ssaw=[FIGURE4_SSAW] if FIGURE else [],
        figure4_stats=[FIGURE4_STATS] if FIGURE else [],
    output:
        md=[f"{RESULTS}/tables/table{n}.md" for n in TABLES],
        csv=[f"{RESULTS}/tables/table{n}.csv" for n in TABLES],
        tex=[f"{RESULTS}/tables/table{n}.tex" for n in TABLES],
        # The report shows HTML inline (Markdown would only be a download link).
        html=[
            report(
                f"{RESULTS}/tables/table{n}.html",
                caption="../report/table.rst",
                category="Tables",
                labels={"table": f"Table {n:02d}"},  # the report sorts labels as text
            )
            for n in TABLES
        ],
        reliance=f"{RESULTS}/tables/reliance.md",
        reliance_html=report(
            f"{RESULTS}/tables/reliance.html",
            caption="../report/reliance.rst",
            category="Tables",
            labels={"table": "Table R: input reliance (not in the paper)"},
        ),
        reliance_csv=f"{RESULTS}/tables/reliance.csv",
        # The paper's claims judged from the runs (qbslt.reports.claims); the summary is what README.md quotes.
        claims=f"{RESULTS}/tables/claims.md",
        claims_html=report(
            f"{RESULTS}/tables/claims.html",
            caption="../report/claims.rst",
            category="Tables",
            labels={"table": "Table C: the paper's claims (not in the paper)"},
        ),
        claims_csv=f"{RESULTS}/tables/claims.csv",
        claims_summary=f"{RESULTS}/tables/claims_summary.md",
        # claims.md's second table (BLEU-4 per tercile of question-translation overlap), unrounded
        claims_overlap=f"{RESULTS}/tables/claims_overlap.csv",
        summary=f"{RESULTS}/summary.json",
        runs=f"{RESULTS}/plots/bleu4_by_variant.csv",
        scores=[f"{RESULTS}/scores/{d}/{v}.json" for d, v in SCORED],
        curves=f"{RESULTS}/plots/training_curves.csv",
        figure4=[f"{RESULTS}/plots/figure4_weights.csv"] if FIGURE else [],
    log:
        f"logs/tables/{PROFILE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/tables.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        profile=PROFILE,
        samples=CFG["eval"]["bootstrap_samples"],
        tables=" ".join(map(str, TABLES)),
        datasets=" ".join(DATASETS),
        results=lambda w, input: input.metrics[0].rsplit("/metrics/", 1)[0],  # RESULTS
        out=lambda w, output: os.path.join(os.path.dirname(output.summary), "tables"),
        scores=lambda w, output: os.path.join(os.path.dirname(output.summary), "scores"),
        figure4=lambda w, input, output: (
            f"--figure4-ssaw {input.ssaw[0]} --figure4-data {output.figure4[0]}"
            if FIGURE
            else ""
        ),
        # Figure 4's statistic, an input when the profile runs the figure (a path that does not exist otherwise).
        figure4_stats=lambda w, input: (
            input.figure4_stats[0] if input.figure4_stats else FIGURE4_STATS
        ),
    shell:
        "python -m qbslt tables --results {params.results} --metrics {input.metrics} --out {params.out}"
        " --profile {params.profile} --tables {params.tables} --datasets {params.datasets}"
        " --bootstrap-samples {params.samples} --summary {output.summary} --runs {output.runs}"
        " --scores {params.scores} --curves {output.curves} {params.figure4} --reliance"
        " --claims --figure4-stats {params.figure4_stats} > {log} 2>&1"


rule figure4:
    """Figure 4: SSAW weight maps of three test examples of SSL-SSAW (its first seed)
    on a fixed colour scale, and its test-wide statistic (plots/figure4.csv: per seed
    and over the seeds, the mean weight on question tokens and on video positions,
    their difference, a bootstrap CI)."""
    input:
        ssaw=FIGURE4_SSAWS,
    output:
        png=report(
            f"{RESULTS}/figures/figure4.png",
            caption="../report/figure4.rst",
            category="Figures",
        ),
        pdf=f"{RESULTS}/figures/figure4.pdf",
        stats=FIGURE4_STATS,
    log:
        f"logs/figure4/{PROFILE}.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        samples=CFG["eval"]["bootstrap_samples"],
    shell:
        "python -m qbslt figure4 --ssaw {input.ssaw} --png {output.png} --pdf {output.pdf}"
        " --stats {output.stats} --bootstrap-samples {params.samples} > {log} 2>&1"


rule plots:
    """The dev curves of every trained variant (dev BLEU-4 per epoch, mean ± std over seeds) and
    ours beside the paper (test BLEU-4 per row of each table with the paper's numbers), as PNGs.
    """
    input:
        curves=rules.tables.output.curves,
        tables=rules.tables.output.csv,
    output:
        dev_curves=report(
            f"{RESULTS}/figures/dev_curves.png",
            caption="../report/dev_curves.rst",
            category="Figures",
        ),
        paper_vs_ours=report(
            f"{RESULTS}/figures/paper_vs_ours.png",
            caption="../report/paper_vs_ours.rst",
            category="Figures",
        ),
    log:
        f"logs/plots/{PROFILE}.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        profile=PROFILE,
    shell:
        "python -m qbslt plots --curves {input.curves} --tables {input.tables} --dev-curves {output.dev_curves}"
        " --paper-vs-ours {output.paper_vs_ours} --profile {params.profile} > {log} 2>&1"


# Per-table targets: `snakemake --cores all table5` builds only the runs Table 5 shows (its variants
# x seeds on its dataset, its reference systems; through the rules' inputs their stage-1 runs,
# features, tokenizers and data) and renders that table alone into RESULTS/only/table5/, with the
# summary, per-run, scores and curves files of exactly those runs. Same command and bootstrap seed
# as `tables`: the same table as there. A table the profile does not render fails naming the
# variants its matrix lacks.
ONLY = f"{RESULTS}/only"

for _n in qbslt_layout.table_numbers():
    _pairs = qbslt_layout.table_runs(_n, MATRIX) if _n in TABLES else []

    rule:
        name:
            f"table{_n}"
        input:
            unpack(functools.partial(table_only_inputs, _n)),
        output:
            md=f"{ONLY}/table{_n}/table{_n}.md",
            csv=f"{ONLY}/table{_n}/table{_n}.csv",
            tex=f"{ONLY}/table{_n}/table{_n}.tex",
            html=[f"{ONLY}/table{_n}/table{_n}.html"] if _n == 8 else [],
            summary=f"{ONLY}/table{_n}/summary.json",
            runs=f"{ONLY}/table{_n}/bleu4_by_variant.csv",
            scores=[f"{ONLY}/table{_n}/scores/{d}/{v}.json" for d, v in _pairs],
            curves=f"{ONLY}/table{_n}/training_curves.csv",
        log:
            f"logs/tables/{PROFILE}_table{_n}.log",
        benchmark:
            f"{RESULTS}/benchmarks/tables/table{_n}.tsv"
        conda:
            "../envs/torch.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            profile=PROFILE,
            samples=CFG["eval"]["bootstrap_samples"],
            number=_n,
            datasets=" ".join(dict.fromkeys(d for d, _ in _pairs)),
            results=lambda w, input: input.metrics[0].rsplit("/metrics/", 1)[0],  # RESULTS
            out=lambda w, output: os.path.dirname(output.summary),
            scores=lambda w, output: os.path.join(
                os.path.dirname(output.summary), "scores"
            ),
        shell:
            "python -m qbslt tables --results {params.results} --metrics {input.metrics} --out {params.out}"
            " --profile {params.profile} --tables {params.number} --datasets {params.datasets}"
            " --bootstrap-samples {params.samples} --summary {output.summary} --runs {output.runs}"
            " --scores {params.scores} --curves {output.curves} > {log} 2>&1"
