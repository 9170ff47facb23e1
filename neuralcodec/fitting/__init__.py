"""What the overfitted codecs share: each encode fits a small network to one image or clip.

- :mod:`.loop`    the fitting loop (schedule, phases, progress bar)
- :mod:`.arm`     the autoregressive context model of integer latent grids, float and integer twins
- :mod:`.params`  quantisation-step search and coding of a fitted network's parameters
"""
