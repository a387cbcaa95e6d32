"""Log-likelihoods users can trust: normalizers, their diagnostics, and the truth."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import skdde._density as density_module
from skdde import DDEDensity, LogNormalizerEstimate, LogNormalizerWarning
from skdde.datasets import eight_gaussians

SMALL = dict(hidden_layer_sizes=(32, 32), max_iter=40, n_importance_samples=16384,
             device="cpu")


def _quiet_fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


@pytest.fixture(scope="module")
def eight():
    g = eight_gaussians(radius=2.0, std=0.1)
    return g, g.sample(3000, random_state=0)


@pytest.fixture(scope="module")
def fitted(eight):
    return _quiet_fit(DDEDensity(sigma=0.1, random_state=0, **SMALL), eight[1])


def _grid_log_z(est, lim=3.2, n=641):
    # log integral exp(s) by a fine grid: exact enough in 2-D to judge each method
    xs = np.linspace(-lim, lim, n)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    s = est.score_samples(grid) + est.log_normalizer_
    return logsumexp(s) + 2 * np.log(xs[1] - xs[0])


@pytest.mark.parametrize("method", ["gaussian", "mixture", "ais"])
def test_each_normalizer_matches_quadrature_within_its_error(fitted, method):
    exact = _grid_log_z(fitted)
    est = fitted.estimate_log_normalizer(method, n_samples=65536, random_state=1)
    assert isinstance(est, LogNormalizerEstimate) and est.method == method
    assert abs(est.log_z - exact) < 3 * est.stderr + 0.01, (est, exact)
    assert est.reliable


def test_refining_leaves_the_estimator_alone_unless_asked(fitted, eight):
    before = fitted.score_samples(eight[1][:10])
    attrs = (fitted.log_normalizer_, fitted.normalizer_, fitted.log_normalizer_khat_)
    est = fitted.estimate_log_normalizer("ais", n_samples=4096, random_state=3)
    assert (fitted.log_normalizer_, fitted.normalizer_, fitted.log_normalizer_khat_) == attrs
    np.testing.assert_array_equal(fitted.score_samples(eight[1][:10]), before)
    again = fitted.estimate_log_normalizer("ais", n_samples=4096, random_state=3)
    assert again == est  # a seed reproduces the estimate


def test_refining_with_update_changes_the_scores_consistently(eight):
    est = _quiet_fit(DDEDensity(sigma=0.1, random_state=0, **SMALL), eight[1])
    before, old = est.score_samples(eight[1][:10]), est.log_normalizer_
    new = est.estimate_log_normalizer("mixture", n_samples=32768, random_state=5, update=True)
    assert est.log_normalizer_ == new.log_z and est.normalizer_ == "mixture"
    assert est.log_normalizer_stderr_ == new.stderr and est.importance_ess_ == new.ess
    # only the constant moves: every score shifts by the change of log Z
    shift = est.score_samples(eight[1][:10]) - before
    np.testing.assert_allclose(shift, old - new.log_z, atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="exact"), "method must be"),
    (dict(n_samples=3), "n_samples must be"),
    (dict(n_samples=1000.5), "n_samples must be"),
])
def test_refine_rejects_bad_arguments(fitted, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fitted.estimate_log_normalizer(**kwargs)


def _fake(method, reliable):
    khat = 0.2 if reliable else 1.0
    return LogNormalizerEstimate(1.0, 0.01, 1000.0, khat, 4096, method)


def test_auto_takes_the_first_reliable_method_in_order_of_cost(fitted, monkeypatch):
    calls = []

    def fake_is(energy, proposal, n, k, g, method="gaussian"):
        calls.append(method)
        return _fake(method, reliable=method == "mixture")

    monkeypatch.setattr(density_module, "importance_sampling", fake_is)
    est = fitted.estimate_log_normalizer("auto")
    assert est.method == "mixture" and calls == ["gaussian", "mixture"]


def test_auto_falls_back_to_the_smallest_khat_and_fit_warns(eight, monkeypatch):
    def fake_is(energy, proposal, n, k, g, method="gaussian"):
        return _fake(method, reliable=False)._replace(khat=0.9 if method == "mixture" else 1.5)

    def fake_ais(*args, **kwargs):
        return _fake("ais", reliable=False)._replace(khat=1.2)

    monkeypatch.setattr(density_module, "importance_sampling", fake_is)
    monkeypatch.setattr(density_module, "annealed_importance_sampling", fake_ais)
    with pytest.warns(LogNormalizerWarning, match=r"'mixture'.*k-hat 0\.90"):
        est = DDEDensity(sigma=0.1, random_state=0, **dict(SMALL, max_iter=2)).fit(eight[1])
    assert est.normalizer_ == "mixture" and est.log_normalizer_khat_ == 0.9


def test_no_warning_when_the_estimate_is_reliable(eight):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogNormalizerWarning)
        est = DDEDensity(sigma=0.3, random_state=0, **dict(SMALL, max_iter=5)).fit(eight[1])
    assert est.log_normalizer_khat_ <= 0.7
