"""Both estimators under bad input, faults, interruption, large or memory-mapped
data, persistence and concurrent use."""

import copy
import functools
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.utils.validation import check_is_fitted

import skdde._data
import skdde._density
from skdde import DDEDensity, DDEGenerator, __version__
from skdde.datasets import make_moons

OPTIONS = dict(n_importance_samples=1024, mala_burn_in=20, mala_n_steps=10)
DENSITY = dict(hidden_layer_sizes=(16,), max_iter=3, training_options=OPTIONS, device="cpu",
               random_state=0)


def make_density(**kw):
    return DDEDensity(**{**DENSITY, **kw})


def make_generator(**kw):
    sigma = kw.pop("sigma", 0.1)
    options = dict(dde_hidden_layer_sizes=(16,), n_importance_samples=1024)
    return DDEGenerator(sigma=sigma, hidden_layer_sizes=(16,), max_iter=5,
                        training_options=options, device="cpu", random_state=0,
                        density=make_density(**kw))


def make_levels(**kw):
    return make_density(levels="all", **kw)


def make_levels_generator(**kw):
    return make_generator(levels="all", **kw)


ESTIMATORS = [pytest.param(make_density, id="density"),
              pytest.param(make_levels, id="levels"),
              pytest.param(make_generator, id="generator"),
              pytest.param(make_levels_generator, id="levels-generator")]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def moons():
    return make_moons(300, noise=0.1, random_state=0)


@pytest.fixture(scope="module", params=ESTIMATORS)
def fitted(request, moons):
    return _quiet(request.param().fit, moons)


# --- bad input at fit ------------------------------------------------------------

_X = np.random.default_rng(0).normal(size=(50, 2))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [2.0, 1.0]]), ValueError, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [2.0, 1.0]]), ValueError, "infinity"),
        (np.arange(10.0), ValueError, "2D array"),
        (np.zeros((4, 2, 2)), ValueError, "dim 3"),
        (np.zeros((0, 2)), ValueError, "0 sample"),
        (np.zeros((4, 0)), ValueError, "0 feature"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), ValueError, "convert"),
        (np.ones((1, 2)), ValueError, "n_samples=1"),
        (np.ones((4, 2)) + 1j, ValueError, "Complex"),
        (_X * 1e300, ValueError, "too large"),
        (_X * 1e30, ValueError, "sigma=0.1 is .* of the data's spread"),
    ],
)
@pytest.mark.parametrize("make", ESTIMATORS)
def test_bad_training_input_is_named(make, X, error, match):
    with pytest.raises(error, match=match):
        _quiet(make().fit, X)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_sparse_input_is_rejected(make):
    from scipy import sparse

    with pytest.raises(TypeError, match="dense"):
        make().fit(sparse.random(20, 3, density=0.5, format="csr", random_state=0))


@pytest.mark.parametrize(
    "X",
    [
        np.c_[_X, np.full(50, 7.0)],  # a constant feature
        np.ones((50, 2)) * 1e30,  # every row the same, far from the origin
        np.repeat(_X[:5], 10, axis=0),  # duplicated rows
        _X.astype(object),
        (_X * 10).astype(np.int64),
        _X > 0,
    ],
    ids=["constant-feature", "constant-1e30", "duplicates", "object", "int", "bool"],
)
@pytest.mark.parametrize("make", ESTIMATORS)
def test_degenerate_but_valid_input_gives_finite_scores(make, X):
    est = _quiet(make().fit, X)
    scores = est.score_samples(X)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()
    assert np.isfinite(est.sample(5, random_state=0)).all()


