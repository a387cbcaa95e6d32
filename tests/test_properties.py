"""Property-based checks over shapes, dtypes and magnitudes of the input.

Derandomized, so every run (and CI) draws the same examples.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skdde import DDEDensity, DDEGenerator

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0,
            training_options=dict(n_importance_samples=512, mala_burn_in=5, mala_n_steps=5))
FEW = settings(max_examples=20, deadline=None, derandomize=True)

DTYPES = [np.float16, np.float32, np.float64, np.int32]


@st.composite
def datasets(draw, min_rows=3):
    """Arrays of any accepted dtype and a magnitude the dtype can hold, with the
    magnitude they were drawn at (``sigma`` is a tenth of it)."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.tuples(st.integers(min_rows, 40), st.integers(1, 3)))
    unit = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1, 1, width=16)))
    low, high = {np.float16: (-3, 4), np.int32: (-3, 8)}.get(dtype, (-12, 12))
    scale = 10.0 ** draw(st.integers(low, high))
    X = (unit * scale).astype(dtype)
    return X, scale


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


@FEW
@given(datasets())
def test_density_fits_any_finite_array_to_finite_scores_and_samples(data):
    X, scale = data
    est = _fit(DDEDensity(sigma=0.1 * scale, **TINY), X)
    scores = est.score_samples(X)
    assert scores.shape == (len(X),) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and np.isfinite(est.log_normalizer_)
    samples = est.sample(4, random_state=0)
    assert samples.shape == (4, X.shape[1]) and np.isfinite(samples).all()


@FEW
@given(datasets())
def test_data_shaped_noise_fits_any_finite_array_to_finite_scores_and_samples(data):
    X, scale = data  # sigma is in whitened units: no scale to follow
    est = _fit(DDEDensity(sigma=0.1, noise_covariance="data", **TINY), X)
    assert np.isfinite(est.score_samples(X)).all() and np.isfinite(est.log_normalizer_)
    assert np.isfinite(est.sample(4, random_state=0)).all()


@settings(FEW, max_examples=8)
@given(datasets())
def test_generator_fits_any_finite_array_to_finite_samples(data):
    X, scale = data
    options = dict(dde_hidden_layer_sizes=(8,), n_importance_samples=512)
    est = _fit(DDEGenerator(sigma=0.1 * scale, hidden_layer_sizes=(8,), max_iter=3,
                            training_options=options, density=DDEDensity(**TINY),
                            device="cpu", random_state=0), X)
    assert np.isfinite(est.sample(4, random_state=0)).all()
    assert np.isfinite(est.score_samples(X)).all()


@FEW
@given(datasets(), st.data())
def test_a_single_non_finite_value_is_named(data, draw):
    X, scale = data
    X = X.astype(np.float64)
    i = draw.draw(st.integers(0, X.shape[0] - 1))
    j = draw.draw(st.integers(0, X.shape[1] - 1))
    bad = draw.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    X[i, j] = bad
    with pytest.raises(ValueError, match="NaN" if np.isnan(bad) else "infinity"):
        DDEDensity(sigma=0.1 * scale, **TINY).fit(X)


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(0).normal(size=(100, 2))
    return _fit(DDEDensity(sigma=0.3, **TINY), X)


@FEW
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=st.floats(-10, 10)))
def test_scoring_any_shape_gives_one_score_per_row_or_names_the_problem(fitted, X):
    if X.ndim == 2 and X.shape[1] == 2:
        assert np.isfinite(fitted.score_samples(X)).all()
    else:
        with pytest.raises(ValueError, match="2D array|dim 3|features"):
            fitted.score_samples(X)
