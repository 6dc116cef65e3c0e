"""``qbslt plan`` (:mod:`qbslt.plan`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qbslt.profiles import PROFILE_NAMES


def cmd_plan(args) -> int:
    from qbslt.plan import plan_targets

    print(plan_targets(Path(args.params), args.profile, args.target, snakefile=Path(args.snakefile),
                       gpu_tflops=args.gpu_tflops, mfu=args.mfu, measure=args.measure_flops,
                       data_dir=Path(args.data_dir)), end="")
    return 0


EXAMPLE = """example:
  qbslt plan --profile paper --target table5                          # one table on the real data
  qbslt plan --profile paper --target all --gpu-tflops 312 --mfu 0.4  # the whole matrix on A100s"""


def register(sub) -> None:
    from qbslt.plan import DEFAULT_GPU_TFLOPS, DEFAULT_MFU
    from qbslt.plan.targets import RELIANCE_TARGET, layout_tables, span, table_numbers

    p = sub.add_parser("plan", help="jobs per rule, disk and estimated GPU-hours of Snakemake targets, before running",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--profile", choices=list(PROFILE_NAMES), help="override params.yaml's profile")
    p.add_argument("--target", nargs="+", default=["all"],
                   help=f"Snakemake target(s): all (default), {span(table_numbers(), 'table')} (one table each), "
                        f"{RELIANCE_TARGET} (Tables {span(layout_tables())} and the input-reliance table), figure4, "
                        f"train_all, sigma_all, slslr_all, a file, ...")
    p.add_argument("--gpu-tflops", type=float, default=DEFAULT_GPU_TFLOPS,
                   help="GPU throughput, TFLOP/s (default %(default)g: H100/H200 SXM dense bf16)")
    p.add_argument("--mfu", type=float, default=DEFAULT_MFU,
                   help="share of --gpu-tflops a training step reaches (default %(default)g: measured on an H200)")
    p.add_argument("--measure-flops", action="store_true",
                   help="count the FLOPs of the configured models now (benchmarks/paper_scale.py --flops-only; "
                        "CPU minutes per model) instead of the measured constants")
    p.add_argument("--snakefile", default="Snakefile")
    p.add_argument("--data-dir", default="data", help="where prepared data (frame counts) may already be")
    p.set_defaults(func=cmd_plan)
