"""Codecs: each turns media into symbols for the entropy layer and back."""