def test_float16_is_fit_as_the_same_values_in_float64():
    X = _X.astype(np.float16)
    a = _quiet(make_density().fit, X).score_samples(X)
    b = _quiet(make_density().fit, X.astype(np.float64)).score_samples(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scale", [1e-12, 1e6, 1e30])
@pytest.mark.parametrize("make", ESTIMATORS)
def test_rescaling_x_and_sigma_shifts_log_densities_by_the_jacobian(make, scale, moons):
    # everything is computed in whitened units, so magnitude does not matter
    ref = _quiet(make(sigma=0.2).fit, moons)
    est = _quiet(make(sigma=0.2 * scale).fit, scale * moons)
    d = moons.shape[1]
    np.testing.assert_allclose(est.score_samples(scale * moons) + d * np.log(scale),
                               ref.score_samples(moons), atol=1e-4)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_memory_layout_does_not_change_the_fit(make):
    # column sums differ in the last bit between C and Fortran order
    a = _quiet(make().fit, np.asfortranarray(_X)).score_samples(_X)
    np.testing.assert_array_equal(a, _quiet(make().fit, _X).score_samples(_X))


@pytest.mark.parametrize("make", ESTIMATORS)
def test_dataframe_feature_names_are_kept_and_checked(make):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_X, columns=["a", "b"])
    est = _quiet(make().fit, df)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b"])
    np.testing.assert_array_equal(est.score_samples(df), _quiet(make().fit, _X).score_samples(_X))
    with pytest.raises(ValueError, match="feature names should match"):
        est.score_samples(df[["b", "a"]])
    with pytest.warns(UserWarning, match="valid feature names"):
        est.score_samples(_X)


# --- bad input after fit ---------------------------------------------------------

@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((3, 3)), "3 features"),
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([[0.0, np.inf]]), "infinity"),
        (np.zeros(2), "2D array"),
        (np.array([["a", "b"]]), "convert"),
    ],
)
def test_bad_scoring_input_is_named(fitted, X, match):
    with pytest.raises(ValueError, match=match):
        fitted.score_samples(X)


def test_scoring_accepts_other_real_dtypes(fitted, moons):
    expected = fitted.score_samples(np.round(moons))
    for dtype in (np.float32, np.int64, object):
        np.testing.assert_allclose(fitted.score_samples(np.round(moons).astype(dtype)),
                                   expected, rtol=1e-6)


@pytest.mark.parametrize("n", [0, -3, 2.5, "3", True, None])
def test_sample_rejects_bad_counts(fitted, n):
    with pytest.raises((TypeError, ValueError), match="n_samples"):
        fitted.sample(n)


def test_sample_accepts_numpy_integers(fitted):
    assert fitted.sample(np.int64(3), random_state=0).shape == (3, 2)


# --- faults during training ------------------------------------------------------

def _interrupt_at(monkeypatch, n):
    """Ctrl-C at the ``n``-th optimizer step."""
    real, calls = torch.optim.Adam.step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("at", [1, 10])
def test_ctrl_c_keeps_a_usable_model_and_warns(make, at, moons, monkeypatch):
    est = make()
    if isinstance(est, DDEGenerator):  # interrupt the generator, not its density
        est.density = _quiet(est.density.fit, moons)
    _interrupt_at(monkeypatch, at)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(moons)
    check_is_fitted(est)
    assert est.interrupted_
    assert np.isfinite(est.score_samples(moons)).all()
    assert np.isfinite(est.sample(5, random_state=0)).all()


def test_ctrl_c_during_the_sigma_search_keeps_the_best_stage(moons, monkeypatch):
    _interrupt_at(monkeypatch, 40)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est = make_density(sigma="auto", max_iter=20).fit(moons)
    assert est.interrupted_ and est.sigma_ in est.sigma_path_
    assert np.isfinite(est.score_samples(moons)).all()


# --- large and memory-mapped data ------------------------------------------------

@pytest.fixture
def memmap(moons, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, moons)
    return np.load(path, mmap_mode="r")


