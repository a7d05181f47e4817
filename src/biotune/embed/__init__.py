"""Fast batched ESM-2 embeddings with an on-disk HDF5 cache (``biotune embed``)."""

from biotune.embed.cache import EmbeddingCache
from biotune.embed.engine import EmbeddingEngine, embed_residues, embed_sequences, make_engine

__all__ = ["EmbeddingCache", "EmbeddingEngine", "embed_residues", "embed_sequences", "make_engine"]
