"""The faiss index auditor: retrieval debt found by checking an index against its source of
truth (the documents table), its own vectors, fresh embeddings and an earlier audit."""

from undertow.audit._report import CHECKS, AuditReport, Check
from undertow.audit.auditor import DEFAULT_THRESHOLDS, audit_index

__all__ = ["CHECKS", "DEFAULT_THRESHOLDS", "AuditReport", "Check", "audit_index"]
