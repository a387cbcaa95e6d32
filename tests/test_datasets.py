import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal

from skdde import datasets
from skdde.datasets import GaussianMixtureDensity, eight_gaussians, eight_gaussians_1d


def test_single_gaussian_matches_scipy_after_smoothing():
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    g = GaussianMixtureDensity([[1.0, -1.0]], cov[None])
    X = np.random.default_rng(0).normal(size=(20, 2))
    expected = multivariate_normal([1.0, -1.0], cov + 0.2**2 * np.eye(2)).logpdf(X)
    np.testing.assert_allclose(g.log_density(X, sigma=0.2), expected, rtol=1e-10)


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_1d_mixture_integrates_to_one(sigma):
    g = eight_gaussians_1d()
    total, _ = integrate.quad(
        lambda x: np.exp(g.log_density([[x]], sigma)[0]), -15, 15, limit=400
    )
    assert total == pytest.approx(1.0, abs=1e-6)


def test_sampling_matches_the_mixture_and_is_seeded():
    g = eight_gaussians(radius=2.0, std=0.1)
    X = g.sample(16_000, random_state=0)
    np.testing.assert_array_equal(X, g.sample(16_000, random_state=0))
    nearest = np.argmin(((X[:, None] - g.means[None]) ** 2).sum(-1), 1)
    freq = np.bincount(nearest, minlength=8) / len(X)
    np.testing.assert_allclose(freq, 1 / 8, atol=0.015)
    resid = X - g.means[nearest]
    np.testing.assert_allclose(resid.std(0), 0.1, rtol=0.05)


@pytest.mark.parametrize(
    "maker",
    [
        datasets.make_eight_gaussians,
        datasets.make_two_spirals,
        datasets.make_checkerboard,
        datasets.make_rings,
        datasets.make_moons,
    ],
)
def test_toy_samplers_are_seeded_2d_arrays(maker):
    a, b = maker(300, random_state=1), maker(300, random_state=1)
    assert a.shape == (300, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, maker(300, random_state=2))


def test_checkerboard_occupies_half_the_squares():
    X = datasets.make_checkerboard(20_000, random_state=0)
    cells = np.floor(X / 2).astype(int) + 2
    counts = np.zeros((4, 4))
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    occupied = counts > 0
    assert occupied.sum() == 8
    assert not (occupied & np.roll(occupied, 1, axis=0)).any()


def _write_idx(path, array, compress):
    import gzip
    import struct

    header = b"\0\0\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, compress):
    from skdde.datasets import load_fashion_mnist

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, compress)
    X, y = load_fashion_mnist("test", data_home=tmp_path)
    np.testing.assert_array_equal(X, images.reshape(5, 784))
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="apt install dataset-fashion-mnist"):
        load_fashion_mnist("train", data_home=tmp_path)


def test_fashion_mnist_rejects_broken_files(tmp_path):
    from skdde.datasets import load_fashion_mnist

    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3), False)
    with pytest.raises(ValueError, match="not an IDX file"):
        load_fashion_mnist("test", data_home=tmp_path)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)), False)
    with pytest.raises(ValueError, match="matching images and labels"):
        load_fashion_mnist("test", data_home=tmp_path)
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist("validation", data_home=tmp_path)


def _write(home, name, write):
    path = home / datasets.TABULAR_FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)


def test_tabular_miniboone_splits_at_the_tail_and_standardizes_on_train_and_val(tmp_path):
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(1005, 43))
    _write(tmp_path, "miniboone", lambda p: np.save(p, data))
    train, val, test = datasets.load_tabular("miniboone", tmp_path)
    assert (train.shape, val.shape, test.shape) == ((815, 43), (90, 43), (100, 43))
    reference = data[:905]
    mean, std = reference.mean(0), reference.std(0)
    np.testing.assert_allclose(test, (data[905:] - mean) / std)
    np.testing.assert_allclose(val, (data[815:905] - mean) / std)
    np.testing.assert_allclose(np.vstack([train, val]).mean(0), 0, atol=1e-12)