def _fit_counting_rows(make, X, monkeypatch):
    """Fit, and return the most rows of X held in one tensor while fitting."""
    built, real = [], skdde._data.to_tensor

    def to_tensor(X, *args, **kwargs):
        built.append(np.shape(X))
        return real(X, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(skdde._data, "to_tensor", to_tensor)
        est = _quiet(make().fit, X)
    return est, max(shape[0] for shape in built if len(shape) == 2)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_memmap_is_streamed_and_fits_as_the_array_does(make, moons, memmap, monkeypatch):
    streamed, largest = _fit_counting_rows(make, memmap, monkeypatch)
    n_val = int(np.ceil(0.1 * len(moons)))
    assert largest <= max(n_val, 32)  # batches and the held-out rows, never the data
    in_memory, largest = _fit_counting_rows(make, moons, monkeypatch)
    assert largest == len(moons) - n_val  # small arrays go to the device whole
    np.testing.assert_array_equal(streamed.score_samples(moons), in_memory.score_samples(moons))


def test_a_streamed_memmap_is_whitened_as_the_array_is(moons, memmap, monkeypatch):
    make = lambda: make_density(noise_covariance="data")  # noqa: E731
    streamed, largest = _fit_counting_rows(make, memmap, monkeypatch)
    assert largest <= max(int(np.ceil(0.1 * len(moons))), 32)
    in_memory = _quiet(make().fit, moons)
    np.testing.assert_allclose(streamed.score_samples(moons), in_memory.score_samples(moons),
                               rtol=1e-5)


def test_arrays_above_the_size_limit_are_streamed_too(moons, monkeypatch):
    monkeypatch.setattr(skdde._density, "STREAM_BYTES", 1000)
    streamed, largest = _fit_counting_rows(make_density, moons, monkeypatch)
    assert largest < len(moons) // 2
    monkeypatch.undo()
    np.testing.assert_array_equal(streamed.score_samples(moons),
                                  _quiet(make_density().fit, moons).score_samples(moons))


# --- persistence -----------------------------------------------------------------

def test_pickles_record_the_version_and_warn_across_versions(fitted, moons):
    blob = pickle.dumps(fitted)
    assert "_skdde_version" not in fitted.__dict__  # the live estimator is untouched
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = pickle.loads(blob)  # same version: silent
    np.testing.assert_array_equal(same.score_samples(moons), fitted.score_samples(moons))
    fake = "0" * len(__version__)  # as long as the real one: pickle prefixes the length
    other = blob.replace(__version__.encode(), fake.encode())
    assert other != blob
    with pytest.warns(UserWarning, match=f"pickled with skdde {fake} .* {__version__}"):
        pickle.loads(other)


def test_a_model_fitted_on_cuda_loads_on_the_cpu_with_identical_results(fitted, moons):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    # the state a CUDA fit pickles: CPU copies of the modules, device_ "cuda"
    on_cuda = copy.deepcopy(fitted)
    for est in (on_cuda, getattr(on_cuda, "density_", None),
                getattr(on_cuda, "generated_density_", None)):
        if est is not None:
            est.device_ = "cuda"
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = pickle.loads(pickle.dumps(on_cuda))
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.score_samples(moons), fitted.score_samples(moons))
    np.testing.assert_array_equal(loaded.sample(20, random_state=0),
                                  fitted.sample(20, random_state=0))


# --- concurrency -----------------------------------------------------------------

def test_score_samples_is_thread_safe(fitted):
    X = np.random.default_rng(1).normal(size=(20, 5000, 2))
    expected = [fitted.score_samples(x) for x in X]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(fitted.score_samples, X))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def _recording_mlp(path, n_features):
    """A network factory that notes the torch threads of the process it runs in."""
    with open(path, "a") as f:
        f.write(f"{torch.get_num_threads()}\n")
    return torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Softplus(),
                               torch.nn.Linear(8, 1))


def test_grid_search_with_two_jobs_does_not_oversubscribe(moons, tmp_path):
    path = tmp_path / "threads.txt"
    network = functools.partial(_recording_mlp, str(path))
    est = make_density(training_options=dict(OPTIONS, network=network))
    search = GridSearchCV(est, {"sigma": [0.1, 0.2]}, cv=2, n_jobs=2)
    _quiet(search.fit, moons)
    threads = [int(t) for t in path.read_text().split()]
    assert len(threads) >= 4
    assert max(threads) <= max(1, joblib.cpu_count() // 2)
