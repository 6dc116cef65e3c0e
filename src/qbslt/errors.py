"""Exceptions that name the offending file, line or config key."""

from __future__ import annotations


class QbsltError(Exception):
    """Base class: a user-facing error whose message is complete on its own."""


class ConfigError(QbsltError):
    """A params.yaml key is unknown, ill-typed or inconsistent. The message names the key path."""

    @classmethod
    def for_key(cls, where: str, key: str, message: str) -> "ConfigError":
        """``<where>: key '<key>': <message>`` (e.g. where = "model config")."""
        return cls(f"{where}: key '{key}': {message}")


class AnnotationError(QbsltError):
    """A structurally malformed annotation line: message is ``FILE:LINE: what is wrong``."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.reason = str(path), line, message
        where = f"{path}:{line}:" if line is not None else f"{path}:"
        super().__init__(f"{where} {message}")


class FrameError(QbsltError):
    """A frame or video file that is missing or cannot be decoded (message names the file)."""


class DownloadError(QbsltError):
    """A download that failed, was truncated, or does not match its checksum."""


class DatasetMissingError(QbsltError):
    """A dataset that must be obtained by hand is not where the config says it is."""


class ResultError(QbsltError, ValueError):
    """A result file (metrics, predictions, SSAW weights) that is missing, corrupt or malformed, or a
    result path outside the result contract: the message names the file."""


class KeypointError(QbsltError):
    """A keypoint store (or a per-video keypoint file) that is missing, malformed or does not match its
    frame index, or a keypoint extractor that cannot run: the message names the file or the fix."""
