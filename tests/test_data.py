"""Dataset loaders on small synthetic files written here: IDX (plain and gzipped), .npz; OOD views."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from toolkit.data import Dataset, load_dataset, ood_views, read_idx
from toolkit.errors import DataError, DatasetNotFoundError


def _idx_bytes(a: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _write_idx_set(folder, rng, *, n_train=12, n_test=5, gz=True, side=6):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, a in arrays.items():
        data = _idx_bytes(a)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist", "kuzushiji-mnist"])
def test_idx_datasets_load_from_a_folder(tmp_path, rng, gz, name):
    arrays = _write_idx_set(tmp_path / "d", rng, gz=gz)
    train, test = load_dataset(name, data_dir=tmp_path / "d")
    assert train.x.shape == (12, 1, 6, 6) and test.x.shape == (5, 1, 6, 6)
    assert train.x.dtype == np.float32 and train.x.min() >= 0.0 and train.x.max() <= 1.0
    assert np.allclose(train.x[:, 0] * 255.0, arrays["train-images-idx3-ubyte"])
    assert np.array_equal(test.y, arrays["t10k-labels-idx1-ubyte"])
    assert train.n_classes == 10


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    p = tmp_path / "plain-name-but-gzipped"
    p.write_bytes(gzip.compress(_idx_bytes(a)))
    assert np.array_equal(read_idx(p), a)


def test_truncated_idx_is_a_data_error(tmp_path):
    a = np.zeros((4, 3, 3), dtype=np.uint8)
    p = tmp_path / "x"
    p.write_bytes(_idx_bytes(a)[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(p)
    p.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(p)


def test_missing_files_are_named_with_how_to_get_them(tmp_path, rng):
    _write_idx_set(tmp_path / "d", rng)
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"t10k-labels-idx1-ubyte\[\.gz\].*--data-dir") as info:
        load_dataset("mnist", data_dir=tmp_path / "d")
    assert "train-images" not in str(info.value)  # only what is missing
    with pytest.raises(DatasetNotFoundError, match="kmnist: no folder given"):
        load_dataset("kmnist")
    with pytest.raises(DatasetNotFoundError, match="make data"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")


def test_label_count_mismatch_is_reported(tmp_path, rng):
    folder = tmp_path / "d"
    _write_idx_set(folder, rng)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(3, dtype=np.uint8))))
    with pytest.raises(DataError, match="12 images but .* 3 labels"):
        load_dataset("mnist", data_dir=folder)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match="fashion-mnist.*npz"):
        load_dataset("cifar")


def test_npz_with_and_without_test_arrays(tmp_path, rng):
    x = rng.integers(0, 256, (40, 5, 5), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    train, test = load_dataset(str(tmp_path / "a.npz"), seed=1)
    assert train.x.shape[1:] == (1, 5, 5) and len(train) + len(test) == 40 and len(test) == 8
    assert set(test.y.tolist()) == {0, 1, 2, 3} and train.n_classes == 4
    np.savez(tmp_path / "b.npz", x=rng.random((10, 3)).astype(np.float32), y=np.arange(10) % 2,
             x_test=rng.random((4, 3)).astype(np.float32), y_test=np.array([0, 1, 0, 1]))
    train, test = load_dataset(str(tmp_path / "b.npz"))
    assert train.x.shape == (10, 3) and test.x.shape == (4, 3)


def test_npz_out_of_range_pixels_are_refused_not_clipped(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.full((4, 2), 3.0, dtype=np.float32), y=np.zeros(4, dtype=np.int64))
    with pytest.raises(DataError, match=r"scale them to \[0, 1\]"):
        load_dataset(str(tmp_path / "c.npz"))
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(DataError, match="missing array"):
        load_dataset(str(tmp_path / "d.npz"))
    with pytest.raises(DatasetNotFoundError):
        load_dataset(str(tmp_path / "nope.npz"))


def test_ood_views_transform_images_and_keep_labels(rng):
    img = np.zeros((6, 1, 14, 14), dtype=np.float32)
    img[:, 0, 5:9, 5:9] = 1.0
    ds = Dataset(name="t", x=img, y=np.arange(6) % 3, n_classes=3)
    views = ood_views(ds, seed=0)
    assert set(views) == {"translated", "scaled", "rotated"}
    for v in views.values():
        assert v.x.shape == ds.x.shape and np.array_equal(v.y, ds.y)
        assert v.x.min() >= 0.0 and v.x.max() <= 1.0
        assert not np.allclose(v.x, ds.x)
    # a translation moves mass, it does not create it (zeros shift in, nearest interpolation)
    assert np.isclose(views["translated"].x.sum(), ds.x.sum())
    assert np.array_equal(ood_views(ds, seed=0)["rotated"].x, views["rotated"].x)  # seeded


def test_ood_views_of_flat_digits(digits):
    _, test = digits
    views = ood_views(test, limit=20)
    assert views["scaled"].x.shape == (20, 64)
