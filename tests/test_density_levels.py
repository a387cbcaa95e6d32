"""DDEDensity(levels="all"): one network for every noise level, normalized by training."""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skdde import DDEDensity
from skdde._levels import mixture_terms
from skdde.datasets import eight_gaussians, make_moons

MALA = dict(mala_burn_in=50, mala_n_steps=20)
SMALL = dict(levels="all", hidden_layer_sizes=(64, 64), device="cpu",
             training_options=dict(MALA, n_importance_samples=65536))
#: for fits whose log Z no assert reads closely
CHEAP = dict(SMALL, training_options=dict(MALA, n_importance_samples=4096))


def _quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, **kw)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def truth():
    return eight_gaussians(radius=2.0, std=0.1)


@pytest.fixture(scope="module")
def fitted(truth):
    X = truth.sample(3000, random_state=0)
    return _quiet_fit(DDEDensity(sigma=0.1, max_iter=100, random_state=0, **SMALL), X)


@pytest.fixture(scope="module")
def grid():
    xs = np.linspace(-8, 8, 641)  # the tails of a short fit reach far
    return np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2), (xs[1] - xs[0]) ** 2


@pytest.fixture(scope="module")
def moons():
    return make_moons(600, noise=0.1, random_state=0)


# --- normalization ---------------------------------------------------------------

def test_density_integrates_to_one(fitted, grid):
    points, cell = grid
    assert abs(np.exp(fitted.score_samples(points)).sum() * cell - 1) < 0.02


@pytest.mark.parametrize("sigma", [0.15, 0.3, 0.6, 1.2, 2.5])
def test_every_level_integrates_to_one_by_the_ladder(fitted, grid, sigma):
    # the ladder AIS from the exact top level normalizes each level on its own
    points, cell = grid
    p = np.exp(fitted.score_samples_at(points, sigma, normalizer="ladder", n_samples=16384,
                                       random_state=0))
    assert abs(p.sum() * cell - 1) < 0.02


def test_the_reported_residual_is_the_models_own_log_mass(fitted, grid):
    # log_normalizer_residual_ is log of the integral of exp(f) at sigma_, in X's units
    points, cell = grid
    own = math.log(np.exp(_own_log_density(fitted, points, fitted.sigma_)).sum() * cell)
    err = 3 * fitted.log_normalizer_stderr_ + 0.02
    assert abs(fitted.log_normalizer_residual_ - own) < err


def test_the_flow_likelihood_is_normalized_and_close_to_the_score(fitted, truth):
    # Exactly normalized for any network: its mean on samples of the truth can not
    # beat the exact smoothed density, and a trained model's agrees with the score.
    X = truth.sample(400, random_state=1)
    flow = fitted.flow_score_samples(X)
    exact = truth.log_density(X, sigma=fitted.sigma_)
    err = 3 * (flow - exact).std() / np.sqrt(len(X))
    assert flow.mean() <= exact.mean() + err
    assert abs(flow.mean() - fitted.score_samples(X).mean()) < 0.5


def test_never_beats_the_true_density(fitted, truth):
    X = truth.sample(3000, random_state=1)
    ll = fitted.score_samples(X)
    exact = truth.log_density(X, sigma=0.1)
    err = (ll - exact).std() / np.sqrt(len(X)) + fitted.log_normalizer_stderr_
    assert ll.mean() <= exact.mean() + 3 * err
    assert ll.mean() > exact.mean() - 2.0  # a short fit of a small network, not garbage


