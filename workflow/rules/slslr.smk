# SL-SLR (arXiv 2509.05188): isolated-sign clips -> self-supervised pre-training of every method and every
# evaluation protocol, one job per seed -> Table 10. Its encoder can start SSL-SSAW's stage 1 (stage 0).
# SL-SLR's part of the experiment plan (qbslt.experiment.SlslrPlan): its methods, checked there (a typo
# fails at `snakemake -n`); source None: no isolated-sign clips in this profile, so no SL-SLR jobs and no
# Table 10.
SLSLR = EXPERIMENT.slslr.source is not None
SLSLR_DATASETS = EXPERIMENT.slslr.datasets
SLSLR_SEEDS = EXPERIMENT.slslr.seeds
# (dataset, method) encoders the stage-0 variants start from: saved by the seed's slslr_run job.
STAGE0_ENCODERS = EXPERIMENT.stage0_encoders()


rule slslr_clips:
    """Isolated-sign clips of the training videos at the renderer's gloss boundaries, split by signer."""
    input:
        manifest=f"{DATA}/raw/{{dataset}}/manifest.json",
        index=f"{DATA}/frames/{{dataset}}/train.index.tsv",
    output:
        clips=f"{DATA}/clips/{{dataset}}/clips.tsv",
        summary=f"{DATA}/clips/{{dataset}}/clips.json",
    log:
        "logs/slslr_clips/{dataset}.log",
    benchmark:
        f"{RESULTS}/benchmarks/slslr_clips/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        cfg=step_settings("slslr_clips"),
    shell:
        "python -m qbslt slslr-clips --dataset {wildcards.dataset} --manifest {input.manifest} --index {input.index}"
        " --out {output.clips} --summary {output.summary} --cfg {params.cfg:q} > {log} 2>&1"


if ISOLATED:

    ruleorder: slslr_isolated > extract_frames
    ruleorder: slslr_isolated > slslr_clips

    rule slslr_isolated:
        """An isolated-sign dataset (slslr.isolated_dataset): its videos into a frame store (split train) and
        one clip per video, split by signer; the features and keypoint rules then read that store.
        """
        input:
            index=os.path.join(ISOLATED["root"], ISOLATED["index"]),
        output:
            store=frame_store_path(ISOLATED["name"], "train"),
            index=f"{DATA}/frames/{ISOLATED['name']}/train.index.tsv",
            clips=f"{DATA}/clips/{ISOLATED['name']}/clips.tsv",
            summary=f"{DATA}/clips/{ISOLATED['name']}/clips.json",
        log:
            f"logs/slslr_isolated/{ISOLATED['name']}.log",
        benchmark:
            f"{RESULTS}/benchmarks/slslr_isolated/{ISOLATED['name']}.tsv"
        conda:
            "../envs/data.yaml"
        threads: 8
        resources:
            mem_mb=4000,
        params:
            name=ISOLATED["name"],
            root=ISOLATED["root"],
            index=ISOLATED["index"],
            size="{} {}".format(*CFG["data"]["frame_size"]),
            quality=FRAME_STORE["quality"],
            share=CFG["slslr"]["test_signer_share"],
        shell:
            "python -m qbslt slslr-isolated --name {params.name} --root {params.root:q} --index {params.index:q}"
            " --size {params.size} --out-store {output.store} --quality {params.quality} --out-index {output.index}"
            " --clips {output.clips} --summary {output.summary} --test-signer-share {params.share}"
            " --threads {threads} --no-progress > {log} 2>&1"


rule slslr_run:
    """One seed: every SL-SLR method pre-trained on every dataset, linear / semi-supervised / transfer."""
    input:
        # clips, frozen features and keypoint stores of every dataset SL-SLR pre-trains on
        unpack(job_inputs("slslr_run")),
    output:
        # the run's results and the encoders stage-0 variants start from
        **job_outputs("slslr_run"),
    log:
        "logs/slslr_run/seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/slslr_run/seed{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=4000,
    params:
        cfg=lambda w: job_settings("slslr_run", w),
        datasets=" ".join(SLSLR_DATASETS),
        encoders=lambda w, output: " ".join(
            f"{d}:{m}:{path}" for (d, m), path in zip(STAGE0_ENCODERS, output.encoders)
        ),
    shell:
        "python -m qbslt slslr-run --seed {wildcards.seed} --datasets {params.datasets} --clips {input.clips}"
        " --features {input.features} --keypoints {input.keypoints} --encoder {params.encoders}"
        " --out {output.run} --cfg {params.cfg:q} > {log} 2>&1"


rule table10:
    """Table 10: top-1 / top-5 of every SL-SLR method and protocol, mean ± std over the seeds."""
    input:
        expand(f"{RESULTS}/slslr/seed{{seed}}.json", seed=SLSLR_SEEDS),
    output:
        md=f"{RESULTS}/tables/table10.md",
        html=report(
            f"{RESULTS}/tables/table10.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "Table 10"},
        ),
        csv=f"{RESULTS}/tables/table10.csv",
        tex=f"{RESULTS}/tables/table10.tex",
    log:
        f"logs/table10/{PROFILE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/table10/table10.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        out=lambda w, output: os.path.dirname(output.md),
        profile=PROFILE,
    shell:
        "python -m qbslt slslr-table --runs {input} --out {params.out} --profile {params.profile} > {log} 2>&1"
        " && python -m qbslt.reports.rendering {output.md} {output.html} >> {log} 2>&1"


rule slslr_all:
    """Target: Table 10 (nothing in a profile without isolated-sign clips)."""
    input:
        rules.table10.output if SLSLR else [],