def test_tabular_power_drops_two_columns_and_dequantizes_reproducibly(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 5, size=(2000, 8)).astype(float)
    data[:, 7] = np.arange(2000)  # time: no noise is added
    _write(tmp_path, "power", lambda p: np.save(p, data))
    first = datasets.load_tabular("power", tmp_path)
    assert [part.shape for part in first] == [(1620, 6), (180, 6), (200, 6)]
    for a, b in zip(first, datasets.load_tabular("power", tmp_path)):
        np.testing.assert_array_equal(a, b)
    values = np.concatenate([part for part in first])
    # integer columns became continuous; time stayed an evenly spaced grid
    assert len(np.unique(values[:, 2])) == len(values)
    np.testing.assert_allclose(np.diff(np.sort(values[:, 5])), np.diff(np.sort(values[:, 5]))[0])


def test_tabular_gas_drops_correlated_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    columns = {name: rng.normal(size=500) for name in ("Time", "Meth", "Eth", "a", "b", "c")}
    columns["d"] = columns["b"] + 1e-3 * rng.normal(size=500)  # a near-copy of "b"
    _write(tmp_path, "gas", lambda p: pd.DataFrame(columns).to_pickle(p))
    train, val, test = datasets.load_tabular("gas", tmp_path)
    assert [part.shape for part in (train, val, test)] == [(405, 3), (45, 3), (50, 3)]
    kept = np.vstack([train, val, test])
    expected = np.column_stack([columns[k] for k in ("a", "c", "d")])
    expected = (expected - expected.mean(0)) / expected.std(0, ddof=1)
    np.testing.assert_allclose(kept, expected)


def test_tabular_hepmass_keeps_signal_and_continuous_features(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)

    def frame(n, extra):
        values = {"# label": rng.integers(0, 2, n).astype(float)}
        values.update({f"f{j}": rng.normal(size=n) for j in range(4)})
        values["f1"] = np.where(rng.random(n) < 0.2, values["f1"].min() - 1, values["f1"])
        values["mass"] = rng.normal(size=n)
        if extra:
            values["extra"] = rng.normal(size=n)
        return pd.DataFrame(values)

    train_csv, test_csv = frame(600, False), frame(300, True)
    folder = tmp_path / datasets.TABULAR_FILES["hepmass"]
    folder.mkdir(parents=True)
    train_csv.to_csv(folder / "1000_train.csv", index=False)
    test_csv.to_csv(folder / "1000_test.csv", index=False)
    train, val, test = datasets.load_tabular("hepmass", tmp_path)
    signal = train_csv[train_csv["# label"] == 1][["f0", "f2", "f3", "mass"]].to_numpy()
    assert len(train) + len(val) == len(signal) and len(val) == int(0.1 * len(signal))
    assert test.shape == ((test_csv["# label"] == 1).sum(), 4)  # f1 is near-discrete
    np.testing.assert_allclose(
        np.vstack([train, val]), (signal - signal.mean(0)) / signal.std(0, ddof=1), atol=1e-10
    )


def test_tabular_bsds300_reads_the_three_splits(tmp_path):
    h5py = pytest.importorskip("h5py")
    parts = {k: np.random.default_rng(i).normal(size=(20 + i, 63)) for i, k in
             enumerate(("train", "validation", "test"))}

    def write(path):
        with h5py.File(path, "w") as f:
            for k, v in parts.items():
                f[k] = v

    _write(tmp_path, "bsds300", write)
    for got, expected in zip(datasets.load_tabular("bsds300", tmp_path), parts.values()):
        np.testing.assert_array_equal(got, expected)


def test_tabular_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="miniboone/data.npy.*zenodo"):
        datasets.load_tabular("miniboone", tmp_path)
    with pytest.raises(FileNotFoundError, match="1000_train.csv"):
        datasets.load_tabular("hepmass", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_tabular("cifar", tmp_path)
