#!/usr/bin/env python3
"""Fits the polynomial behind the exponential decay kernels' 2^x (`EXP2_POLY` in
src/rust_backend/decay.rs, `exp2_poly` in zig/src/decay.zig) and reports its error.

    2^f ≈ 1 + c1·f + … + c6·f^6   on |f| ≤ 1/2

c0 = 1 is kept exact (age 0 keeps the full strength). The other coefficients minimize the
largest relative error, found by Lawson's algorithm (least squares reweighted by the error,
which converges to the minimax fit) on Chebyshev points. The error is then measured on a
fine grid, with the polynomial evaluated in f64 by Horner's rule exactly as the kernels do
(multiply, then add; no FMA), against 2^f in 40-digit arithmetic.

Not part of the build or the tests (the kernels' unit tests check the stated error). Needs
numpy and mpmath:  python3 -m venv /tmp/fit && /tmp/fit/bin/pip install numpy mpmath &&
/tmp/fit/bin/python tools/fit_exp2.py   (about 30 s; it prints the coefficients and 1.97e-09 as the worst error).
"""

import mpmath
import numpy as np

DEGREE = 6


def fit(degree: int, points: int = 8001, iterations: int = 20000) -> list[float]:
    f = np.cos(np.linspace(0.0, np.pi, points)) * 0.5
    y = 2.0**f
    # Relative error of 1 + Σ c_k f^k is (Σ c_k f^k − (y − 1)) / y: linear in c.
    a = np.stack([f**k for k in range(1, degree + 1)], axis=1) / y[:, None]
    b = (y - 1.0) / y
    w = np.full_like(f, 1.0 / points)
    for _ in range(iterations):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
        w = w * np.abs(a @ c - b)
        w /= w.sum()
    return [1.0] + [float(v) for v in c]


def worst_relative_error(coefficients: list[float], samples: int = 400001) -> tuple[float, float]:
    mpmath.mp.dps = 40
    worst, at = 0.0, 0.0
    for x in np.linspace(-0.5, 0.5, samples):
        x = float(x)
        p = coefficients[-1]
        for c in reversed(coefficients[:-1]):
            p = p * x + c
        exact = mpmath.power(2, mpmath.mpf(x))
        error = abs(float((mpmath.mpf(p) - exact) / exact))
        if error > worst:
            worst, at = error, x
    return worst, at


if __name__ == "__main__":
    coefficients = fit(DEGREE)
    for c in coefficients:
        print(repr(c))
    worst, at = worst_relative_error(coefficients)
    print(f"worst relative error {worst:.3g} at f = {at}")
