"""How far apart two float32 computations of the same thing may be when they sum in different
orders: tolerances derived from float32's rounding, not from the last digits one machine gave.

Sums run in another order under another replica count (each replica sums its half of the batch,
then the halves are added), under XLA (fused loops), on another CPU (oneDNN and Eigen pick
kernels and SIMD widths by CPU and by batch size) or against NumPy. Every such order is as right
as any other; the comparisons in tests/ that cross one use these bounds. Comparisons of one
computation with itself (a deterministic rerun, a resume, a checkpoint read back) stay exact.

u = 2^-24 is float32's unit roundoff (half of np.finfo(np.float32).eps). A sum of n terms, in
any order, is within gamma(n) * sum(|terms|) of the exact sum, gamma(n) = n*u / (1 - n*u)
(Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., section 4.2). That is the
worst case: errors of random sign make it about sqrt(n) times smaller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.stats

U32 = 2.0**-24  # float32's unit roundoff
UBF16 = 2.0**-8  # bfloat16's: 8 significant bits


def gamma(terms: int, unit_roundoff: float = U32) -> float:
    """Higham's gamma_n: the relative error bound of a sum of `terms` terms, in any order."""
    return terms * unit_roundoff / (1.0 - terms * unit_roundoff)


def adam_step_bound(beta_1: float, beta_2: float, step: int) -> float:
    """The largest |m_hat / sqrt(v_hat)| of Adam's step `step` (from 1), over every gradient
    history: the most one step moves an element, in learning rates (epsilon only shrinks it).

    m_t = sum_i w_i g_i and v_t = sum_i c_i g_i^2, with w_i = (1 - b1) b1^(t-i) and
    c_i = (1 - b2) b2^(t-i); by Cauchy-Schwarz |m_t| <= sqrt(sum_i w_i^2 / c_i) sqrt(v_t). With
    the bias corrections: 1 at the first step, about 1.05 at the second and 1.6 at the eighth
    for (0.5, 0.999), never above 18.3.
    """
    weights = sum(
        ((1 - beta_1) * beta_1 ** (step - i)) ** 2 / ((1 - beta_2) * beta_2 ** (step - i))
        for i in range(1, step + 1)
    )
    return math.sqrt(weights) * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)


class _Variable(Protocol):  # a keras.Variable, as far as the comparison needs one
    path: str
    trainable: bool

    def numpy(self) -> np.ndarray: ...


