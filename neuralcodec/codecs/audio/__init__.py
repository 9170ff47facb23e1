"""Audio tokenizers. ``encode_tokens`` / ``decode_tokens``: see :mod:`.api`."""
from .api import SAMPLE_RATE, decode_tokens, encode_tokens, tokenizer

__all__ = ["SAMPLE_RATE", "decode_tokens", "encode_tokens", "tokenizer"]
