"""Write the pickles of skdde 0.1.0 that ``tests/test_pickle_compat.py`` loads.

Run with skdde 0.1.0 installed (commit 21ac150): ``python tests/data/make_release_pickles.py``.
Each pickle is saved with the points it was scored on and their scores, so that a
later release can check that it loads and scores the same.
"""

import pathlib
import pickle
import warnings

import skdde
from skdde import DDEDensity, DDEGenerator
from skdde.datasets import make_eight_gaussians

HERE = pathlib.Path(__file__).parent
TINY = dict(hidden_layer_sizes=(8,), max_iter=2, n_importance_samples=512, mala_burn_in=5,
            mala_n_steps=5, device="cpu", random_state=0)


def main():
    X = make_eight_gaussians(300, random_state=0)
    points = make_eight_gaussians(20, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "density_single": DDEDensity(sigma=0.3, **TINY).fit(X),
            "density_levels": DDEDensity(sigma=0.3, levels="all", **TINY).fit(X),
            "generator": DDEGenerator(sigma=0.3, hidden_layer_sizes=(8,),
                                      dde_hidden_layer_sizes=(8,), max_iter=3,
                                      n_importance_samples=512, device="cpu",
                                      random_state=0).fit(X),
        }
    for name, model in models.items():
        scores = model.score_samples(points)
        path = HERE / f"{name}_{skdde.__version__}.pkl"
        path.write_bytes(pickle.dumps({"model": model, "points": points, "scores": scores}))
        print(path.name, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
