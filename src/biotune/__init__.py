"""biotune: fine-tune and evaluate pretrained biological sequence models."""

__version__ = "0.1.0"
