# Results: Tables 1-8, Figure 4, the Snakemake report.

rule tables:
    """Tables 1-8 (md, csv, tex; Table 8 also html), the metrics summary and the per-run BLEU-4 plot data."""
    input:
        unpack(table_inputs),
    output:
        md=[report(f"results/tables/table{n}.md", caption="../report/table.rst", category="Tables",
                   labels={"table": str(n)}) for n in TABLES],
        csv=[f"results/tables/table{n}.csv" for n in TABLES],
        tex=[f"results/tables/table{n}.tex" for n in TABLES],
        html="results/tables/table8.html",
        summary="results/summary.json",
        runs="results/plots/bleu4_by_variant.csv",
    params:
        profile=PROFILE,
        samples=CFG["eval"]["bootstrap_samples"],
    log:
        "logs/tables/tables.log",
    benchmark:
        "results/benchmarks/tables/tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m qbslt tables --results results --out results/tables --profile {params.profile}"
        " --bootstrap-samples {params.samples} --summary {output.summary} --runs {output.runs} > {log} 2>&1"


rule figure4:
    """Figure 4: SSAW weight maps of three test examples of SSL-SSAW (seed 0)."""
    input:
        ssaw=f"results/ssaw/{FIGURE_DATASET}/{FIGURE_VARIANT}/seed{SEEDS[0]}.json",
    output:
        png=report("results/figures/figure4.png", caption="../report/figure4.rst", category="Figures"),
        pdf="results/figures/figure4.pdf",
    log:
        "logs/figure4/figure4.log",
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m qbslt figure4 --ssaw {input.ssaw} --png {output.png} --pdf {output.pdf} > {log} 2>&1"
