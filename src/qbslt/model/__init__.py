"""SSL-SSAW model parts (one module each) on Hugging Face mBART / mBERT and torchvision backbones.

    configuration      ModelConfig, QBSLTConfig
    sigma_configuration SigmaConfig of the Sigma baseline (qbslt.sigma) and its settings check
    video_embedding    FrameBackbone, TemporalEmbedding, VideoEmbedding
    text_embedding     TextEmbedding, TextEncoder
    fusion             ConcatFusion, LSTMFusion, TCNFusion, SSAWFusion, build_fusion, pack
    contrastive        ContrastiveHead and the Table-3 alignment strategies
    modeling_qbslt     QBSLTModel (stage-1 / stage-2 losses, generation, stage-1 -> stage-2 transfer)
    pretrained         save_pretrained / from_pretrained: a model folder (config.json, model.safetensors,
                       tokenizers), for QBSLTModel and Sigma's SigmaModel
"""

from importlib import import_module

# Where each public name lives. Imported on first use (PEP 562), so that reading the
# configuration (``qbslt.model.configuration``, as Snakemake does at DAG time) does not import
# torch and transformers.
_HOMES = {
    "QBSLTConfig": "configuration",
    "ContrastiveHead": "contrastive", "contrastive_loss": "contrastive",
    "ConcatFusion": "fusion", "LSTMFusion": "fusion", "SSAWFusion": "fusion", "TCNFusion": "fusion",
    "build_fusion": "fusion", "pack": "fusion",
    "QBSLTModel": "modeling_qbslt",
    "TextEmbedding": "text_embedding", "TextEncoder": "text_embedding",
    "FrameBackbone": "video_embedding", "TemporalEmbedding": "video_embedding", "VideoEmbedding": "video_embedding",
    "extract_features": "video_embedding",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
