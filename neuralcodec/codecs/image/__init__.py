"""Image codecs."""

PRECISIONS = ("float32", "bfloat16", "auto")   # arithmetic of a learned codec's g_a and g_s (learned.py)
