"""Datasets: embedded digits, IDX and CIFAR-10 readers (incl. truncated / corrupt files),
the batch iterator, and downloads from a loopback HTTP server."""
import gzip
import http.server
import io
import os
import struct
import tarfile
import threading

import numpy as np
import pytest

from cnnnative import data
from cnnnative.data.idx import MNIST_FILES


def test_digits_split():
    tr, te, al = data.load_digits("train"), data.load_digits("test"), data.load_digits("all")
    assert len(al) == 1797 and len(tr) + len(te) == 1797 and len(te) == 364
    assert tr.sample_shape == (1, 8, 8) and tr.images.dtype == np.uint8
    assert al.images.max() == 16 and al.images.min() == 0
    assert np.all(np.bincount(te.labels, minlength=10) >= 35)  # stratified: every class present
    # The split is a partition: test + train images are exactly the full set (as multisets).
    key = lambda d: sorted(map(bytes, np.concatenate([d.images.reshape(len(d), -1),
                                                      d.labels[:, None].astype(np.uint8)], 1)))
    assert sorted(key(tr) + key(te)) == key(al)
    with pytest.raises(ValueError, match="split"):
        data.load_digits("val")


def test_batches_shuffle_cover_and_normalise():
    d = data.load_digits("test")
    seen = []
    for x, y in d.batches(50, shuffle=True, seed=7):
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1.0
        seen.append(y)
    ys = np.concatenate(seen)
    assert len(ys) == len(d) and sorted(ys.tolist()) == sorted(d.labels.tolist())
    a = [y for _, y in d.batches(50, shuffle=True, seed=7)]
    b = [y for _, y in d.batches(50, shuffle=True, seed=7)]
    c = [y for _, y in d.batches(50, shuffle=True, seed=8)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    assert sum(len(y) for _, y in d.batches(50, drop_last=True)) == 350
    x, _ = next(d.batches(len(d)))
    np.testing.assert_allclose(x, d.images / 16.0, rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        next(d.batches(0))


def test_dataset_validation():
    with pytest.raises(ValueError, match="labels"):
        data.Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        data.Dataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 5]), num_classes=2)
    with pytest.raises(TypeError, match="integers"):
        data.Dataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0.5, 1.0]))
    empty = data.Dataset(np.zeros((0, 1, 2, 2), np.uint8), np.zeros(0, np.int64), num_classes=3)
    assert list(empty.batches(4)) == []


# --- MNIST IDX --------------------------------------------------------------------------------

def idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()


def write_mnist(root, n_train=20, n_test=10, gz=True, rng=None):
    rng = rng or np.random.default_rng(0)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labs = rng.integers(0, 10, n, dtype=np.uint8)
        for stem, arr in zip(MNIST_FILES[split], (imgs, labs)):
            raw = idx_bytes(arr)
            path = os.path.join(root, stem + (".gz" if gz else ""))
            with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
                f.write(raw)
        out[split] = (imgs, labs)
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader_round_trip(tmp_path, gz, rng):
    ref = write_mnist(str(tmp_path), gz=gz, rng=rng)
    for split in ("train", "test"):
        d = data.load_mnist(str(tmp_path), split)
        np.testing.assert_array_equal(d.images[:, 0], ref[split][0])
        np.testing.assert_array_equal(d.labels, ref[split][1])
        assert d.max_value == 255.0
    assert data.load_fashion_mnist(str(tmp_path)).name == "fashion-mnist-train"
    assert len(data.load_dataset("mnist", "test", str(tmp_path))) == 10


def test_idx_reader_other_types(tmp_path):
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    p = tmp_path / "x.idx"
    p.write_bytes(struct.pack(">BBBB", 0, 0, 0x0C, 2) + struct.pack(">2i", 2, 3) + arr.tobytes())
    got = data.read_idx(str(p))
    np.testing.assert_array_equal(got, arr)
    assert got.dtype.isnative