def test_a_mixture_base_is_exact_at_the_top_and_trains_to_a_normalized_density(truth, grid):
    X = truth.sample(3000, random_state=0)
    options = dict(CHEAP["training_options"], level_base="mixture")
    est = _quiet_fit(DDEDensity(sigma=0.1, max_iter=30, random_state=0,
                                **dict(CHEAP, training_options=options)), X)
    assert est.module_.has_mixture and len(est.module_.mixture_log_weights) > 1
    xs = np.linspace(-30, 30, 601)  # the top level is wider than the data
    wide = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    top = math.sqrt(est.module_.t_max) * est._scale
    assert abs(np.exp(_own_log_density(est, wide, top)).sum() * (xs[1] - xs[0]) ** 2 - 1) < 1e-3
    points, cell = grid
    assert abs(np.exp(est.score_samples(points)).sum() * cell - 1) < 0.02
    X_new = truth.sample(400, random_state=1)
    flow, score = est.flow_score_samples(X_new), est.score_samples(X_new)
    exact = truth.log_density(X_new, sigma=0.1)
    assert flow.mean() <= exact.mean() + 3 * (flow - exact).std() / np.sqrt(len(X_new))
    assert abs(flow.mean() - score.mean()) < 0.5
    # the ladder AIS from the smoothed mixture at the top agrees with importance sampling
    ladder = est.estimate_log_normalizer("ladder", 16384, random_state=0)
    direct = est.estimate_log_normalizer("mixture", 65536, random_state=0)
    assert abs(ladder.log_z - direct.log_z) < 3 * (ladder.stderr + direct.stderr) + 0.02


def test_a_mixture_base_is_kept_untrained_when_no_epoch_beats_it(truth):
    # the data's own mixture is near exact here; epochs at a wild learning rate only hurt
    X = truth.sample(3000, random_state=0)
    options = dict(CHEAP["training_options"], level_base="mixture")
    est = _quiet_fit(DDEDensity(sigma=0.1, max_iter=3, learning_rate_init=0.5, random_state=0,
                                **dict(CHEAP, training_options=options)), X)
    energy, x = est.module_, est._noise_units_tensor(X[:50])
    t = torch.full((50,), est._level(0.1))
    with torch.no_grad():
        f = energy(x, t)
    mixture = [energy.get_buffer(f"mixture_{name}")
               for name in ("log_weights", "means", "eigenvalues", "eigenvectors")]
    assert est.n_iter_ == 3
    torch.testing.assert_close(f, mixture_terms(x, t, *mixture)[0])


def test_auto_runs_the_ladder_only_when_importance_sampling_fails(fitted, monkeypatch):
    # the ladder costs 50 importance samplers: "auto" skips it when one is reliable
    import skdde._normalizer as normalizer

    calls, real, failing = [], normalizer.estimate_log_normalizer, set()

    def spy(method, *args, **kw):  # sees the methods "auto" tries, one by one
        calls.append(method)
        out = real(method, *args, **kw)
        return out._replace(ess=0.0) if method in failing else out

    monkeypatch.setattr(normalizer, "estimate_log_normalizer", spy)
    # no update: the fixture is left as fitted
    assert fitted.estimate_log_normalizer(n_samples=4096, random_state=0).method != "ladder"
    assert calls == ["gaussian", "mixture"]
    calls.clear()
    failing.update(("gaussian", "mixture"))
    assert fitted.estimate_log_normalizer(n_samples=4096, random_state=0).method == "ladder"
    assert calls == ["gaussian", "mixture", "ladder"]


# --- choosing sigma in one fit ----------------------------------------------------

def test_sigma_auto_picks_the_best_validation_level_of_one_fit(truth):
    X = truth.sample(2000, random_state=0)
    params = dict(SMALL, training_options=dict(MALA, n_importance_samples=16384))
    est = _quiet_fit(DDEDensity(sigma="auto", max_iter=30, random_state=0, **params), X)
    path, scores = est.sigma_path_, est.sigma_path_scores_
    assert np.all(np.diff(path) > 0) and np.isfinite(scores).all()
    assert est.sigma_ == path[np.argmax(scores)]  # in 2-D every level normalizes
    # candidates run up to the top, where the model is the exact Gaussian
    assert path[-1] <= math.sqrt(est.module_.t_max) * est._scale * (1 + 1e-9)
    # the data's modes have std 0.1: heavy smoothing of them loses
    assert est.sigma_ < 0.3