@dataclass(frozen=True)
class AdamRun:
    """Bounds how far two float32 runs of the same Adam training (equal start, equal data, sums
    in different orders) can end apart.

    1. Adam moves an element at most learning_rate * adam_step_bound(...) per step, whatever
       its gradient: after S steps at most `travel`, so two runs differ by at most 2 * travel
       in any element. That is all one element admits: a gradient within rounding of zero may
       take either sign in either run, which is why an element-wise test with a tolerance taken
       from one machine fails on another (one element of 4,608 moved 1.1e-5 on an AMD EPYC).
    2. Only such elements can differ that much. A weight's gradient is a sum of at most `terms`
       terms: within gamma(terms) of its terms' magnitudes. If |gradient| / sum |terms| has a
       density of at most 1 near zero, a fraction f = S * gamma(terms) of the elements are
       within rounding of zero at some step (the worst case: errors of random sign give about
       S * u * sqrt(terms)); the others' steps agree to relative O(gamma), far below.
    3. So, over a tensor of N elements: ||a - b|| <= 2 * travel * sqrt(k), k the number of
       unsettled elements, f * N on average. Which elements are unsettled is chance: k is
       taken as Poisson(f * N)'s quantile at 1 - 1e-6 (unsettled_elements), so a tensor of
       expected f * N = 0.19 may still hold one (measured: one element of a FiLM bias on an
       AMD EPYC without AVX-512 moved 1.8 learning rates apart, 2x the mean-only bound). A dense
       layer's kernel (fan_in, units) is the exception to independent elements: its gradient
       is x^T delta over a batch of similar inputs (Style2paints' FiLM layers read hints of
       one reference style), so a unit whose delta is within rounding of zero may flip its
       whole column: k counts unsettled units there, each of fan_in elements (measured on
       that EPYC: a FiLM kernel 2.46e-3 apart, 38 elements' full flips, where independent
       elements allowed 32). A real fault (a
       replica on the wrong half of the batch, per-replica statistics in place of the global
       batch's) changes every gradient by O(1): ||a - b|| is of order travel * sqrt(N), about
       1 / (2 sqrt(f)) times the bound. (Gradients all scaled by 2 are invisible to Adam but
       through its epsilon: no tolerance on weights can see that fault reliably.) Measured on
       the two-replica tests' runs: two replicas at most 0.0006 of the bound (Style2paints) and
       0.00006 (Pix2Pix); the AMD element 0.004; both replicas on one half 11x and 10^4x over;
       Pix2Pix with unsynchronized BatchNorm 2.5x over.
    4. Non-trainable state (BatchNorm's moving mean and variance) is start * m^S plus an
       average of S batch statistics, which the runs compute from their weights: those differ
       relatively less than their updates do (weights are larger than their travel), so the
       statistics may differ by 2 sqrt(f) of the averaged part, ||a - m^S * start||, taking a
       channel's batch statistic to keep its sign over the run (a variance always does).

    `terms` is the most terms one float32 sum of a step adds: a kernel's gradient sums over the
    global batch's pixels (batch * size^2 at full resolution), a layer over its fan-in (VGG19's
    fc1: 7 * 7 * 512 = 25,088). Shorter sums feeding it add their own, smaller, gamma: covered
    by the sqrt(n) the worst case over-estimates.
    """

    steps: int
    learning_rate: float
    beta_1: float
    beta_2: float
    terms: int
    batch_norm_momentum: float = 0.9  # networks.py's BatchNormalization (PyTorch's 0.1)

    @classmethod
    def of(cls, optimizer: Any, *, steps: int, terms: int) -> AdamRun:
        """From a config's Adam settings (OptimizerConfig, NSTSettings; beta_2 by default
        Keras' 0.999)."""
        return cls(
            steps=steps,
            learning_rate=optimizer.learning_rate,
            beta_1=optimizer.beta_1,
            beta_2=getattr(optimizer, "beta_2", 0.999),
            terms=terms,
        )

    @property
    def travel(self) -> float:
        """The most S steps can move one element."""
        steps = range(1, self.steps + 1)
        return self.learning_rate * sum(adam_step_bound(self.beta_1, self.beta_2, t) for t in steps)

    @property
    def unsettled_fraction(self) -> float:
        """f: the fraction of elements whose gradient may be within rounding of zero."""
        return min(1.0, self.steps * gamma(self.terms))

    @property
    def rms_per_element(self) -> float:
        """How far, root-mean-square, the elements of a large tensor may differ under the bound
        (2 * travel * sqrt(f)): what training must move them beyond for a test to mean
        something."""
        return 2.0 * self.travel * math.sqrt(self.unsettled_fraction)

    def unsettled_elements(self, size: int, miss: float = 1e-6) -> int:
        """k: at most this many of `size` elements are unsettled, but with probability `miss`
        (Poisson(f * size)'s upper quantile; never more than `size`)."""
        quantile = scipy.stats.poisson.ppf(1.0 - miss, self.unsettled_fraction * size)
        return min(size, int(quantile))

    def tolerance(self, desired: np.ndarray, start: np.ndarray | None = None) -> float:
        """The bound on ||actual - desired|| (2-norm over the tensor): a trained tensor's, or,
        given its `start`, a moving statistic's."""
        if start is None:
            # A dense kernel's columns flip together (point 3); any other tensor's elements alone.
            units, fan_in = (
                (desired.shape[1], desired.shape[0]) if desired.ndim == 2 else (desired.size, 1)
            )
            return 2.0 * self.travel * math.sqrt(self.unsettled_elements(units) * fan_in)
        averaged = desired - self.batch_norm_momentum**self.steps * start
        return 2.0 * math.sqrt(self.unsettled_fraction) * float(np.linalg.norm(averaged))

    def assert_alike(
        self,
        actual: np.ndarray,
        desired: np.ndarray,
        *,
        start: np.ndarray | None = None,
        name: str = "",
    ) -> None:
        """actual is within `tolerance` of desired; integer state (an RNG's) is equal."""
        if not np.issubdtype(desired.dtype, np.floating):
            np.testing.assert_array_equal(actual, desired, err_msg=name)
            return
        a, b = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
        distance, bound = float(np.linalg.norm(a - b)), self.tolerance(b, start)
        assert distance <= bound, (
            f"{name}: ||a - b|| = {distance:.3g} > {bound:.3g} (largest element difference "
            f"{np.abs(a - b).max():.3g}; {self})"
        )

    def assert_networks_alike(
        self,
        actual: Sequence[_Variable],
        desired: Sequence[_Variable],
        initial: Sequence[_Variable] | None = None,
    ) -> None:
        """Every variable of two networks' `weights`, in order; `initial` (the networks before
        training) is needed only for non-trainable float state such as moving statistics."""
        starts = [None] * len(desired) if initial is None else initial
        for a, b, start in zip(actual, desired, starts, strict=True):
            moving = not b.trainable and np.issubdtype(b.numpy().dtype, np.floating)
            if moving and start is None:
                raise ValueError(f"{b.path} is not trained by Adam: pass the initial networks")
            self.assert_alike(
                a.numpy(), b.numpy(), start=start.numpy() if moving else None, name=b.path
            )


def forward_rtol(depth: int, fan_in: int, rounding: float = 0.0) -> float:
    """How far, relatively, one forward pass through `depth` layers that each sum at most
    `fan_in` terms can move under another summation order: the layers' gamma(fan_in) add up
    (to first order), plus `rounding` per layer where inputs and weights are rounded to a
    narrower type (2 * UBF16 under mixed_bfloat16: both operands of every product). Holds while
    a layer's output is about as large as its terms allow (normalization keeps them so; a
    value that cancels to near zero has a larger relative error, so compare nonnegative means
    such as losses, or outputs with this as an absolute tolerance on an O(1) scale)."""
    return depth * (gamma(fan_in) + rounding)


def assert_close_in_norm(actual: Any, desired: Any, rtol: float, name: str = "") -> None:
    """||actual - desired|| <= rtol * ||desired||, over the whole tensor: a forward pass's
    relative bound (forward_rtol) holds for the tensor, not for each element (one that cancels
    to near zero has none)."""
    a, b = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    distance, bound = float(np.linalg.norm(a - b)), rtol * float(np.linalg.norm(b))
    assert distance <= bound, f"{name}: ||a - b|| = {distance:.3g} > {bound:.3g} (rtol {rtol:.3g})"
