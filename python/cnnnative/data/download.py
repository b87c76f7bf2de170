"""Download datasets on a user's machine. Every file goes to a temporary name in the target
directory and is renamed into place only when complete, so an interrupted download never
leaves a half file under the real name. Base URLs are parameters (and environment
variables CNNNATIVE_MNIST_URL, CNNNATIVE_FASHION_MNIST_URL, CNNNATIVE_CIFAR10_URL)."""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request

from .idx import MNIST_FILES

__all__ = ["download", "download_mnist", "download_fashion_mnist", "download_cifar10",
           "MNIST_URL", "FASHION_MNIST_URL", "CIFAR10_URL"]

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def download(url: str, path: str, *, sha256: str | None = None, timeout: float = 60.0) -> str:
    """Fetch url into path (temp file + rename). Existing files are kept. A short read
    (fewer bytes than Content-Length) or a sha256 mismatch is an error and leaves nothing."""
    if os.path.exists(path):
        return path
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".part", dir=directory)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as resp:
            expected = resp.headers.get("Content-Length")
            n = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                n += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and n != int(expected):
            raise OSError(f"download of {url} stopped after {n} of {expected} bytes")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise OSError(f"download of {url}: sha256 {digest.hexdigest()} != expected {sha256}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _open_url(url, timeout):
    """urlopen, with failures as an OSError that names the URL (urllib's own messages,
    e.g. "HTTP Error 404: Not Found" or "<urlopen error timed out>", do not)."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise OSError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise OSError(f"download of {url} failed: {e.reason}") from None
    except (OSError, ValueError) as e:  # timeouts, resets; ValueError: a malformed URL
        raise OSError(f"download of {url} failed: {e}") from None


def _join(base, name):
    return base + name if base.endswith("/") else base + "/" + name


def download_mnist(root: str, base_url: str | None = None, *, env="CNNNATIVE_MNIST_URL",
                   default=MNIST_URL) -> str:
    """The four MNIST .gz files into root (skips ones already there). Returns root."""
    base = base_url or os.environ.get(env) or default
    for split in ("train", "test"):
        for stem in MNIST_FILES[split]:
            download(_join(base, stem + ".gz"), os.path.join(root, stem + ".gz"))
    return root


def download_fashion_mnist(root: str, base_url: str | None = None) -> str:
    return download_mnist(root, base_url, env="CNNNATIVE_FASHION_MNIST_URL", default=FASHION_MNIST_URL)


def download_cifar10(root: str, url: str | None = None) -> str:
    """The CIFAR-10 binary tarball, extracted into root/cifar-10-batches-bin."""
    url = url or os.environ.get("CNNNATIVE_CIFAR10_URL") or CIFAR10_URL
    target = os.path.join(root, "cifar-10-batches-bin")
    if os.path.exists(os.path.join(target, "test_batch.bin")):
        return target
    archive = download(url, os.path.join(root, "cifar-10-binary.tar.gz"))
    staging = tempfile.mkdtemp(prefix=".cifar-extract-", dir=root)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()
                       and not os.path.isabs(m.name) and ".." not in m.name.split("/")]
            for m in members:
                src = tar.extractfile(m)
                dst = os.path.join(staging, os.path.basename(m.name))
                with open(dst, "wb") as f:
                    shutil.copyfileobj(src, f)
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(target, name))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{archive}: cannot extract CIFAR-10 archive: {e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
