"""Log-likelihoods users can trust: normalizers, their diagnostics, and the truth."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import skdde._normalizer as normalizer_module
from skdde import DDEDensity, LogNormalizerEstimate, LogNormalizerWarning
from skdde.datasets import eight_gaussians

SMALL = dict(hidden_layer_sizes=(32, 32), max_iter=40,
             training_options=dict(n_importance_samples=16384), device="cpu")


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


@pytest.mark.parametrize("reliable, expected", [
    ({"gaussian", "mixture"}, "mixture"),  # both fine: the larger log Z (a lower bound)
    ({"gaussian"}, "gaussian"),
    (set(), "ais"),
])
def test_auto_prefers_the_tighter_reliable_bound_and_ais_last(
    fitted, monkeypatch, reliable, expected
):
    calls = []

    def fake_is(energy, proposal, n, k, g, method="gaussian"):
        calls.append(method)
        log_z = {"gaussian": 1.0, "mixture": 1.2}[method]
        return _fake(method, method in reliable)._replace(log_z=log_z)

    def fake_ais(*args, **kwargs):
        calls.append("ais")
        return _fake("ais", True)

    monkeypatch.setattr(normalizer_module, "importance_sampling", fake_is)
    monkeypatch.setattr(normalizer_module, "annealed_importance_sampling", fake_ais)
    est = fitted.estimate_log_normalizer("auto")
    assert est.method == expected
    assert calls == ["gaussian", "mixture"] + (["ais"] if not reliable else [])


def test_auto_falls_back_to_the_largest_estimate_and_fit_warns(eight, monkeypatch):
    # none passes: the largest log Z, the least likely to flatter, whatever the k-hats
    def fake_is(energy, proposal, n, k, g, method="gaussian"):
        est = _fake(method, reliable=False)
        return est._replace(log_z=3.0, khat=1.5) if method == "gaussian" else est._replace(khat=0.9)

    def fake_ais(*args, **kwargs):
        return _fake("ais", reliable=False)._replace(log_z=2.0, khat=1.2)

    monkeypatch.setattr(normalizer_module, "importance_sampling", fake_is)
    monkeypatch.setattr(normalizer_module, "annealed_importance_sampling", fake_ais)
    with pytest.warns(LogNormalizerWarning, match=r"'gaussian'.*k-hat 1\.50"):
        est = DDEDensity(sigma=0.1, random_state=0, **dict(SMALL, max_iter=2)).fit(eight[1])
    assert est.normalizer_ == "gaussian" and est.log_normalizer_khat_ == 1.5


def test_no_warning_when_the_estimate_is_reliable(eight):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogNormalizerWarning)
        est = DDEDensity(sigma=0.3, random_state=0, **dict(SMALL, max_iter=5)).fit(eight[1])
    assert est.log_normalizer_khat_ <= 0.7


def test_problems_attribute_names_the_checks_that_failed(eight, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogNormalizerWarning)
        est = DDEDensity(sigma=0.3, random_state=0, **dict(SMALL, max_iter=5)).fit(eight[1])
    assert est.log_normalizer_problems_ == []

    def fake_is(energy, proposal, n, k, g, method="gaussian"):
        return _fake(method, reliable=False)

    monkeypatch.setattr(normalizer_module, "importance_sampling", fake_is)
    with pytest.warns(LogNormalizerWarning) as record:
        new = est.estimate_log_normalizer("gaussian", update=True)
    assert est.log_normalizer_problems_ == new.problems and new.problems
    assert all(problem in str(record[0].message) for problem in new.problems)


# --- sigma="auto" -------------------------------------------------------------------

@pytest.fixture(scope="module")
def auto_fit(eight):
    est = DDEDensity(sigma="auto", random_state=0, **dict(SMALL, max_iter=60))
    return _quiet_fit(est, eight[1])


def test_auto_sigma_keeps_the_best_stage_of_its_path(auto_fit):
    path, scores = auto_fit.sigma_path_, auto_fit.sigma_path_scores_
    assert len(path) == len(scores) >= 2
    assert np.all(np.diff(path) < 0)  # annealed from large to small
    assert path[0] == pytest.approx(np.sqrt(auto_fit._cov.diagonal().mean()), rel=1e-6)
    assert auto_fit.sigma_ == path[np.nanargmax(scores)]


def test_auto_sigma_beats_an_oversmoothed_fixed_sigma_on_held_out_data(auto_fit, eight):
    g, X = eight
    X_test = g.sample(3000, random_state=7)
    wide = _quiet_fit(DDEDensity(sigma=1.0, random_state=0, **dict(SMALL, max_iter=60)), X)
    assert auto_fit.score(X_test) > wide.score(X_test) + 0.5
    assert auto_fit.score(X_test) <= g.log_density(X_test).mean() + 0.05  # Gibbs


def test_auto_sigma_is_reproducible_and_holds_out_data_without_early_stopping(eight):
    params = dict(SMALL, max_iter=8, early_stopping=False)
    a = _quiet_fit(DDEDensity(sigma="auto", random_state=3, **params), eight[1][:500])
    b = _quiet_fit(DDEDensity(sigma="auto", random_state=3, **params), eight[1][:500])
    np.testing.assert_array_equal(a.sigma_path_scores_, b.sigma_path_scores_)
    assert a.sigma_ == b.sigma_ and np.isfinite(a.sigma_path_scores_).any()
    assert a.n_iter_ <= 8  # max_iter bounds the search too
    with pytest.raises(ValueError, match="sigma='auto'"):
        DDEDensity(sigma="auto", **params).fit(eight[1][:2])  # 1 left to train on
