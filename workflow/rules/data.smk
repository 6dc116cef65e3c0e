# Data foundation: raw data (generated or real) -> frame stores (+ keypoint stores) -> joined examples + report.


rule generate_embedded:
    """Synthetic PHOENIX-/CSL-like QB-SLT data in the official on-disk layouts."""
    input:
        # The generator's code is part of what the data is: a changed grammar regenerates it.
        code=sorted(glob.glob(os.path.join(SRC, "qbslt", "data", "synth", "*.py"))),
    output:
        manifest="data/embedded/raw/{dataset}/manifest.json",
    log:
        "logs/generate_embedded/{dataset}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_embedded/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: CFG["data"]["prepare_threads"]
    resources:
        mem_mb=2000,
    params:
        cfg=step_settings("generate_embedded"),
        out=lambda w, output: os.path.dirname(output.manifest),
    shell:
        "python -m qbslt generate --dataset {wildcards.dataset} --out {params.out} --threads {threads}"
        " --no-progress --cfg {params.cfg:q} > {log} 2>&1"


rule realtext_data:
    """Realtext profile: the real PHOENIX-2014T-QA texts, each video rendered from its real glosses."""
    output:
        manifest="data/realtext/raw/{dataset}/manifest.json",
    log:
        "logs/realtext_data/{dataset}.log",
    benchmark:
        f"{RESULTS}/benchmarks/realtext_data/{{dataset}}.tsv"
    wildcard_constraints:
        dataset="phoenix",
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        cfg=step_settings("realtext_data"),
        out=lambda w, output: os.path.dirname(output.manifest),
    shell:
        "python -m qbslt realtext-data --dataset {wildcards.dataset} --out {params.out} --threads {threads}"
        " --no-progress --cfg {params.cfg:q} > {log} 2>&1"


rule fetch_real:
    """Real data (paper profile): PHOENIX-2014T download or given tree, CSL-Daily check, QA files."""
    output:
        manifest="data/paper/raw/{dataset}/manifest.json",
    log:
        "logs/fetch_real/{dataset}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fetch_real/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        cfg=step_settings("fetch_real"),
        out=lambda w, output: os.path.dirname(output.manifest),
    shell:
        "python -m qbslt fetch --dataset {wildcards.dataset} --out {params.out} --cfg {params.cfg:q} > {log} 2>&1"


rule extract_frames:
    """One frame store per dataset and split (data.frame_store: raw uint8 memory map or JPEG)."""
    input:
        manifest=f"{DATA}/raw/{{dataset}}/manifest.json",
    output:
        store=frame_store_path("{dataset}", "{split}"),
        index=f"{DATA}/frames/{{dataset}}/{{split}}.index.tsv",
    log:
        "logs/extract_frames/{dataset}_{split}.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_frames/{{dataset}}_{{split}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: CFG["data"]["prepare_threads"]
    resources:
        mem_mb=4000,
    params:
        size=lambda w: "{} {}".format(*CFG["data"]["frame_size"]),
        store=(
            f"--quality {FRAME_STORE['quality']}"
            if FRAME_STORE["format"] == "jpeg"
            else ""
        ),
    shell:
        "python -m qbslt extract-frames --manifest {input.manifest} --split {wildcards.split} --size {params.size}"
        " --out-store {output.store} {params.store} --out-index {output.index} --threads {threads} --no-progress"
        " > {log} 2>&1"


rule keypoints:
    """Keypoint store per dataset and split (data.keypoints), row for row beside the frame store."""
    input:
        index=f"{DATA}/frames/{{dataset}}/{{split}}.index.tsv",
        store=frame_store_path("{dataset}", "{split}"),
    output:
        points=f"{DATA}/keypoints/{{dataset}}/{{split}}.npy",
        mask=f"{DATA}/keypoints/{{dataset}}/{{split}}.mask.npy",
        meta=f"{DATA}/keypoints/{{dataset}}/{{split}}.json",
    log:
        "logs/keypoints/{dataset}_{split}.log",
    benchmark:
        f"{RESULTS}/benchmarks/keypoints/{{dataset}}_{{split}}.tsv"
    conda:
        (
            "../envs/keypoints.yaml"
            if KEYPOINT_EXTRACTOR == "mediapipe"
            else "../envs/data.yaml"
        )
    threads: 8 if KEYPOINT_EXTRACTOR == "mediapipe" else 1
    resources:
        mem_mb=8000 if KEYPOINT_EXTRACTOR == "mediapipe" else 1000,
    params:
        extractor=KEYPOINT_EXTRACTOR,
        cfg=step_settings("keypoints"),
    shell:
        "python -m qbslt keypoints --index {input.index} --frame-store {input.store} --out {output.points}"
        " --extractor {params.extractor} --threads {threads} --no-progress --cfg {params.cfg:q} > {log} 2>&1"


rule join_questions:
    """QA + corpus/split file + frames -> example tables and the data report."""
    input:
        manifest=f"{DATA}/raw/{{dataset}}/manifest.json",
        index=expand(f"{DATA}/frames/{{{{dataset}}}}/{{split}}.index.tsv", split=SPLITS),
    output:
        examples=expand(f"{DATA}/examples/{{{{dataset}}}}/{{split}}.tsv", split=SPLITS),
        report_json=f"{RESULTS}/data/{{dataset}}/report.json",
        report_md=f"{RESULTS}/data/{{dataset}}/report.md",
    log:
        "logs/join_questions/{dataset}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        frames_dir=lambda w, input: os.path.dirname(input.index[0]),
        out_dir=lambda w, output: os.path.dirname(output.examples[0]),
    shell:
        "python -m qbslt join --manifest {input.manifest} --frames-dir {params.frames_dir} --out-dir {params.out_dir}"
        " --report-json {output.report_json} --report-md {output.report_md} > {log} 2>&1"


rule prepare:
    """Target: validated, joined, frame-extracted examples of every dataset of the profile, and their keypoints."""
    input:
        expand(f"{RESULTS}/data/{{dataset}}/report.json", dataset=DATASETS),
        expand(f"{RESULTS}/data/{{dataset}}/report.md", dataset=DATASETS),
        expand(
            f"{DATA}/keypoints/{{dataset}}/{{split}}.npy",
            dataset=DATASETS,
            split=SPLITS,
        ),
