"""Shared parts of the in-repo scFMs: tokenizers, one transformer encoder, heads, pretraining, embedding."""
