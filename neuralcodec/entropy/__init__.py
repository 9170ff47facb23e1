"""The shared entropy-coding layer.

- :mod:`.tables`     integer CDF tables (the contract between models and coders)
- :mod:`.families`   quantized Gaussian/Laplace/logistic scale tables and their training twins
- :mod:`.factorized` Ballé 2018's non-parametric per-channel density
- :mod:`.rans`       interleaved rANS (C lanes, numpy and torch: identical bytes)
- :mod:`.escape`     exact coding of values outside a table's support
- :mod:`.container`  the file format (stdlib only)
"""
