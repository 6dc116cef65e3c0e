"""The model parts the methods share (SSL-SSAW: qbslt.ssl_ssaw, Sigma: qbslt.sigma, SL-SLR: qbslt.slslr).

    configuration      ModelConfig (what every method's config shares), VideoConfig, BACKBONES, hub_kwargs
    video_embedding    FrameBackbone, TemporalEmbedding, VideoEmbedding
    skeleton           the keypoint features and the joint MLP of the RGB + skeleton models
    contrastive        the Table-3 alignment strategies, Eq. 1's loss, InfoNCE, the cross-rank gather
    pretrained         save_pretrained / from_pretrained: a model folder (config.json, model.safetensors)
"""

from importlib import import_module

# Where each public name lives. Imported on first use (PEP 562), so that reading the
# configuration (``qbslt.model.configuration``, as Snakemake does at DAG time) does not import
# torch and transformers.
_HOMES = {
    "ModelConfig": "configuration", "VideoConfig": "configuration",
    "contrastive_loss": "contrastive", "info_nce": "contrastive",
    "FrameBackbone": "video_embedding", "TemporalEmbedding": "video_embedding", "VideoEmbedding": "video_embedding",
    "extract_features": "video_embedding",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
