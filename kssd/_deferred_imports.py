"""Deferred package imports for the ``kssd`` console script.

A plain ``import kssd`` imports every submodule, which registers kssd's layers and losses with
Keras (and imports TensorFlow). A command such as ``kssd sticker`` on its TFLite runtime needs
none of that: it reads images, runs an interpreter and writes files. While the console script's
launcher (:mod:`kssd_command`, outside this package) sets ``DEFER_IMPORTS = True``, the packages
that use :func:`deferring` skip their imports; the first name asked of such a package runs them
(the package's code is executed again, this time in full).

Examples:
    >>> from kssd._deferred_imports import deferring
    >>> deferring("kssd")  # only under the console script
    False
"""

import importlib
import sys

_RELEASED = set()


def deferring(package):
    """Whether ``package`` should skip its imports now: the launcher asks to, and no name of the
    package has been asked for yet."""
    launcher = sys.modules.get("kssd_command")
    return bool(getattr(launcher, "DEFER_IMPORTS", False)) and package not in _RELEASED


def module_getattr(package):
    """The module ``__getattr__`` of a package whose imports are deferred: it runs them on the
    first name asked (:func:`load_attribute`)."""

    def __getattr__(name):
        return load_attribute(package, name)

    return __getattr__


def load_attribute(package, name):
    """``package``'s attribute ``name`` after running the package's deferred imports.

    Raises:
        AttributeError: the package has no such name, even with its imports done.
    """
    module = sys.modules[package]
    if package not in _RELEASED and not name.startswith("__"):
        _RELEASED.add(package)
        importlib.reload(module)
    if name in module.__dict__:
        return module.__dict__[name]
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