def test_sigma_auto_skips_levels_importance_sampling_cannot_normalize(truth, monkeypatch):
    # a level whose log Z can not be checked is not chosen while another's can
    import skdde._density

    real = skdde._density.validation_score

    def below_half_fails(*args):
        score = real(*args)
        return lambda sigma: None if sigma < 0.5 else score(sigma)

    monkeypatch.setattr(skdde._density, "validation_score", below_half_fails)
    X = truth.sample(2000, random_state=0)
    est = _quiet_fit(DDEDensity(sigma="auto", max_iter=10, random_state=0, **CHEAP), X)
    path, scores = est.sigma_path_, est.sigma_path_scores_
    assert np.isnan(scores[path < 0.5]).all() and np.isfinite(scores[path >= 0.5]).all()
    assert 0.5 <= est.sigma_ == path[np.nanargmax(scores)]


def test_sigma_auto_falls_back_on_the_models_own_curve_where_nothing_normalizes(
        truth, monkeypatch):
    import skdde._density

    monkeypatch.setattr(skdde._density, "validation_score", lambda *args: lambda sigma: None)
    X = truth.sample(2000, random_state=0)
    est = _quiet_fit(DDEDensity(sigma="auto", max_iter=10, random_state=0, **CHEAP), X)
    assert np.isnan(est.sigma_path_scores_).all() and est.sigma_ in est.sigma_path_
    assert np.isfinite(est.score_samples(X[:50])).all()


def test_sigma_auto_follows_the_normalized_likelihood_not_the_models_own(truth, monkeypatch):
    # sigma_ is the level whose importance-sampled validation likelihood is best,
    # whatever the model's own (self-normalized) curve prefers
    import skdde._density

    def peaked_at_one(*args):
        return lambda sigma: -abs(math.log(sigma))

    monkeypatch.setattr(skdde._density, "validation_score", peaked_at_one)
    X = truth.sample(2000, random_state=0)
    est = _quiet_fit(DDEDensity(sigma="auto", max_iter=10, random_state=0, **CHEAP), X)
    path = est.sigma_path_
    assert est.sigma_ == path[np.argmin(np.abs(np.log(path)))]
    np.testing.assert_allclose(est.sigma_path_scores_, -np.abs(np.log(path)))


# --- sampling ----------------------------------------------------------------------

def test_samples_share_the_modes_as_the_data_do(fitted, truth):
    S = fitted.sample(4000, random_state=0)
    angles = np.arctan2(S[:, 1], S[:, 0])
    mode = np.round(angles / (np.pi / 4)) % 8
    shares = np.bincount(mode.astype(int), minlength=8) / len(S)
    assert np.abs(shares - 1 / 8).max() < 0.04
    radius = np.hypot(S[:, 0], S[:, 1])
    assert abs(np.median(radius) - 2.0) < 0.1


# --- the scikit-learn contract -------------------------------------------------------

def test_seed_reproduces_the_fit_and_pickle_changes_nothing(fitted, truth):
    X = truth.sample(3000, random_state=0)
    again = _quiet_fit(clone(fitted), X)
    points = truth.sample(200, random_state=2)
    np.testing.assert_array_equal(again.score_samples(points), fitted.score_samples(points))
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.score_samples(points), fitted.score_samples(points))
    np.testing.assert_array_equal(loaded.sample(20, random_state=0),
                                  fitted.sample(20, random_state=0))


def test_options_of_the_levels_are_refused_elsewhere(moons):
    single = _quiet_fit(DDEDensity(sigma=0.2, max_iter=2, random_state=0,
                                   **dict(SMALL, levels="single")), moons)
    with pytest.raises(ValueError, match="levels='all'"):
        single.score_samples_at(moons, 0.3)
    with pytest.raises(ValueError, match="levels='all'"):
        single.flow_score_samples(moons)
    with pytest.raises(ValueError, match="method must be one of"):
        single.estimate_log_normalizer("ladder")
    with pytest.raises(ValueError, match="normalizer='ladder' needs levels='all'"):
        DDEDensity(training_options={"normalizer": "ladder"}, max_iter=2).fit(moons)
    with pytest.raises(ValueError, match="level_base='mixture' needs levels='all'"):
        DDEDensity(training_options={"level_base": "mixture"}, max_iter=2).fit(moons)


