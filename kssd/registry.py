"""Name -> object tables with helpful errors: the one registry type of kssd and kssd_zoo.

Every table that is looked up by a name (annotation readers, augmentation chains, metrics,
export formats; in kssd_zoo blocks, heads, backbone weight transfers, weight presets and
models) is a :class:`Registry`. An unknown name raises :class:`UnknownNameError` (both a
``KeyError`` and a ``ValueError``) whose message suggests close matches (:func:`did_you_mean`)
and lists the known names. Entries can carry facts (``metadata``) that command-line choices,
spec validation and docs read instead of keeping their own lists.

Examples:
    >>> from kssd.registry import Registry
    >>> colours = Registry("colour")
    >>> @colours.register("red", warm=True)
    ... def red():
    ...     return "#f00"
    >>> _ = colours.register("blue", lambda: "#00f", warm=False)
    >>> colours.names(), colours.get("red")(), colours.metadata("blue")
    (['blue', 'red'], '#f00', {'warm': False})
    >>> colours.get("redd")
    Traceback (most recent call last):
    ...
    kssd.registry.UnknownNameError: unknown colour 'redd' (did you mean 'red'?); known colours: blue, red
"""

import difflib
from collections.abc import Mapping


def did_you_mean(name, choices, *, n=3, cutoff=0.7):
    """Close matches of ``name`` among ``choices`` (difflib), as a ``" (did you mean ...)"`` hint.

    Args:
        name: the misspelt name (converted with ``str``).
        choices: the known names.
        n: at most this many suggestions, default 3.
        cutoff: similarity (0..1) a suggestion needs, default 0.7.

    Returns:
        ``" (did you mean 'a' or 'b'?)"``, or ``""`` when nothing is close.

    Examples:
        >>> from kssd.registry import did_you_mean
        >>> did_you_mean("conv_dws", ["conv_dw", "conv_bn", "branch"])
        " (did you mean 'conv_dw'?)"
        >>> did_you_mean("zzz", ["voc", "coco"])
        ''
    """
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=cutoff)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


_MISSING = object()


