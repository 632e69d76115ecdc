"""Download-once cache for weight files, verified by sha256, on ``keras.utils.get_file``.

Files land in ``cache_dir``, else ``$KSSD_CACHE``, else ``~/.keras/kssd``. Downloading, the
cache hit check and the sha256 check are ``keras.utils.get_file(fname, origin,
file_hash=sha256, hash_algorithm="sha256")``. What kssd adds around it:

* a one-line :class:`FetchError` when the file cannot be downloaded (offline, missing file, HTTP
  error) that names the URL, the cache path to place a manual copy at, and the sha256; Keras
  raises a bare ``Exception("URL fetch failure ...")``;
* a :class:`ChecksumError` naming the expected and actual digests, with the bad file deleted
  (``get_file`` raises ``ValueError`` and leaves the file in the cache). A cached file with the
  wrong digest is never used: ``get_file`` downloads it again;
* the cache directory is created here, so ``get_file`` does not fall back to ``/tmp/.keras``
  when it is missing; plain local paths are accepted as URLs (``file://``);
* a 60 s socket timeout while downloading (``get_file`` opens the URL without one) unless the
  process set its own default.

``get_file`` writes straight to the cache path and deletes it when the download fails; a
process killed mid-download can leave a truncated file, which the sha256 check then replaces.

Examples:
    >>> import hashlib, pathlib, tempfile
    >>> from kssd_zoo.weights import fetch
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
    >>> _ = src.write_bytes(b"weights")
    >>> digest = hashlib.sha256(b"weights").hexdigest()
    >>> cached = fetch(src.as_uri(), digest, cache_dir=tempfile.mkdtemp(), progress=False)
    >>> cached.name, cached.read_bytes()
    ('w.bin', b'weights')
"""

import contextlib
import hashlib
import os
import socket
import urllib.parse
import warnings
from pathlib import Path

import keras

_CHUNK = 1 << 16
_TIMEOUT_S = 60


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
    """``url`` as something urllib opens: plain local paths become file:// URLs.

    Only ``https`` and local files are accepted: ``http`` and ``ftp`` can be altered in transit.
    """
    parsed = urllib.parse.urlparse(str(url))
    if parsed.scheme in ("https", "file"):
        return str(url)
    if parsed.scheme in ("http", "ftp") or (len(parsed.scheme) > 1 and "://" in str(url)):
        raise ValueError(
            f"refusing to download {url}: only https:// URLs (or local files) are fetched; "
            "download it yourself and pass the local path"
        )
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

    A cached file with the right digest is returned without any network access; one with
    another digest is downloaded again. Built on ``keras.utils.get_file`` (see the module
    docstring for what kssd adds).

    Args:
        url: ``https://...``, ``file:///...`` or a plain local path (copied into the cache).
        sha256: expected hex digest (64 characters), or None: the file is downloaded without
            a check, with a warning that prints its digest (pin it for the next time).
        cache_dir: cache directory, default None = ``$KSSD_CACHE`` or ``~/.keras/kssd``.
        fname: file name in the cache, default None = the last component of the URL.
        progress: show Keras' download progress bar, default None = Keras' logging setting;
            False silences it.

    Returns:
        ``pathlib.Path`` of the cached file.

    Raises:
        ChecksumError: the downloaded content has another digest (naming expected and actual);
            the file is deleted.
        FetchError: the file could not be downloaded (e.g. offline); the one-line message names
            the URL, where to put a manual copy, and the sha256.

    Examples:
        >>> import hashlib, pathlib, tempfile
        >>> from kssd_zoo.weights import fetch
        >>> src = pathlib.Path(tempfile.mkdtemp()) / "a.onnx"
        >>> _ = src.write_bytes(b"abc")
        >>> digest = hashlib.sha256(b"abc").hexdigest()
        >>> fetch(str(src), digest, cache_dir=tempfile.mkdtemp(), progress=False).name
        'a.onnx'
    """
    expected = _check_sha256(sha256)
    source = _source_url(url)
    fname = fname or _default_fname(source)
    directory = resolve_cache_dir(cache_dir)
    target = directory / fname
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with _download_settings(progress):
            path = keras.utils.get_file(
                fname,
                source,
                file_hash=expected,
                hash_algorithm="sha256",
                cache_dir=str(directory),
                cache_subdir="",
            )
    except ValueError:
        # get_file's "Incomplete or corrupted file detected" after a download: it leaves the file.
        if expected is None or not target.is_file():
            raise
        actual = sha256_of(target)
        if actual == expected:  # pragma: no cover - some other ValueError
            raise
        target.unlink(missing_ok=True)
        raise ChecksumError(
            f"sha256 mismatch for {url}: expected {expected}, got {actual}; "
            "the downloaded file was deleted (the file changed upstream, or the download was "
            "corrupted: retry, or check the source)"
        ) from None
    except Exception as err:  # get_file raises a bare Exception for URL/HTTP errors
        target.unlink(missing_ok=True)
        raise FetchError(_offline_message(url, err, target, expected)) from err
    if expected is None:
        warnings.warn(
            f"{url}: no sha256 given, so the file was not verified; its sha256 is {sha256_of(path)} "
            "(pass it as sha256= to pin this content)",
            UserWarning,
            stacklevel=2,
        )
    return Path(path)


@contextlib.contextmanager
def _download_settings(progress):
    """A socket timeout (if none is set) and, for ``progress=False``, no Keras progress output."""
    set_timeout = socket.getdefaulttimeout() is None
    quiet = progress is False and keras.config.is_interactive_logging_enabled()
    if set_timeout:
        socket.setdefaulttimeout(_TIMEOUT_S)
    if quiet:
        keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        if quiet:
            keras.config.enable_interactive_logging()
        if set_timeout:
            socket.setdefaulttimeout(None)


def _offline_message(url, err, target, sha256):
    # get_file wraps the URLError in a bare Exception without `from`: the reason is in __context__.
    cause = err.__context__ if err.__context__ is not None else err
    reason = getattr(cause, "reason", None) or cause
    digest = f" (sha256 {sha256})" if sha256 else ""
    return (
        f"could not download {url}: {reason}. If this machine is offline, download the file{digest} "
        f'elsewhere and pass its path instead of the preset name, e.g. weights="/path/to/{target.name}", '
        f"or copy it into the cache as {target}"
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
