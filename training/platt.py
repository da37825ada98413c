"""Platt calibration shared by the binary classifiers (transformer failure, theft).

p = expit(a * logit + b), fitted on validation logits by minimising the log-loss against Platt's
smoothed targets ((N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for negatives: no divergence
when validation is separable) plus a light L2 pull of the slope towards 1 (the intercept is free,
so the mean calibrated probability equals the mean smoothed target). The loss is
written with log-sigmoids and the probabilities with `expit`, so no logit overflows; the optimiser
is L-BFGS-B with the analytic gradient and the slope bounded in [min_slope, max_slope] (a step is
no calibration, and a negative slope would invert the ranking).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

MIN_SLOPE = 1e-3
MAX_SLOPE = 5.0
L2 = 1e-3


def _loss_and_grad(
    w: np.ndarray, x: np.ndarray, t: np.ndarray, l2: float
) -> tuple[float, np.ndarray]:
    """Mean smoothed log-loss of expit(w[0] * x + w[1]) plus the slope's L2 pull towards 1, and
    its gradient."""
    z = w[0] * x + w[1]
    loss = -np.mean(t * log_expit(z) + (1 - t) * log_expit(-z))
    resid = expit(z) - t
    grad = np.array([np.mean(resid * x) + l2 * (w[0] - 1.0), np.mean(resid)])
    return float(loss + 0.5 * l2 * (w[0] - 1.0) ** 2), grad


@dataclass
class Platt:
    """Logistic calibration of a classifier's logit (raw score): p = expit(a * logit + b)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(
        cls,
        logit: np.ndarray,
        y: np.ndarray,
        l2: float = L2,
        max_slope: float = MAX_SLOPE,
    ) -> Platt:
        """The calibration fitted on validation logits and 0/1 labels; the identity when the
        labels hold one class only (nothing to calibrate on)."""
        x = np.asarray(logit, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"logits {x.shape} and labels {y.shape} differ in shape")
        if not np.isfinite(x).all():
            raise ValueError("Platt calibration needs finite logits")
        n_pos = float(y.sum())
        n_neg = len(y) - n_pos
        if n_pos == 0 or n_neg == 0:
            return cls()
        t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        start = np.array([min(1.0, max_slope), 0.0])
        result = minimize(
            _loss_and_grad,
            start,
            args=(x, t, l2),
            jac=True,
            method="L-BFGS-B",
            bounds=[(MIN_SLOPE, max_slope), (None, None)],
            options={"maxiter": 200, "gtol": 1e-10, "ftol": 1e-14},
        )
        a, b = result.x
        return cls(float(a), float(b))

    def __call__(self, logit: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the given logits."""
        return expit(self.a * np.asarray(logit, dtype=float) + self.b)
