"""GridSearchCV over sigma through joblib's dask backend, on a local dask cluster."""

import functools
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skdde import DDEDensity
from skdde.datasets import make_moons

distributed = pytest.importorskip("distributed")


def _recording_mlp(path, n_features):
    """A network factory that notes the dask worker (if any) it is called in."""
    try:
        where = distributed.get_worker().name
    except ValueError:
        where = "client"
    with open(path, "a") as f:
        f.write(f"{where} {torch.get_num_threads()}\n")
    return torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Softplus(),
                               torch.nn.Linear(8, 1))


def test_grid_search_on_a_dask_cluster_matches_a_local_one(tmp_path):
    X = make_moons(300, random_state=0)
    grid = {"sigma": [0.1, 0.2, 0.4]}

    def search(path, **kw):
        network = functools.partial(_recording_mlp, str(path))
        est = DDEDensity(max_iter=3, random_state=0, device="cpu",
                         training_options={"network": network})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 3-epoch fit does not converge
            return GridSearchCV(est, grid, cv=2, **kw).fit(X)

    local = search(tmp_path / "local.txt")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_config(backend="dask"),
    ):
        workers = {str(w.name) for w in cluster.workers.values()}
        remote = search(tmp_path / "dask.txt", n_jobs=-1)
        client.close()
    calls = [line.split() for line in (tmp_path / "dask.txt").read_text().splitlines()]
    in_workers = [where for where, _ in calls if where != "client"]
    # every candidate and fold ran in a worker; only the refit runs in the client
    assert len(in_workers) >= len(grid["sigma"]) * 2 and set(in_workers) <= workers
    assert all(int(threads) == 1 for where, threads in calls if where != "client")
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
