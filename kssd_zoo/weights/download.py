"""Download-once cache for weight files, verified by sha256.

Files land in ``cache_dir``, else ``$KSSD_CACHE``, else ``~/.keras/kssd``. A download streams into
a temporary ``*.part`` file in the cache directory and is renamed into place only after its
sha256 matched, so an interrupted or corrupt download never looks like a cached file.

Examples:
    >>> import hashlib, pathlib, tempfile
    >>> from kssd_zoo.weights import fetch
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
    >>> _ = src.write_bytes(b"weights")
    >>> digest = hashlib.sha256(b"weights").hexdigest()
    >>> cached = fetch(src.as_uri(), digest, cache_dir=tempfile.mkdtemp())
    >>> cached.name, cached.read_bytes()
    ('w.bin', b'weights')
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """The content of a downloaded or cached file does not have the expected sha256."""


class FetchError(OSError):
    """A weight file could not be downloaded (offline, missing file, HTTP error)."""


def resolve_cache_dir(cache_dir=None):
    """The weight cache directory: ``cache_dir``, else ``$KSSD_CACHE``, else ``~/.keras/kssd``.

    Args:
        cache_dir: explicit directory, default None.

    Returns:
        ``pathlib.Path`` (not created).

    Examples:
        >>> from kssd_zoo.weights.download import resolve_cache_dir
        >>> str(resolve_cache_dir("/tmp/kssd-cache"))
        '/tmp/kssd-cache'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("KSSD_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".keras" / "kssd"


def sha256_of(path):
    """Hex sha256 digest of a file, read in chunks.

    Examples:
        >>> import pathlib, tempfile
        >>> from kssd_zoo.weights.download import sha256_of
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
        >>> _ = p.write_bytes(b"")
        >>> sha256_of(p)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_url(url):
    """``url`` as something urllib opens: plain local paths become file:// URLs."""
    parsed = urllib.parse.urlparse(str(url))
    if parsed.scheme in ("http", "https", "ftp", "file"):
        return str(url)
    return Path(url).expanduser().resolve().as_uri()


def _default_fname(url):
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise ValueError(f"cannot derive a file name from url {url!r}; pass `fname=`")
    return name


def _check_sha256(sha256):
    if sha256 is None:
        return None
    text = str(sha256).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"`sha256` must be 64 hexadecimal characters, got {sha256!r}")
    return text


def fetch(url, sha256, cache_dir=None, fname=None, *, progress=None):
    """Download ``url`` once into the cache and return the local path, verified by sha256.

    A cached file with the right digest is returned without any network access. Otherwise the
    file is streamed into a temporary ``<fname>.*.part`` file in the cache directory, its
    digest checked, and only then renamed to ``fname`` (atomic on one file system).

    Args:
        url: ``https://...``, ``file:///...`` or a plain local path (copied into the cache).
        sha256: expected hex digest (64 characters), or None to skip verification.
        cache_dir: cache directory, default None = ``$KSSD_CACHE`` or ``~/.keras/kssd``.
        fname: file name in the cache, default None = the last component of the URL.
        progress: show a progress bar (tqdm), default None = only on a terminal.

    Returns:
        ``pathlib.Path`` of the cached file.

    Raises:
        ChecksumError: the downloaded content has another digest (naming expected and actual);
            the partial file is deleted.
        FetchError: the file could not be downloaded (e.g. offline), saying how to use a
            local copy instead.

    Examples:
        >>> import hashlib, pathlib, tempfile
        >>> from kssd_zoo.weights import fetch
        >>> src = pathlib.Path(tempfile.mkdtemp()) / "a.onnx"
        >>> _ = src.write_bytes(b"abc")
        >>> fetch(str(src), hashlib.sha256(b"abc").hexdigest(), cache_dir=tempfile.mkdtemp()).name
        'a.onnx'
    """
    expected = _check_sha256(sha256)
    source = _source_url(url)
    fname = fname or _default_fname(source)
    directory = resolve_cache_dir(cache_dir)
    target = directory / fname

    if target.is_file():
        if expected is None or sha256_of(target) == expected:
            return target
        # A stale or corrupt cached copy: replace it with a fresh download below.

    directory.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=f"{fname}.", suffix=".part", dir=directory)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(source, timeout=60)
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise FetchError(_offline_message(url, err, directory, fname)) from err
            with response:
                total = response.headers.get("Content-Length") if response.headers else None
                bar = _progress_bar(fname, total, progress)
                try:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                except OSError as err:
                    raise FetchError(_offline_message(url, err, directory, fname)) from err
                finally:
                    if bar is not None:
                        bar.close()
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {expected}, got {actual}; "
                "the downloaded file was deleted (the file changed upstream, or the download was "
                "corrupted: retry, or check the source)"
            )
        os.replace(part, target)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return target


def _offline_message(url, err, directory, fname):
    reason = getattr(err, "reason", None) or err
    return (
        f"could not download {url}: {reason}. If this machine is offline, download the file "
        f"elsewhere and pass its path instead of the preset name, e.g. "
        f'weights="/path/to/{fname}", or copy it into the cache as {directory / fname}'
    )


def _progress_bar(fname, total, progress):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    total = int(total) if total and str(total).isdigit() else None
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=fname,
        disable=None if progress is None else not progress,
        leave=False,
    )


def copy_into_cache(path, sha256, cache_dir=None, fname=None):
    """Place a local copy of a weight file into the cache after checking its sha256.

    Args:
        path: local file.
        sha256: expected digest (or None).
        cache_dir: cache directory, default None (see :func:`fetch`).
        fname: name in the cache, default None = the file's own name.

    Returns:
        ``pathlib.Path`` of the cached file.

    Examples:
        >>> import pathlib, tempfile
        >>> from kssd_zoo.weights.download import copy_into_cache
        >>> src = pathlib.Path(tempfile.mkdtemp()) / "b.onnx"
        >>> _ = src.write_bytes(b"b")
        >>> copy_into_cache(src, None, cache_dir=tempfile.mkdtemp()).read_bytes()
        b'b'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such weight file: {path}")
    return fetch(str(path), sha256, cache_dir=cache_dir, fname=fname or path.name, progress=False)


__all__ = [
    "ChecksumError",
    "FetchError",
    "copy_into_cache",
    "fetch",
    "resolve_cache_dir",
    "sha256_of",
]
