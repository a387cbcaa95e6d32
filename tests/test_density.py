"""Behaviour of DDEDensity as a density estimator users can rely on."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from scipy import integrate
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity, _train
from skdde._compile import Compiled
from skdde._data import split_rows
from skdde._train import training_budget
from skdde.datasets import eight_gaussians, eight_gaussians_1d, make_moons

MALA = dict(mala_burn_in=50, mala_n_steps=20)
SMALL = dict(hidden_layer_sizes=(32, 32), max_iter=30, device="cpu",
             training_options=dict(MALA, n_importance_samples=4096))


@pytest.fixture(scope="module")
def moons():
    return make_moons(600, noise=0.1, random_state=0)


@pytest.fixture(scope="module")
def fitted(moons):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DDEDensity(sigma=0.2, random_state=0, **SMALL).fit(moons)


def _quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, **kw)


# --- normalization ---------------------------------------------------------------

def test_density_integrates_to_one_in_1d():
    X = eight_gaussians_1d().sample(3000, random_state=0)
    est = _quiet_fit(DDEDensity(sigma=0.3, random_state=0, **SMALL), X)
    total, _ = integrate.quad(
        lambda x: np.exp(est.score_samples([[x]])[0]), -15, 15, limit=500, points=[0]
    )
    assert abs(total - 1) < 0.02


def test_density_integrates_to_one_in_2d(fitted):
    xs = np.linspace(-3.5, 4.5, 321)
    ys = np.linspace(-3.0, 3.5, 261)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    p = np.exp(fitted.score_samples(grid))
    total = p.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(total - 1) < 0.02


def test_sigma_is_in_the_units_of_x(moons):
    # Rescaling X by c with sigma by c shifts every log-density by -d log c.
    c = 10.0
    a = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **SMALL), moons)
    b = _quiet_fit(DDEDensity(sigma=0.2 * c, random_state=0, **SMALL), moons * c)
    assert b.sigma_ == pytest.approx(a.sigma_ * c)
    np.testing.assert_allclose(
        b.score_samples(moons * c), a.score_samples(moons) - 2 * np.log(c), atol=0.05
    )


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_sigma_rules_follow_kernel_density_on_standardized_data(moons, rule):
    from sklearn.neighbors import KernelDensity

    X = StandardScaler().fit_transform(moons)
    est = _quiet_fit(DDEDensity(sigma=rule, **dict(SMALL, max_iter=1)), X)
    kde = KernelDensity(bandwidth=rule).fit(X)
    assert est.sigma_ == pytest.approx(kde.bandwidth_, rel=1e-6)
    est2 = _quiet_fit(DDEDensity(sigma=rule, **dict(SMALL, max_iter=1)), 3 * X)
    assert est2.sigma_ == pytest.approx(3 * kde.bandwidth_, rel=1e-6)


# --- truth ------------------------------------------------------------------------

def test_never_beats_the_true_density(moons):
    # Gibbs' inequality on a known density: a model can only lose to the truth.
    g = eight_gaussians(radius=2.0, std=0.3)
    X, X_test = g.sample(3000, random_state=0), g.sample(3000, random_state=1)
    est = _quiet_fit(DDEDensity(sigma=0.2, random_state=0,
                                **dict(SMALL, max_iter=150, batch_size=128)), X)
    ll = est.score_samples(X_test)
    err = ll.std() / np.sqrt(len(ll)) + est.log_normalizer_stderr_
    assert ll.mean() <= g.log_density(X_test, sigma=0.2).mean() + 3 * err
    assert ll.mean() > g.log_density(X_test, sigma=0.2).mean() - 0.5


# --- the scikit-learn workflow --------------------------------------------------------

def test_grid_search_over_sigma_in_a_pipeline(moons):
    pipe = make_pipeline(StandardScaler(), DDEDensity(random_state=0, **dict(SMALL, max_iter=10)))
    search = GridSearchCV(pipe, {"ddedensity__sigma": [0.05, 0.3, 3.0]}, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(moons)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert search.best_params_["ddedensity__sigma"] != 3.0  # heavy smoothing loses
    assert np.isfinite(search.score(moons))


def test_clone_pickle_and_joblib_round_trips(fitted, moons, tmp_path):
    ref = fitted.score_samples(moons)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.score_samples(moons), ref)
    path = tmp_path / "dde.joblib"
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).score_samples(moons), ref)
    refit = _quiet_fit(clone(fitted), moons)
    np.testing.assert_array_equal(refit.score_samples(moons), ref)


def test_same_seed_same_fit_and_global_rng_untouched(moons):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = _quiet_fit(DDEDensity(sigma=0.2, random_state=7, **SMALL), moons)
    assert torch.equal(torch.get_rng_state(), before)
    b = _quiet_fit(DDEDensity(sigma=0.2, random_state=7, **SMALL), moons)
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    assert a.log_normalizer_ == b.log_normalizer_
    c = _quiet_fit(DDEDensity(sigma=0.2, random_state=8, **SMALL), moons)
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_fit_leaves_cuda_generators_alone(moons, monkeypatch):
    # torch.manual_seed would reseed every CUDA generator, which fork_rng(devices=[])
    # does not restore; on a CPU-only machine the call still shows
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    _quiet_fit(DDEDensity(sigma=0.2, random_state=7, **SMALL), moons)
    assert calls == []


def test_unit_sample_weight_equals_none(moons):
    a = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **SMALL), moons)
    b = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **SMALL), moons,
                   sample_weight=np.ones(len(moons)))
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))


def test_compiled_training_matches_the_uncompiled_fit(moons, monkeypatch):
    # at sigma only, the likelihood term in every epoch
    options = dict(SMALL["training_options"], sigma_start=None)
    kw = dict(SMALL, sigma=0.2, random_state=0, max_iter=5, training_options=options)
    a = _quiet_fit(DDEDensity(**kw), moons)
    made = []
    monkeypatch.setattr(_train, "Compiled", lambda fn: made.append(fn) or Compiled(fn))
    b = _quiet_fit(DDEDensity(compile=True, **kw), moons)
    assert made
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(b.score_samples(moons), a.score_samples(moons), atol=1e-3)


def test_zero_weights_ignore_samples(moons):
    far = np.full((50, 2), 40.0)
    X = np.vstack([moons, far])
    w = np.r_[np.ones(len(moons)), np.zeros(50)]
    est = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **SMALL), X, sample_weight=w)
    assert est.score_samples(far).max() < -100


def _zero_weight_fits(fraction, max_iter):
    """Issue 29's snippet: the same fit of X without its zero-weighted rows and with
    them weighted zero; both fits and a held-out sample."""
    rng = np.random.RandomState(0)
    X = rng.randn(1025, 2)
    w = np.ones(1025)
    w[rng.rand(1025) < fraction] = 0
    kw = dict(sigma=0.2, hidden_layer_sizes=(32, 32), early_stopping=False,
              max_iter=max_iter, n_iter_no_change=10**6, random_state=0)
    dropped = _quiet_fit(DDEDensity(**kw), X[w > 0])
    weighted = _quiet_fit(DDEDensity(**kw), X, sample_weight=w)
    return dropped, weighted, np.random.RandomState(1).randn(2000, 2)


#: Seed spread of the held-out score (issue 29's settings, seeds 0-4 of both the
#: dropped-rows and the weighted fit, which differ only in their random stream):
#: at max_iter=60 a std of 0.0008 to 0.0012 nats per fraction, so two fits differ
#: with a std of at most 0.0017; 0.006 is 3.5 of those. At max_iter=400 a std of
#: 0.0012 (2% and 10%) and 0.0019 (50%, 20 fits, range 0.0086): 0.010 is 3.7 std
#: of a difference and above the whole range seen. No fit had a restart.
ZERO_WEIGHT_TOL = {60: 0.006, 400: 0.010}


def _check_zero_weights_are_dropped_rows(fraction, max_iter):
    dropped, weighted, X_test = _zero_weight_fits(fraction, max_iter)
    assert weighted.n_iter_ == max_iter  # it fits
    assert np.isfinite(weighted.score_samples(X_test)).all()
    # no learning-rate halving that the dropped-rows fit did not have
    assert weighted._train_result.n_restarts <= dropped._train_result.n_restarts
    assert abs(weighted.score(X_test) - dropped.score(X_test)) < ZERO_WEIGHT_TOL[max_iter]


# 2% is in the full fits only: the old code's first 0/0 there came after epoch 60
@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_zero_weighted_rows_are_dropped_rows(fraction):
    # a 1,025-row epoch ends on a one-row batch: a zero weight there was 0/0
    _check_zero_weights_are_dropped_rows(fraction, max_iter=60)


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5])
def test_zero_weighted_rows_are_dropped_rows_in_full_fits(fraction):
    _check_zero_weights_are_dropped_rows(fraction, max_iter=400)


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_bandwidth_rules_do_not_count_zero_weighted_rows(rule):
    X = np.random.RandomState(0).randn(200, 2)
    w = np.r_[np.zeros(50), np.ones(150)]
    kw = dict(sigma=rule, **{**SMALL, "max_iter": 1})
    dropped = _quiet_fit(DDEDensity(**kw), X[50:])
    weighted = _quiet_fit(DDEDensity(**kw), X, sample_weight=w)
    assert weighted.sigma_ == pytest.approx(dropped.sigma_, rel=1e-12)


def test_zero_weighted_validation_split_is_a_clear_error():
    X = np.random.RandomState(0).randn(100, 2)
    w = np.ones(100)
    w[split_rows(w, 0.1, True, np.random.RandomState(0))[1]] = 0  # the fit's own split
    with pytest.raises(ValueError, match="validation samples sums to zero"):
        DDEDensity(random_state=0, **SMALL).fit(X, sample_weight=w)


def test_fitted_attributes(fitted):
    assert fitted.n_features_in_ == 2 and fitted.device_ == "cpu"
    assert fitted.n_iter_ == len(fitted.loss_curve_) == len(fitted.validation_scores_)
    assert np.isfinite(fitted.log_normalizer_) and fitted.log_normalizer_stderr_ >= 0
    assert 0 < fitted.importance_ess_ <= SMALL["training_options"]["n_importance_samples"]
    assert isinstance(fitted.module_, torch.nn.Module)


def test_warm_start_continues_training(moons):
    est = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, warm_start=True,
                                **dict(SMALL, max_iter=3, early_stopping=False,
                                       n_iter_no_change=100)), moons)
    module, n_iter = est.module_, est.n_iter_
    _quiet_fit(est, moons)
    assert est.module_ is module and est.n_iter_ == n_iter + 3
    with pytest.raises(ValueError, match="features"):
        est.fit(np.c_[moons, moons])


def test_convergence_warning_when_unconverged(moons):
    est = DDEDensity(sigma=0.2, random_state=0, **dict(SMALL, max_iter=2))
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="max_iter"):
        est.fit(moons)
    assert not est.converged_


# --- sampling -----------------------------------------------------------------------

def _mmd2(a, b, bandwidth):
    def k(x, y):
        return np.exp(-((x[:, None] - y[None]) ** 2).sum(-1) / (2 * bandwidth**2))

    return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()


def _permutation_p_value(a, b, bandwidth=0.5, n_perm=200, seed=0):
    rng = np.random.default_rng(seed)
    stat = _mmd2(a, b, bandwidth)
    pooled = np.vstack([a, b])
    perms = [_mmd2(*np.split(pooled[rng.permutation(len(pooled))], 2), bandwidth)
             for _ in range(n_perm)]
    return (1 + np.sum(np.array(perms) >= stat)) / (n_perm + 1)


@pytest.fixture(scope="module")
def toy_model():
    g = eight_gaussians(radius=2.0, std=0.3)
    # the default network: sampling is judged against the data, so the model must
    # be close to p~ (a (64, 64) network left a 0.1-nat gap the MMD test can see)
    params = dict(SMALL, hidden_layer_sizes=(128, 128, 128), max_iter=150, batch_size=128)
    est = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **params),
                     g.sample(5000, random_state=0))
    return g, est


def test_samples_match_the_smoothed_data(toy_model):
    # Two-sample test (MMD, permutation p-value) against fresh data smoothed by sigma.
    g, est = toy_model
    S, info = est.sample(400, random_state=0, return_diagnostics=True)
    noise = est.sigma_ * np.random.default_rng(0).standard_normal((400, 2))
    assert _permutation_p_value(S, g.sample(400, random_state=1) + noise) > 0.01
    assert 0.3 < info["acceptance_rate"] < 0.8


def test_samples_follow_the_model_density(toy_model):
    # MALA against exact draws from the model's own normalized density on a fine grid.
    _, est = toy_model
    xs = np.linspace(-4, 4, 401)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    p = np.exp(est.score_samples(grid))
    rng = np.random.default_rng(1)
    exact = grid[rng.choice(len(grid), 600, p=p / p.sum())]
    exact += rng.uniform(-0.01, 0.01, exact.shape)
    assert _permutation_p_value(est.sample(600, random_state=2), exact) > 0.01


def test_sample_is_reproducible(fitted):
    a = fitted.sample(50, random_state=3)
    np.testing.assert_array_equal(a, fitted.sample(50, random_state=3))
    assert a.shape == (50, 2) and a.dtype == np.float64
    assert not np.array_equal(a, fitted.sample(50, random_state=4))


# --- bad input ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["score_samples", "score", "sample"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        if method == "sample":
            DDEDensity().sample()
        else:
            getattr(DDEDensity(), method)(np.zeros((2, 2)))


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="sigma"):
        DDEDensity(sigma=-1.0).fit(np.random.rand(20, 2))
    with pytest.raises(ValueError, match="activation"):
        DDEDensity(activation="relu").fit(np.random.rand(20, 2))


def test_score_is_the_mean_and_float32_input_works(fitted, moons):
    ll = fitted.score_samples(moons.astype(np.float32))
    assert ll.dtype == np.float64 and np.isfinite(ll).all()
    assert fitted.score(moons) == pytest.approx(fitted.score_samples(moons).mean())


def test_scoring_is_batched_and_deterministic(fitted, monkeypatch):
    import skdde._density_base as density

    X = np.random.default_rng(0).normal(size=(1000, 2))
    full = fitted.score_samples(X)
    monkeypatch.setattr(density, "SCORE_CHUNK", 7)
    np.testing.assert_allclose(fitted.score_samples(X), full, rtol=1e-6, atol=1e-6)


def test_cuda_requested_without_cuda_is_a_clear_error(moons):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        DDEDensity(**dict(SMALL, device="cuda")).fit(moons)


def test_network_factory_replaces_the_mlp(moons):
    def tiny(n_features):
        return torch.nn.Sequential(torch.nn.Linear(n_features, 4), torch.nn.Tanh(),
                                   torch.nn.Linear(4, 1))

    options = dict(SMALL["training_options"], network=tiny)
    est = _quiet_fit(DDEDensity(sigma=0.3, random_state=0, **dict(SMALL, training_options=options)),
                     moons)
    assert isinstance(est.module_.net, torch.nn.Sequential)
    assert np.isfinite(est.score(moons))


def test_mass_of_separated_modes_is_learned():
    # Two 1-D modes 12 sigma apart with weights 0.75 / 0.25: the denoising loss
    # barely sees the gap; the likelihood term sets the shares.
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-3, 0.2, 3000), rng.normal(3, 0.2, 1000)][:, None]
    params = dict(SMALL, max_iter=60, training_options=dict(MALA, n_importance_samples=65536))
    est = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **params), X)
    xs = np.linspace(-6, 6, 4001)[:, None]
    p = np.exp(est.score_samples(xs)) * (xs[1, 0] - xs[0, 0])
    assert abs(p[xs[:, 0] < 0].sum() - 0.75) < 0.05
    assert abs(p.sum() - 1) < 0.02


@pytest.mark.parametrize(
    "n_train, batch, epochs",
    [(100, 32, 400), (4000, 125, 400), (20_000, 512, 400), (1_000_000, 512, 10)],
)
def test_auto_training_budget(n_train, batch, epochs):
    # small data: >= 32 steps an epoch and 400 epochs; large data: ~20k steps at most
    assert training_budget(n_train) == (batch, epochs)
    assert training_budget(n_train, 64, 7) == (64, 7)


def test_far_too_high_learning_rate_recovers_or_raises_never_returns_garbage(moons):
    # 1000x the default: the step blows up, the epoch is redone at a lower rate.
    est = _quiet_fit(DDEDensity(sigma=0.2, learning_rate_init=1.0, random_state=0,
                                **dict(SMALL, max_iter=20)), moons)
    ref = _quiet_fit(DDEDensity(sigma=0.2, random_state=0, **dict(SMALL, max_iter=20)), moons)
    assert np.isfinite(est.loss_curve_).all()
    assert est.score(moons) > ref.score(moons) - 1.0
    # beyond what bounded halving can rescue: a clear error, not a model
    with pytest.raises(FloatingPointError, match="diverged"):
        DDEDensity(sigma=0.2, learning_rate_init=1e4, random_state=0,
                   **dict(SMALL, max_iter=20)).fit(moons)


# --- noise shaped by the data ----------------------------------------------------------

def test_data_shaped_noise_sees_features_only_up_to_their_units(moons):
    # noise_covariance="data" fits in whitened units: rescaling and shifting the
    # features changes log-densities by the Jacobian alone, and samples follow them.
    scale, shift = np.array([0.01, 50.0]), np.array([3.0, -7.0])
    params = dict(SMALL, sigma=0.2, noise_covariance="data", random_state=0)
    a = _quiet_fit(DDEDensity(**params), moons)
    b = _quiet_fit(DDEDensity(**params), moons * scale + shift)
    np.testing.assert_allclose(b.score_samples(moons * scale + shift),
                               a.score_samples(moons) - np.log(scale).sum(), atol=1e-4)
    np.testing.assert_allclose(b.sample(50, random_state=0),
                               a.sample(50, random_state=0) * scale + shift, rtol=1e-4)


def test_data_shaped_noise_integrates_to_one_on_correlated_data(moons):
    X = moons @ np.array([[1.0, 0.6], [0.0, 0.2]])
    # SMALL's 4096 importance samples leave log Z a standard error of 0.02 here
    params = dict(SMALL, training_options=dict(MALA, n_importance_samples=65536))
    est = _quiet_fit(DDEDensity(sigma=0.2, noise_covariance="data", random_state=0,
                                **params), X)
    xs = np.linspace(X[:, 0].min() - 1.5, X[:, 0].max() + 1.5, 401)
    ys = np.linspace(X[:, 1].min() - 1.0, X[:, 1].max() + 1.0, 401)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    total = np.exp(est.score_samples(grid)).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(total - 1) < 0.02


def test_data_shaped_noise_keeps_a_constant_feature(moons):
    X = np.column_stack([moons, np.full(len(moons), 4.0)])
    est = _quiet_fit(DDEDensity(sigma=0.2, noise_covariance="data", random_state=0,
                                **SMALL), X)
    assert np.isfinite(est.score_samples(X)).all()
    # the constant keeps unit scale, so p~ is N(4, sigma^2) along it
    column = est.sample(400, random_state=0)[:, 2]
    assert abs(column.mean() - 4.0) < 0.05 and 0.15 < column.std() < 0.25


@pytest.mark.parametrize("first, then", [("isotropic", "data"), ("data", "isotropic")])
def test_warm_start_refuses_a_changed_noise_covariance(moons, first, then):
    params = dict(SMALL, max_iter=2, sigma=0.2, warm_start=True, random_state=0)
    est = _quiet_fit(DDEDensity(noise_covariance=first, **params), moons)
    est.set_params(noise_covariance=then)
    with pytest.raises(ValueError, match="noise_covariance='.*' differs"):
        est.fit(moons)
    # the same noise continues
    est.set_params(noise_covariance=first)
    assert np.isfinite(_quiet_fit(est, moons).score_samples(moons)).all()


def test_weight_decay_shrinks_the_network_and_refuses_a_negative_value(moons):
    kw = dict(SMALL, sigma=0.2, max_iter=5, random_state=0)

    def norm(model):
        return sum(float(p.square().sum()) for p in model.module_.net.parameters())

    plain = DDEDensity(**kw).fit(moons)
    decayed = DDEDensity(weight_decay=1.0, **kw).fit(moons)
    assert norm(decayed) < 0.95 * norm(plain)
    with pytest.raises(ValueError, match="weight_decay"):
        DDEDensity(weight_decay=-0.1, **kw).fit(moons)