class UnknownNameError(KeyError, ValueError):
    """A name that no registry entry has; the message suggests close matches and lists the known.

    A ``KeyError`` (a name missing from a table) and a ``ValueError`` (a bad argument), so
    callers catching either keep working. ``kind``, ``name`` and ``known`` hold the details.

    Examples:
        >>> from kssd.registry import UnknownNameError
        >>> error = UnknownNameError("unknown reader 'vco'", kind="reader", name="vco", known=["voc"])
        >>> str(error), isinstance(error, KeyError), isinstance(error, ValueError)
        ("unknown reader 'vco'", True, True)
    """

    def __init__(self, message, *, kind=None, name=None, known=()):
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.known = list(known)

    def __str__(self):  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class Registry(Mapping):
    """A table of named objects of one ``kind`` with per-entry metadata.

    A read-only :class:`~collections.abc.Mapping` (``registry[name]``, ``in``, ``len``,
    iteration in registration order) plus :meth:`register`, :meth:`get`, :meth:`names`
    (sorted), :meth:`metadata` and :meth:`where`. ``registry[name] = obj`` re-registers
    (override) and ``del registry[name]`` unregisters, e.g. for ``monkeypatch.setitem``.

    Args:
        kind: what the entries are, for messages (``"reader"``, ``"export format"``).
        plural: plural of ``kind`` for messages, default ``kind + "s"``.
        error: the :class:`UnknownNameError` subclass raised for unknown names, default
            :class:`UnknownNameError`.
        loader: called once, before the first lookup, to import the modules that register the
            built-in entries, default None.

    Examples:
        >>> from kssd.registry import Registry
        >>> sizes = Registry("size")
        >>> _ = sizes.register("small", 1)
        >>> sizes.register("small", 2)
        Traceback (most recent call last):
        ...
        ValueError: size 'small' is already registered (1); pass override=True to replace it
        >>> _ = sizes.register("small", 2, override=True)
        >>> sizes["small"], "small" in sizes, list(sizes)
        (2, True, ['small'])
    """

    def __init__(self, kind, *, plural=None, error=UnknownNameError, loader=None):
        self.kind = str(kind)
        self.plural = plural or f"{self.kind}s"
        self.error = error
        self._loader = loader
        self._entries = {}
        self._metadata = {}

    # ------------------------------------------------------------------------- writing
    def register(self, name, obj=None, *, override=False, **metadata):
        """Register ``obj`` as ``name``; without ``obj``, return a decorator that does.

        Args:
            name: a non-empty string, unique in this registry.
            obj: the object, default None (then the call is a decorator).
            override: replace an existing entry of that name, default False (then a second
                registration of another object raises ``ValueError``; registering the same
                object again is allowed, so re-imported modules do no harm).
            **metadata: facts about the entry, returned by :meth:`metadata`.

        Returns:
            ``obj``, or the decorator (which returns the decorated object unchanged).

        Examples:
            >>> from kssd.registry import Registry
            >>> shapes = Registry("shape")
            >>> @shapes.register("square", corners=4)
            ... def square():
            ...     pass
            >>> shapes.metadata("square")
            {'corners': 4}
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if obj is None:

            def decorator(target):
                self.register(name, target, override=override, **metadata)
                return target

            return decorator
        if name in self._entries and self._entries[name] is not obj and not override:
            raise ValueError(
                f"{self.kind} {name!r} is already registered ({_describe(self._entries[name])}); "
                "pass override=True to replace it"
            )
        self._entries[name] = obj
        self._metadata[name] = dict(metadata)
        return obj

    def unregister(self, name):
        """Remove ``name`` (unknown names raise :class:`UnknownNameError`)."""
        self.get(name)
        del self._entries[name]
        del self._metadata[name]

    def __setitem__(self, name, obj):
        self.register(name, obj, override=True, **self._metadata.get(name, {}))

    def __delitem__(self, name):
        self.unregister(name)

    # ------------------------------------------------------------------------- reading
    def _load(self):
        if self._loader is not None:
            loader, self._loader = self._loader, None  # once, and no recursion from inside it
            loader()

    def unknown(self, name):
        """The error :meth:`get` raises for ``name`` (close matches, then the known names)."""
        known = self.names()
        message = f"unknown {self.kind} {name!r}{did_you_mean(name, known)}; known {self.plural}: {', '.join(known)}"
        return self.error(message, kind=self.kind, name=name, known=known)

    def get(self, name, default=_MISSING):
        """The object registered as ``name``; ``default`` for an unknown name when one is given.

        Raises:
            UnknownNameError: (or the registry's ``error`` subclass) naming close matches and
                the known names, when no ``default`` is given.

        Examples:
            >>> from kssd.registry import Registry
            >>> readers = Registry("reader")
            >>> for fmt in ("coco", "voc", "yolo"):
            ...     _ = readers.register(fmt, fmt.upper())
            >>> readers.get("vco")
            Traceback (most recent call last):
            ...
            kssd.registry.UnknownNameError: unknown reader 'vco'; known readers: coco, voc, yolo
            >>> readers.get("yollo")
            Traceback (most recent call last):
            ...
            kssd.registry.UnknownNameError: unknown reader 'yollo' (did you mean 'yolo'?); known readers: coco, voc, yolo
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if default is not _MISSING:
                return default
            raise self.unknown(name) from None

    def __getitem__(self, name):
        return self.get(name)

    def metadata(self, name):
        """A copy of the facts registered with ``name`` (a dict, possibly empty)."""
        self.get(name)
        return dict(self._metadata[name])

    def names(self):
        """The registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def where(self, **facts):
        """Sorted names whose metadata has every given ``key=value``.

        Examples:
            >>> from kssd.registry import Registry
            >>> formats = Registry("format")
            >>> _ = formats.register("voc", 1, takes_class_names=True)
            >>> _ = formats.register("coco", 2, takes_class_names=False)
            >>> formats.where(takes_class_names=True)
            ['voc']
        """
        self._load()
        return sorted(
            name
            for name, meta in self._metadata.items()
            if all(key in meta and meta[key] == value for key, value in facts.items())
        )

    def __contains__(self, name):
        self._load()
        try:
            return name in self._entries
        except TypeError:
            return False

    def __iter__(self):
        self._load()
        return iter(list(self._entries))

    def __len__(self):
        self._load()
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}, names={list(self._entries)})"


def _describe(obj):
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(obj)


__all__ = ["Registry", "UnknownNameError", "did_you_mean"]
