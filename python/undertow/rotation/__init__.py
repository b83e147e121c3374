"""Encoder rotation preview: old vs new encoder on the same documents and queries."""

from undertow.rotation.overlap import overlap_at_k, rbo
from undertow.rotation.preview import DEFAULT_THRESHOLDS, rotation_preview
from undertow.rotation.report import RotationReport

__all__ = ["DEFAULT_THRESHOLDS", "RotationReport", "overlap_at_k", "rbo", "rotation_preview"]
