"""Fast batched protein embeddings (ESM-2, UniRep) with an on-disk HDF5 cache (``biotune embed``).

The engine names are resolved lazily (PEP 562) so that importing the cache or the CLI module does
not import torch: every ``biotune`` command would otherwise pay for it at start-up.
"""

from biotune.embed.cache import EmbeddingCache

__all__ = ["EmbeddingCache", "EmbeddingEngine", "embed_residues", "embed_sequences", "make_engine"]
_ENGINE_NAMES = {"EmbeddingEngine", "embed_residues", "embed_sequences", "make_engine"}


def __getattr__(name: str):
    if name in _ENGINE_NAMES:
        from biotune.embed import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'biotune.embed' has no attribute {name!r}")
