"""Embedding drift: cosine statistics, PCA, MMD and the combined EmbeddingDrift report."""