@pytest.mark.parametrize("damage,match", [
    (lambda b: b[:-5], "truncated or corrupt"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b"\x01\x02" + b[2:], "bad magic"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX element type"),
    (lambda b: b"", "bad magic"),
])
def test_damaged_idx_files_name_the_file(tmp_path, damage, match):
    write_mnist(str(tmp_path), gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=match) as e:
        data.load_mnist(str(tmp_path), "train")
    assert "train-images-idx3-ubyte" in str(e.value)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_mnist(str(tmp_path), gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_mnist(str(tmp_path), "test")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_mnist(str(tmp_path), "test")


def test_mnist_label_count_mismatch_and_missing(tmp_path):
    write_mnist(str(tmp_path), gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="3 labels for 10 images"):
        data.load_mnist(str(tmp_path), "test")
    with pytest.raises(FileNotFoundError, match="train-images"):
        data.load_mnist(str(tmp_path / "nowhere"), "train")
    with pytest.raises(ValueError, match="needs a data directory"):
        data.load_dataset("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_dataset("imagenet", root=".")


# --- CIFAR-10 ------------------------------------------------------------------------------

def write_cifar(directory, n=4, rng=None):
    rng = rng or np.random.default_rng(1)
    os.makedirs(directory, exist_ok=True)
    ref = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        imgs = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        rec = np.concatenate([labels[:, None], imgs.reshape(n, -1)], axis=1)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(rec.tobytes())
        ref[name] = (imgs, labels)
    return ref


def test_cifar_reader(tmp_path):
    ref = write_cifar(str(tmp_path / "cifar-10-batches-bin"))
    te = data.load_cifar10(str(tmp_path), "test")
    np.testing.assert_array_equal(te.images, ref["test_batch.bin"][0])
    np.testing.assert_array_equal(te.labels, ref["test_batch.bin"][1])
    tr = data.load_cifar10(str(tmp_path), "train")
    assert len(tr) == 20 and tr.sample_shape == (3, 32, 32)
    np.testing.assert_array_equal(tr.images[4:8], ref["data_batch_2.bin"][0])


def test_damaged_cifar_files(tmp_path):
    d = tmp_path / "c"
    write_cifar(str(d))
    p = d / "test_batch.bin"
    raw = p.read_bytes()
    p.write_bytes(raw[:-100])
    with pytest.raises(ValueError, match="test_batch.bin.*not a whole number"):
        data.load_cifar10(str(d), "test")
    p.write_bytes(b"\x0b" + raw[1:])
    with pytest.raises(ValueError, match="test_batch.bin.*label 11"):
        data.load_cifar10(str(d), "test")
    os.unlink(d / "data_batch_3.bin")
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin"):
        data.load_cifar10(str(d), "train")


# --- downloads from a loopback server --------------------------------------------------------

class _Server:
    """Serves an in-memory {path: bytes} on 127.0.0.1; "short" paths announce more bytes
    than they send (a connection dropped mid-download)."""

    def __init__(self, files, short=()):
        files, short = dict(files), set(short)
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (1000 if self.path in short else 0)))
                self.end_headers()
                self.wfile.write(body)
                if self.path in short:
                    self.close_connection = True

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_mnist_from_loopback(tmp_path, rng):
    src = tmp_path / "src"
    src.mkdir()
    ref = write_mnist(str(src), gz=True, rng=rng)
    files = {"/mnist/" + f: (src / f).read_bytes() for f in os.listdir(src)}
    dest = tmp_path / "dest"
    with _Server(files) as server:
        data.download_mnist(str(dest), base_url=server.url + "mnist")
        n = len(server.requests)
        data.download_mnist(str(dest), base_url=server.url + "mnist")  # present: no refetch
        assert len(server.requests) == n == 4
    d = data.load_dataset("mnist", "train", str(dest))
    np.testing.assert_array_equal(d.images[:, 0], ref["train"][0])
    assert sorted(os.listdir(dest)) == sorted(files_name[len("/mnist/"):] for files_name in files)


def test_interrupted_download_leaves_no_file(tmp_path):
    with _Server({"/a.bin": b"x" * 5000}, short={"/a.bin"}) as server:
        with pytest.raises(Exception):
            data.download(server.url + "a.bin", str(tmp_path / "a.bin"), timeout=5)
    assert os.listdir(tmp_path) == []  # neither the target nor a temp file
    with _Server({"/b.bin": b"y" * 10}) as server:
        with pytest.raises(OSError, match="sha256"):
            data.download(server.url + "b.bin", str(tmp_path / "b.bin"), sha256="00" * 32)
        assert os.listdir(tmp_path) == []
        data.download(server.url + "b.bin", str(tmp_path / "b.bin"))
    assert (tmp_path / "b.bin").read_bytes() == b"y" * 10


def test_download_cifar10_tarball(tmp_path):
    staging = tmp_path / "staging" / "cifar-10-batches-bin"
    ref = write_cifar(str(staging))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(staging), arcname="cifar-10-batches-bin")
    with _Server({"/c.tgz": buf.getvalue()}) as server:
        data.download_cifar10(str(tmp_path / "data"), url=server.url + "c.tgz")
    te = data.load_cifar10(str(tmp_path / "data"), "test")
    np.testing.assert_array_equal(te.labels, ref["test_batch.bin"][1])
