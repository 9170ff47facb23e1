"""Bjøntegaard deltas via the ``bjontegaard`` package: classic cubic (``np.polyfit``) and PCHIP."""
from __future__ import annotations

import warnings

import numpy as np

METHODS = ("cubic", "pchip")


def _curve(rate, dist) -> tuple[np.ndarray, np.ndarray]:
    r, d = np.asarray(rate, np.float64), np.asarray(dist, np.float64)
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    order = np.argsort(r[keep])
    return r[keep][order], d[keep][order]


def _delta(fn_name: str, rate_a, dist_a, rate_t, dist_t, method: str) -> float | None:
    import bjontegaard as bd
    ra, da = _curve(rate_a, dist_a)
    rt, dt = _curve(rate_t, dist_t)
    if len(ra) < 4 or len(rt) < 4:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = float(getattr(bd, fn_name)(ra, da, rt, dt, method=method, require_matching_points=False,
                                           min_overlap=0))
    except (ValueError, np.linalg.LinAlgError):
        return None
    return v if np.isfinite(v) else None


def bd_rate(rate_a, dist_a, rate_t, dist_t, method: str = "cubic") -> float | None:
    """Average rate difference (%) of test vs anchor at equal quality; ``None`` if undefined
    (fewer than 4 points, non-monotone curves for PCHIP, or no overlap)."""
    return _delta("bd_rate", rate_a, dist_a, rate_t, dist_t, method)


def bd_quality(rate_a, dist_a, rate_t, dist_t, method: str = "cubic") -> float | None:
    """Average quality difference of test vs anchor at equal rate (dB for PSNR)."""
    return _delta("bd_psnr", rate_a, dist_a, rate_t, dist_t, method)


def rate_at_quality(rate_a, dist_a, dist_t) -> list[float | None]:
    """The anchor's rate at each quality of ``dist_t``: PCHIP of log-rate over quality through the
    anchor's points (the interpolant of :func:`bd_rate`'s PCHIP method), ``None`` outside the
    anchor's quality range or where its curve is not increasing.

    Where BD-rate averages, this says where on the curve a codec gains or loses: compare
    ``rate_t[i]`` with the returned ``rate[i]``."""
    from scipy.interpolate import PchipInterpolator
    ra, da = _curve(rate_a, dist_a)
    if len(ra) < 2 or np.any(np.diff(da) <= 0):
        return [None] * len(dist_t)
    fn = PchipInterpolator(da, np.log(ra), extrapolate=False)
    out = [float(np.exp(fn(d))) if da[0] <= d <= da[-1] else None for d in np.asarray(dist_t, np.float64)]
    return [v if v is not None and np.isfinite(v) else None for v in out]
