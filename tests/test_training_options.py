"""training_options and the constructor parameters it replaces: deprecation, and
pickles of skdde 0.1.0 (written by tests/data/make_release_pickles.py)."""

import pathlib
import pickle
import warnings

import numpy as np
import pytest

from skdde import DDEDensity, DDEGenerator
from skdde.datasets import make_eight_gaussians

DATA = pathlib.Path(__file__).parent / "data"
TINY = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    return make_eight_gaussians(300, random_state=0)


def _fit_quietly(est, X):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="skdde")
        return est.fit(X)


def _load(name):
    with warnings.catch_warnings():
        # pickled by another version: skdde says so, as it should
        warnings.filterwarnings("ignore", message=".*was pickled with skdde 0.1.0")
        return pickle.loads((DATA / f"{name}_0.1.0.pkl").read_bytes())


@pytest.mark.parametrize("name", ["density_single", "density_levels", "generator"])
def test_release_pickle_loads_and_scores_the_same(name):
    saved = _load(name)
    model = saved["model"]
    np.testing.assert_allclose(model.score_samples(saved["points"]), saved["scores"],
                               rtol=1e-6, atol=1e-6)
    assert model.training_options is None


def test_release_pickle_keeps_its_options_and_refits_without_warning(X):
    model = _load("density_single")["model"]
    # the 0.1.0 fit set n_importance_samples=512 and mala_burn_in=5; the rest were defaults
    assert model._options["n_importance_samples"] == 512
    assert model._options["mala_burn_in"] == 5
    assert model.sigma_start == "deprecated"
    assert model.sample(3, random_state=0).shape == (3, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.set_params(n_importance_samples="deprecated", mala_burn_in="deprecated",
                         mala_n_steps="deprecated")
        model.fit(X)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    # what the 0.1.0 fit set itself still counts, and says it moved
    with pytest.warns(FutureWarning, match="parameter of DDEDensity is deprecated") as caught:
        _fit_quietly(_load("density_single")["model"], X)
    moved = {str(w.message).split()[1] for w in caught if issubclass(w.category, FutureWarning)}
    assert moved == {"n_importance_samples", "mala_burn_in", "mala_n_steps"}


@pytest.mark.parametrize("Estimator, key, value", [
    (DDEDensity, "n_importance_samples", 1024),
    (DDEDensity, "sigma_start", None),
    (DDEGenerator, "dde_hidden_layer_sizes", (8,)),
])
def test_deprecated_parameter_warns_and_fits_as_the_option(X, Estimator, key, value):
    kw = dict(TINY, sigma=0.3)
    if Estimator is DDEGenerator:
        kw["density"] = DDEDensity(**TINY)
    with pytest.warns(FutureWarning, match=f"The {key} parameter of {Estimator.__name__}"):
        old = _fit_quietly(Estimator(**kw, **{key: value}), X)
    new = _fit_quietly(Estimator(**kw, training_options={key: value}), X)
    np.testing.assert_array_equal(old.score_samples(X[:20]), new.score_samples(X[:20]))


@pytest.mark.parametrize("params, match", [
    (dict(training_options={"n_importance_sample": 1024}), "unknown keys"),
    (dict(training_options={"mala_burn_in": -1}), "'mala_burn_in' parameter"),
    (dict(training_options={"normalizer": "exact"}), "'normalizer' parameter"),
    (dict(mala_burn_in=5, training_options={"mala_burn_in": 5}), "given both"),
])
def test_bad_training_options_name_the_problem(X, params, match):
    with pytest.raises(ValueError, match=match):
        DDEDensity(**TINY, **params).fit(X)


def test_options_are_read_at_fit_not_after(X):
    est = _fit_quietly(DDEDensity(sigma=0.3, **TINY, training_options={"mala_n_steps": 3}), X)
    est.set_params(training_options={"mala_n_steps": -1})
    assert est.sample(2, random_state=0).shape == (2, 2)
    assert est._options["mala_n_steps"] == 3


def test_a_grid_search_varies_the_whole_dict(X):
    from sklearn.model_selection import GridSearchCV

    grid = {"training_options": [None, {"sigma_start": None, "n_importance_samples": 1024}]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="skdde")
        search = GridSearchCV(DDEDensity(sigma=0.3, **TINY), grid, cv=2).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.training_options in grid["training_options"]


def test_a_refit_on_bad_input_keeps_the_fitted_options(X):
    est = _fit_quietly(DDEDensity(sigma=0.3, **TINY, training_options={"mala_n_steps": 3}), X)
    est.set_params(training_options={"mala_n_steps": 7})
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.full_like(X, np.nan))
    assert est._options["mala_n_steps"] == 3
