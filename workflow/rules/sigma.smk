# Sigma (arXiv 2509.21223): skeleton pre-training + gloss-free translation from the keypoint stores,
# one job per (dataset, seed) running every sigma.variants entry -> Table 9.

# variant -> resolved settings (params.yaml's sigma section with the variant merged) of every variant
# sigma.run names (qbslt.experiment: validated and checked there).
SIGMA_VARIANTS = EXPERIMENT.sigma_variants
# The RGB (+ skeleton) rows of Table 9 (table9.rgb_rows of the table layout), where the
# experiment matrix runs them.
SIGMA_RGB_ROWS = [
    (d, v) for d in DATASETS for v in qbslt_layout.rgb_variants() if (d, v) in VARIANTS
]


# Every Sigma metrics file of the experiment (datasets x seeds x variants).
SIGMA_METRICS = [
    path
    for job in EXPERIMENT.jobs()
    if job.kind == "sigma"
    for path in EXPERIMENT.outputs(job)["metrics"]
]


rule sigma:
    """Every Sigma variant of one (dataset, seed): unified pre-training, translation fine-tuning (dev-selected), beam-search evaluation."""
    input:
        # examples, keypoint stores and masks, frame indexes, the decoder tokenizer
        unpack(job_inputs("sigma")),
    output:
        # metrics and predictions of every Sigma variant
        **job_outputs("sigma"),
    log:
        "logs/sigma/{dataset}_seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sigma/{{dataset}}_seed{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=2000,
        gpu=GPU,
    params:
        cfg=lambda w: job_settings("sigma", w),
        examples_dir=lambda w, input: os.path.dirname(input.examples[0]),
        keypoints_dir=lambda w, input: os.path.dirname(input.keypoints[0]),
        frames_dir=lambda w, input: os.path.dirname(input.index[0]),
        checkpoints=lambda w: f"{CHECKPOINTS}/sigma/{w.dataset}/seed{w.seed}",
        out_dir=lambda w, output: output.metrics[0].rsplit("/metrics/", 1)[0],
    shell:
        "python -m qbslt sigma --dataset {wildcards.dataset} --seed {wildcards.seed}"
        " --examples-dir {params.examples_dir} --keypoints-dir {params.keypoints_dir}"
        " --frames-dir {params.frames_dir} --tokenizer {input.tokenizer}"
        " --checkpoint-dir {params.checkpoints} --out-dir {params.out_dir} --cfg {params.cfg:q} > {log} 2>&1"


rule sigma_all:
    """Target: every Sigma variant on every dataset and seed."""
    input:
        SIGMA_METRICS,


rule table9:
    """Table 9: Sigma's variants on both datasets (mean ± std over the seeds), SSL-SSAW rows for context."""
    input:
        sigma=SIGMA_METRICS,
        rgb=[
            f"{RESULTS}/metrics/{d}/{v}/seed{s}.json"
            for d, v in SIGMA_RGB_ROWS
            for s in SEEDS
        ],
    output:
        md=f"{RESULTS}/tables/table9.md",
        html=report(
            f"{RESULTS}/tables/table9.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "Table 09"},
        ),
        csv=f"{RESULTS}/tables/table9.csv",
        tex=f"{RESULTS}/tables/table9.tex",
    log:
        f"logs/tables/{PROFILE}_table9.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        profile=PROFILE,
        variants=" ".join(SIGMA_VARIANTS),
        datasets=" ".join(DATASETS),
        rgb=lambda w, input: (
            f"--rgb-metrics {' '.join(input.rgb)}" if input.rgb else ""
        ),
        out=lambda w, output: os.path.dirname(output.md),
    shell:
        "python -m qbslt sigma-table9 --sigma-metrics {input.sigma} {params.rgb} --variants {params.variants}"
        " --datasets {params.datasets} --profile {params.profile} --out {params.out} > {log} 2>&1"
        " && python -m qbslt.reports.rendering {output.md} {output.html} >> {log} 2>&1"
