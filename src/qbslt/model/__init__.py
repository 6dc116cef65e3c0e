"""SSL-SSAW model parts (one module each) on Hugging Face mBART / mBERT and torchvision backbones.

    configuration      QBSLTConfig
    video_embedding    FrameBackbone, TemporalEmbedding, VideoEmbedding
    text_embedding     TextEmbedding, TextEncoder
    fusion             ConcatFusion, LSTMFusion, TCNFusion, SSAWFusion, build_fusion, pack
    contrastive        ContrastiveHead and the Table-3 alignment strategies
    modeling_qbslt     QBSLTModel (stage-1 / stage-2 losses, generation, stage-1 -> stage-2 transfer)
"""

from qbslt.model.configuration import QBSLTConfig
from qbslt.model.contrastive import ContrastiveHead, contrastive_loss
from qbslt.model.fusion import (ConcatFusion, LSTMFusion, SSAWFusion, TCNFusion, build_fusion, pack)
from qbslt.model.modeling_qbslt import QBSLTModel
from qbslt.model.text_embedding import TextEmbedding, TextEncoder
from qbslt.model.video_embedding import FrameBackbone, TemporalEmbedding, VideoEmbedding, extract_features

__all__ = [
    "QBSLTConfig", "QBSLTModel",
    "FrameBackbone", "TemporalEmbedding", "VideoEmbedding", "extract_features",
    "TextEmbedding", "TextEncoder",
    "ConcatFusion", "LSTMFusion", "TCNFusion", "SSAWFusion", "build_fusion", "pack",
    "ContrastiveHead", "contrastive_loss",
]
