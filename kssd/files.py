"""Writing files and folders so that a failure never leaves a half-written or lost result.

Every result kssd writes (models, checkpoints, exports, prediction files) goes through
:func:`write_atomically`: the content is written under a temporary name beside the target
(same folder, so the final rename stays on one file system), then renamed over it. A kill, a
full disk or an exception while writing leaves the previous file as it was; the temporary is
removed when the failure is seen, and :func:`remove_stale_temporaries` sweeps the ones a killed
process left behind (their names carry :data:`TEMP_TAG`).

Examples:
    >>> import pathlib, tempfile
    >>> from kssd.files import write_text_atomically
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> write_text_atomically(path, "first")
    >>> write_text_atomically(path, "second")
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('second', ['notes.txt'])
"""

import errno
import os
import secrets
import shutil
import sys
from pathlib import Path

#: Marks temporary names (``.<name>.kssd-tmp-<token><suffixes>``).
TEMP_TAG = ".kssd-tmp-"


def temporary_path(path, kind="tmp"):
    """A fresh hidden name beside ``path`` that keeps its suffixes (writers that check them work).

    Examples:
        >>> from kssd.files import temporary_path
        >>> name = temporary_path("runs/model.keras").name
        >>> name.startswith(".model.keras.kssd-tmp-") and name.endswith(".keras")
        True
    """
    path = Path(path)
    suffixes = "".join(path.suffixes) if not path.name.startswith(".") else ""
    tag = TEMP_TAG if kind == "tmp" else TEMP_TAG.replace("tmp", kind)
    return path.with_name(f".{path.name}{tag}{os.getpid()}-{secrets.token_hex(3)}{suffixes}")


def remove_path(path):
    """Delete a file or a folder tree if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync(path):
    if path.is_file():
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())


def commit(temp, path):
    """Put the finished ``temp`` (file or folder) at ``path`` by renaming; see :func:`write_atomically`.

    An existing folder at ``path`` is moved aside first and deleted only after the new one is in
    place; a file is replaced in one ``os.replace``.
    """
    temp, path = Path(temp), Path(path)
    _fsync(temp)
    if path.is_dir() and not path.is_symlink():
        old = temporary_path(path, kind="old")
        os.replace(path, old)
        os.replace(temp, path)
        remove_path(old)
    else:
        os.replace(temp, path)


def write_atomically(path, write):
    """Run ``write(temporary)``, then put the result at ``path`` in one rename.

    ``write`` creates a file or a folder at the temporary path it is given (the path keeps
    ``path``'s suffixes).

    Args:
        path: the target file or folder.
        write: ``fn(temporary_path)``.

    Raises:
        OSError: naming ``path`` when the result cannot be written (e.g. a full disk); the
            previous content of ``path`` is kept.
    """
    path = Path(path)
    temp = temporary_path(path)
    try:
        write(temp)
        if not temp.exists():
            raise FileNotFoundError(f"{path}: the writer produced nothing")
        commit(temp, path)
    except OSError as error:
        remove_path(temp)
        reason = os.strerror(error.errno) if error.errno else (error.strerror or str(error))
        raise OSError(
            error.errno, f"{path}: could not be written ({reason}); any previous file is kept"
        ) from error
    except BaseException:
        remove_path(temp)
        raise


_FILE_SYSTEM_MESSAGES = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Permission denied": errno.EACCES,
    "Read-only file system": errno.EROFS,
}


def file_system_error(error):
    """The :class:`OSError` behind ``error`` when a file system refused a write, else None.

    Python's own writers raise ``OSError`` with an ``errno``; TensorFlow's (SavedModel,
    TensorBoard event files, checkpoints) raise ``tf.errors.OpError`` whose message carries
    the system's text: those become an ``OSError`` with the matching ``errno``.

    Examples:
        >>> import errno
        >>> from kssd.files import file_system_error
        >>> file_system_error(OSError(errno.ENOSPC, "No space left on device")).errno == errno.ENOSPC
        True
        >>> file_system_error(ValueError("not a file problem")) is None
        True
    """
    if isinstance(error, OSError):
        return error if error.errno is not None else None
    tf = sys.modules.get("tensorflow")
    if tf is None or not isinstance(error, tf.errors.OpError):
        return None
    for text, code in _FILE_SYSTEM_MESSAGES.items():
        if text in str(error):
            return OSError(code, os.strerror(code))
    return None


def write_text_atomically(path, text):
    """:func:`write_atomically` for a text file (UTF-8, ``\\n`` line ends)."""

    def write(temp):
        with open(temp, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    write_atomically(path, write)


def remove_stale_temporaries(folder):
    """Delete the temporaries killed writers left in ``folder``; returns how many.

    Only names carrying :data:`TEMP_TAG` (or its ``-old-`` twin) are touched. Call it when a
    job starts, before anything writes into the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if TEMP_TAG in p.name or TEMP_TAG.replace("tmp", "old") in p.name]
    for path in stale:
        remove_path(path)
    return len(stale)
