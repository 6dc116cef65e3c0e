# Model and training: tokenizers, frozen-backbone features, stage 1 (shared), stage 2 per variant.


wildcard_constraints:
    # every dataset that has an object, and SL-SLR's isolated-sign dataset
    dataset="|".join(
        [*qbslt_datasets.DATASETS, *([ISOLATED["name"]] if ISOLATED else [])]
    ),
    split="train|dev|test",
    seed=r"\d+",
    text_model="mbart|mbert",
    backbone="resnet18|shufflenet_v2_x1_0",


rule tokenizer:
    """Embedded: word/character tokenizer trained on the training split. Paper: the pretrained one."""
    input:
        train=f"{DATA}/examples/{{dataset}}/train.tsv",
    output:
        directory(f"{DATA}/tokenizers/{{dataset}}/{{text_model}}"),
    log:
        "logs/tokenizer/{dataset}_{text_model}.log",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        cfg=step_settings("tokenizer"),
    shell:
        "python -m qbslt tokenizer --dataset {wildcards.dataset} --text-model {wildcards.text_model}"
        " --train-examples {input.train} --out {output} --cfg {params.cfg:q} > {log} 2>&1"


rule features:
    """Per-frame features of a frozen backbone: computed once, shared by every variant and seed."""
    input:
        frames=frame_store_path("{dataset}", "{split}"),
    output:
        f"{DATA}/features/{{dataset}}/{{backbone}}/{{split}}.npy",
    log:
        "logs/features/{dataset}_{backbone}_{split}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features/{{dataset}}_{{backbone}}_{{split}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=4000,
        gpu=GPU,
    params:
        cfg=step_settings("features"),
    shell:
        "python -m qbslt features --backbone {wildcards.backbone} --frames {input.frames} --out {output}"
        " --no-progress --cfg {params.cfg:q} > {log} 2>&1"


rule pretrain:
    """Stage 1 (Eq. 1-2), once per (dataset, backbone, text model, alignment, seed)."""
    input:
        # examples, video, tokenizers and, for SL-SLR stage-0 variants only, the encoder stage 1
        # starts from (slslr.smk's slslr_run): qbslt.experiment.Experiment.inputs
        unpack(job_inputs("pretrain")),
    output:
        **job_outputs("pretrain"),
    log:
        "logs/pretrain/{dataset}_{key}_seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{dataset}}_{{key}}_seed{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=4000,
        gpu=GPU,
        # the plan's estimate (paper profile; docs/paper-profile.md, "Running on SLURM")
        runtime=planned("pretrain", "runtime", 60),
        attempts=planned("pretrain", "attempts", 1),
        gpu_mem_mb=planned("pretrain", "gpu_mem_mb", 0),
    params:
        cfg=lambda w: job_settings("pretrain", w),
        stage0=lambda w, input: f"--stage0 {input.stage0}" if input.stage0 else "",
        video_dir=lambda w, input: os.path.dirname(input.video[0]),
        examples_dir=lambda w, input: os.path.dirname(input.examples[0]),
        out_dir=lambda w, output: os.path.dirname(output.model),
        checkpoints=lambda w: f"{CHECKPOINTS}/{w.dataset}/stage1/{w.key}/seed{w.seed}",
        launch=LAUNCH,
        stage=STAGE,
    shell:
        "{params.launch} pretrain --dataset {wildcards.dataset} --seed {wildcards.seed}"
        " --examples-dir {params.examples_dir} --features-dir {params.video_dir}"
        " --decoder-tokenizer {input.decoder_tokenizer} --text-tokenizer {input.text_tokenizer}"
        " {params.stage0} {params.stage} --checkpoint-dir {params.checkpoints} --out-dir {params.out_dir} --cfg {params.cfg:q} > {log} 2>&1"


