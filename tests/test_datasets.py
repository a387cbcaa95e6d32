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
