"""SSL-SSAW (arXiv 2509.14036), in the Hugging Face shape, on mBART / mBERT and torchvision backbones.

    configuration_ssl_ssaw  QBSLTConfig: every hyper-parameter, the paper's ablation axes
    modeling_ssl_ssaw       QBSLTModel (stage-1 / stage-2 losses, generation, stage-1 -> stage-2 transfer;
                            save_pretrained / from_pretrained, registered with AutoConfig / AutoModel)
    text_embedding          TextEmbedding, TextEncoder
    fusion                  ConcatFusion, LSTMFusion, TCNFusion, SSAWFusion, build_fusion, pack
    contrastive_head        ContrastiveHead (Eq. 1, the Table-3 alignment of ``alignment``)
    model_card              the README.md of a model folder
    run                     stage 1 and stage 2 of one variant and seed, then evaluation

The video embedding and the losses it shares with the other methods are in :mod:`qbslt.model`.
"""

from importlib import import_module

# Where each public name lives. Imported on first use (PEP 562), so that reading the configuration
# (as Snakemake does at DAG time) does not import torch and transformers.
_HOMES = {
    "QBSLTConfig": "configuration_ssl_ssaw",
    "QBSLTModel": "modeling_ssl_ssaw",
    "ContrastiveHead": "contrastive_head",
    "ConcatFusion": "fusion", "LSTMFusion": "fusion", "SSAWFusion": "fusion", "TCNFusion": "fusion",
    "build_fusion": "fusion", "pack": "fusion",
    "TextEmbedding": "text_embedding", "TextEncoder": "text_embedding",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
