"""neuralcodec: neural codecs for images, audio and video over one shared entropy-coding layer.

Importing the package is cheap (no torch); submodules load what they need.
"""
__version__ = "0.1.0"
