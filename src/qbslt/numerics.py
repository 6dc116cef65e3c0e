"""The same numbers on every x86-64 machine: pin the CPU's numeric code paths before torch loads.

PyTorch picks its CPU kernels by the machine it runs on, and each pick sums floats in its own
order, so one training run gives other bytes on another machine:

* ATen dispatches its vectorised kernels (softmax, layer norm, element-wise ops) to the widest
  instruction set the CPU has: AVX-512, AVX2 or none;
* MKL, behind every matrix product, chooses its code path by processor (and by vendor);
* oneDNN chooses convolution kernels by instruction set; NNPACK sizes its tiles by the caches.

The pins: ATen's kernels at AVX2 (``ATEN_CPU_CAPABILITY``); MKL's conditional numerical
reproducibility at AVX2 (``MKL_CBWR``: the same results on every Intel or AMD processor with
AVX2); oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA``), whose AVX2 convolution kernels (``jit:avx2``,
``jit_1x1:avx2``) use fixed blocks, so their sums run in one order for a given thread count; and
no NNPACK (``configure_torch``). Threads are a setting of each run (``train.threads``), not of the
machine. AVX2 is on every x86-64 CPU made since about 2015; a machine without it, or another
architecture, computes other bytes (docs/performance.md).

``QBSLT_NUMERICS=native`` opts out: the machine's fastest kernels, numbers that differ in the last
bits from machine to machine (and from the committed tables).
"""

from __future__ import annotations

import os
import sys
import warnings

OPT_OUT_VARIABLE = "QBSLT_NUMERICS"
MODES = ("pinned", "native")
# Read by torch (ATen, MKL, oneDNN) when it loads or first computes: set before that.
PINNED_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def mode() -> str:
    """"pinned" (the default) or "native" (``QBSLT_NUMERICS=native``)."""
    value = os.environ.get(OPT_OUT_VARIABLE, "pinned")
    if value not in MODES:
        raise ValueError(f"{OPT_OUT_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def pin_environment() -> None:
    """Put the pins into ``os.environ`` (every child process inherits them). ``qbslt`` calls this on
    import, so anything that imports qbslt before torch is pinned; a torch loaded earlier may
    already have chosen its kernels, which is warned about."""
    try:
        if mode() == "native":
            return
    except ValueError as exc:
        warnings.warn(f"{exc}; using pinned", stacklevel=2)
    if "torch" in sys.modules and any(os.environ.get(k) != v for k, v in PINNED_ENVIRONMENT.items()):
        warnings.warn("torch was imported before qbslt: its CPU kernels may not be pinned "
                      "(import qbslt first, or set " + " ".join(f"{k}={v}" for k, v in PINNED_ENVIRONMENT.items())
                      + ")", stacklevel=2)
    os.environ.update(PINNED_ENVIRONMENT)


def configure_torch() -> None:
    """The pin no environment variable sets: no NNPACK convolutions. Every entry point that computes
    with torch (training, features, SL-SLR, translation) calls it."""
    import torch

    torch.backends.nnpack.set_flags(os.environ.get(OPT_OUT_VARIABLE, "pinned") == "native")