def test_levels_outside_the_trained_range_are_refused(fitted):
    for sigma in (0.05, 100.0, -1.0, "0.2"):
        with pytest.raises(ValueError, match="level of the fitted model"):
            fitted.score_samples_at([[0.0, 0.0]], sigma)


def test_warm_start_continues_and_refuses_a_changed_levels(moons):
    est = DDEDensity(sigma=0.2, max_iter=3, early_stopping=False, warm_start=True,
                     random_state=0, **CHEAP)
    _quiet_fit(est, moons)
    _quiet_fit(est, moons)
    assert est.n_iter_ == 6
    est.set_params(levels="single")
    with pytest.raises(ValueError, match="levels='single' differs"):
        est.fit(moons)


def test_warm_start_of_sigma_auto_keeps_its_candidate_levels(moons):
    est = DDEDensity(sigma="auto", max_iter=4, warm_start=True, random_state=0,
                     **CHEAP)
    path = _quiet_fit(est, moons).sigma_path_.copy()
    _quiet_fit(est, moons)
    np.testing.assert_allclose(est.sigma_path_, path)
    assert est.sigma_ in est.sigma_path_


def test_far_too_high_learning_rate_recovers_or_raises(moons):
    est = _quiet_fit(DDEDensity(sigma=0.2, learning_rate_init=1.0, max_iter=10,
                                random_state=0, **CHEAP), moons)
    assert np.isfinite(est.loss_curve_).all()
    assert np.isfinite(est.score_samples(moons)).all()
    with pytest.raises(FloatingPointError, match="diverged"):
        _quiet(DDEDensity(sigma=0.2, learning_rate_init=1e4, max_iter=10, random_state=0,
                          **CHEAP).fit, moons)


def test_epochs_are_judged_by_the_validation_likelihood(moons):
    est = _quiet_fit(DDEDensity(sigma=0.2, max_iter=8, random_state=0, **CHEAP), moons)
    scores = np.asarray(est.validation_scores_)
    assert len(scores) == est.n_iter_ and np.isfinite(scores).all()
    assert est.best_validation_score_ == pytest.approx(scores.max())
    assert torch.isfinite(torch.as_tensor(est.loss_curve_)).all()


def test_epochs_importance_sampling_fails_on_are_judged_by_the_shifted_own_normalization(
        moons, monkeypatch):
    # a sharpening model outgrows the proposals: counted as stalls, such epochs
    # stopped the fit a patience after the last verified one; judged by the model's
    # own normalization unshifted, its offset from the verified scale did the same
    import skdde._density

    calls = []

    def verified_once(*args):
        # the first epoch's verified likelihood is far above the own scale
        return lambda sigma: calls.append(sigma) or (100.0 if len(calls) == 1 else None)

    monkeypatch.setattr(skdde._density, "validation_score", verified_once)
    est = DDEDensity(sigma=0.2, max_iter=8, n_iter_no_change=2, random_state=0, **CHEAP)
    scores = np.asarray(_quiet_fit(est, moons).validation_scores_)
    assert len(scores) == est.n_iter_ == len(calls) and scores[0] == 100.0
    assert np.isfinite(scores).all() and np.abs(scores - 100.0).max() < 5
    assert est.best_validation_score_ == scores.max()


# --- the full cases (slow) -----------------------------------------------------------

def _own_log_density(est, X, sigma):
    """The multi-level model's own ``f(x, sigma^2)`` in the units of X: no log Z."""
    x = est._noise_units_tensor(X)
    with torch.no_grad():
        f = torch.cat([est.module_(c, est._level(sigma)) for c in x.split(65536)])
    return f.double().numpy() + est._log_det_levels


@pytest.mark.slow
def test_sharp_2d_at_defaults():
    # modes of std 0.03 smoothed by 0.01: the case a single level trains poorly on
    truth = eight_gaussians(radius=2.0, std=0.03)
    X, X_test = truth.sample(20_000, random_state=0), truth.sample(5000, random_state=1)
    est = _quiet_fit(DDEDensity(sigma=0.01, levels="all", random_state=0, device="cpu"), X)
    xs = np.linspace(-3, 3, 1201)
    points = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    assert abs(np.exp(est.score_samples(points)).sum() * (xs[1] - xs[0]) ** 2 - 1) < 0.02
    ll = est.score_samples(X_test)
    err = ll.std() / np.sqrt(len(ll)) + est.log_normalizer_stderr_
    assert abs(ll.mean() - truth.log_density(X_test, sigma=0.01).mean()) < 0.1
    assert ll.mean() <= truth.log_density(X_test).mean() + 3 * err