rule stage1_features:
    """The cached-feature recipe (train.stage2.freeze_backbone): per-frame features of the backbone a
    stage-1 run trained (centre crop, eval mode), once per (run, seed, split), for its stage-2 runs.
    """
    input:
        model=EXPERIMENT.output_patterns("pretrain")["model"],
        frames=frame_store_path("{dataset}", "{split}"),
    output:
        EXPERIMENT.stage1_features_pattern(),
    log:
        "logs/stage1_features/{dataset}_{key}_seed{seed}_{split}.log",
    benchmark:
        f"{RESULTS}/benchmarks/stage1_features/{{dataset}}_{{key}}_seed{{seed}}_{{split}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=4000,
        gpu=GPU,
    params:
        cfg=step_settings("features"),
        backbone=lambda w: STAGE1[(w.dataset, w.key)]["model"]["backbone"],
        crop=lambda w: (
            f"--crop-size {STAGE1[(w.dataset, w.key)]['train']['crop_size']}"
            if STAGE1[(w.dataset, w.key)]["train"]["crop_size"]
            else ""
        ),
    shell:
        "python -m qbslt features --backbone {params.backbone} --frames {input.frames} --out {output}"
        " --stage1 {input.model} {params.crop} --no-progress --cfg {params.cfg:q} > {log} 2>&1"


rule train:
    """Stage 2 (Eq. 3-7) of one (dataset, variant, seed), then beam-search evaluation."""
    input:
        # examples, video, tokenizers, the stage-1 weights and, for RGB + skeleton variants
        # (model.skeleton), the keypoint stores: qbslt.experiment.Experiment.inputs
        unpack(job_inputs("train")),
    output:
        # metrics, test and dev predictions, SSAW weights, the model folder
        **job_outputs("train"),
    log:
        "logs/train/{dataset}_{variant}_seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}_{{variant}}_seed{{seed}}.tsv"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        mem_mb=4000,
        gpu=GPU,
        # the plan's estimate (paper profile; docs/paper-profile.md, "Running on SLURM")
        runtime=planned("train", "runtime", 60),
        attempts=planned("train", "attempts", 1),
        gpu_mem_mb=planned("train", "gpu_mem_mb", 0),
    params:
        cfg=lambda w: job_settings("train", w),
        video_dir=lambda w, input: os.path.dirname(input.video[0]),
        examples_dir=lambda w, input: os.path.dirname(input.examples[0]),
        checkpoints=lambda w: f"{CHECKPOINTS}/{w.dataset}/{w.variant}/seed{w.seed}",
        frame_size="{} {}".format(*CFG["data"]["frame_size"]),
        keypoints=lambda w, input: (
            f"--keypoints-dir {os.path.dirname(input.keypoints[0])}"
            if input.keypoints
            else ""
        ),
        launch=LAUNCH,
        stage=STAGE,
    shell:
        "{params.launch} train --dataset {wildcards.dataset} --variant {wildcards.variant} --seed {wildcards.seed}"
        " --examples-dir {params.examples_dir} --features-dir {params.video_dir}"
        " --decoder-tokenizer {input.decoder_tokenizer} --text-tokenizer {input.text_tokenizer}"
        " --stage1 {input.stage1} {params.keypoints} {params.stage} --checkpoint-dir {params.checkpoints} --frame-size {params.frame_size}"
        " --metrics {output.metrics}"
        " --predictions {output.predictions} --dev-predictions {output.dev_predictions}"
        " --ssaw {output.ssaw} --model-dir {output.model}"
        " --cfg {params.cfg:q} > {log} 2>&1"


rule train_all:
    """Target: every (dataset, variant, seed) of the experiment matrix, and the reference systems."""
    input:
        [
            f"{RESULTS}/metrics/{j.dataset}/{j.name}/seed{j.seed}.json"
            for j in EXPERIMENT.jobs()
            if j.kind in ("train", "reference")
        ],


rule reference:
    """Trivial references scored by the same evaluator: the question itself, nearest-question retrieval."""
    input:
        unpack(job_inputs("reference")),
    output:
        **job_outputs("reference"),
    log:
        "logs/reference/{dataset}_{system}.log",
    wildcard_constraints:
        system="copy_question|retrieve",
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        examples_dir=lambda w, input: os.path.dirname(input.examples[0]),
    shell:
        "python -m qbslt reference --system {wildcards.system} --dataset {wildcards.dataset}"
        " --examples-dir {params.examples_dir} --metrics {output.metrics} --predictions {output.predictions}"
        " --dev-predictions {output.dev_predictions} > {log} 2>&1"