@pytest.mark.slow
def test_clean_density_by_sigma_auto():
    truth = eight_gaussians(radius=2.0, std=0.05)
    X, X_test = truth.sample(20_000, random_state=0), truth.sample(5000, random_state=1)
    est = _quiet_fit(DDEDensity(sigma="auto", levels="all", random_state=0, device="cpu"), X)
    assert abs(est.score(X_test) - truth.log_density(X_test).mean()) < 0.15


@pytest.mark.slow
def test_every_level_normalizes_itself_in_2d():
    truth = eight_gaussians(radius=2.0, std=0.1)
    X = truth.sample(20_000, random_state=0)
    est = _quiet_fit(DDEDensity(sigma=0.05, levels="all", random_state=0, device="cpu"), X)
    xs = np.linspace(-8, 8, 1601)
    points = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    top = math.sqrt(est.module_.t_max) * est._scale
    for sigma in np.geomspace(0.05, top, 6)[:-1]:
        mass = np.exp(_own_log_density(est, points, sigma)).sum() * (xs[1] - xs[0]) ** 2
        assert abs(mass - 1) < 0.01, (sigma, mass)


@pytest.mark.slow
def test_self_normalized_verified_and_flow_agree_in_10d():
    from skdde.datasets import random_gaussian_mixture

    truth, sigma = random_gaussian_mixture(), 0.15
    X, X_test = truth.sample(20_000, random_state=0), truth.sample(500, random_state=1)
    est = _quiet_fit(DDEDensity(sigma=sigma, levels="all", random_state=0, device="cpu"), X)
    exact = truth.log_density(X_test, sigma=sigma)
    own = _own_log_density(est, X_test, sigma)
    verified = est.score_samples(X_test)
    flow = est.flow_score_samples(X_test)
    for ll in (own, verified, flow):
        err = 3 * (ll - exact).std() / np.sqrt(len(ll)) + 3 * est.log_normalizer_stderr_
        assert abs(ll.mean() - exact.mean()) < 0.1 + err
    # paired on the same rows, the three differ by less than their joint noise
    assert abs(own.mean() - verified.mean()) < 3 * est.log_normalizer_stderr_ + 0.02
    assert abs(flow.mean() - verified.mean()) < 3 * (flow - verified).std() / np.sqrt(500) + 0.05


@pytest.fixture(scope="module")
def digits_levels():
    """A multi-level fit to digits at sigma 0.4 and 100 held-out rows."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X = load_digits().data
    X = StandardScaler().fit_transform(X + np.random.default_rng(0).uniform(size=X.shape))
    est = _quiet_fit(DDEDensity(sigma=0.4, levels="all", random_state=0, device="cpu"), X[:1500])
    return est, X[1500:1600]


@pytest.mark.slow
def test_digits_ladder_reports_its_ess(digits_levels):
    est, _ = digits_levels
    ladder = est.estimate_log_normalizer("ladder", random_state=0)
    print(f"ladder AIS on digits: ESS {ladder.ess:.0f} of {ladder.n_samples}")
    assert 0 < ladder.ess <= ladder.n_samples and np.isfinite(ladder.log_z)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 26's bound is not met: the ODE's likelihood lies 0.62 nats below the "
    "score here (0.80 above it at 03f08f5); "
    "1/sqrt(d) time weights and a heat-residual penalty narrow such gaps on digits but "
    "not yet safely elsewhere (benchmarks/ablations/level_*_output.txt)",
)
def test_digits_flow_agrees_with_the_score(digits_levels):
    est, X_test = digits_levels
    gap = est.flow_score_samples(X_test).mean() - est.score_samples(X_test).mean()
    print(f"probability-flow ODE minus score on digits: {gap:.3f} nats")
    assert abs(gap) < 0.5
