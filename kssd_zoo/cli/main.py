"""The ``kssd`` command line.

Each subcommand lives in its own module of :mod:`kssd_zoo.cli` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` to the
function that runs it (taking the parsed arguments, returning an exit code).

Building the parser imports neither TensorFlow nor Keras (``kssd --help`` and ``kssd --version``
answer at once): a subcommand module imports what its run function needs inside that function,
and choices that copy a kssd registry come from :mod:`kssd_zoo.cli._choices`.

Unless ``kssd --debug COMMAND ...`` is given, TensorFlow's C++ log messages are hidden
(``TF_CPP_MIN_LOG_LEVEL=2`` when the environment does not set it, and, because TensorFlow 2.21
writes some through absl before reading that variable, their lines are dropped from the
process's standard error: :func:`hide_native_logs`; ``TF_CPP_MIN_LOG_LEVEL=0`` keeps them) and
an unexpected error is said in one line instead of a traceback.
"""

import argparse
import atexit
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import threading
import traceback

# A C++ log line of TensorFlow / absl ("I0000 00:00:1796.07 1234 port.cc:153] ..."), absl's
# notice before its initialization, or the TFLite runtime's note on its XNNPACK delegate.
_NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)|INFO: Created TensorFlow Lite XNNPACK"
    rb"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\])"
)

_HIDING_NATIVE_LOGS = False


def hide_native_logs():
    """Drop C++ log lines from this process's standard error (file descriptor 2) from now on.

    Standard error is routed through a pipe; a thread passes everything on except lines that
    look like TensorFlow's or absl's C++ logs (progress bars and Python messages keep their
    order; a partial line that cannot start a log line is passed on at once). Undone at exit;
    once per process. Returns False where the descriptor cannot be redirected.
    """
    global _HIDING_NATIVE_LOGS
    if _HIDING_NATIVE_LOGS:
        return True
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except (OSError, ValueError):
        return False

    def forward(part):
        if part and not _NATIVE_LOG_LINE.match(part):
            os.write(original, part)

    def pump():
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as source:
            while chunk := source.read(65536):
                parts = re.split(rb"(?<=[\n\r])", pending + chunk)
                pending = parts.pop()
                for part in parts:
                    forward(part)
                if pending[:1] not in (b"I", b"W", b"E", b"F"):  # cannot be a log line
                    forward(pending)
                    pending = b""
        forward(pending)

    thread = threading.Thread(target=pump, name="kssd-stderr", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # the pipe's last writer closes: the thread sees the end
        thread.join(timeout=5)

    atexit.register(restore)
    _HIDING_NATIVE_LOGS = True
    return True


def kssd_version():
    """kssd's version, found without importing kssd (whose ``__init__`` imports TensorFlow).

    ``__version__`` is read as text from the ``kssd/__init__.py`` that ``import kssd`` would load,
    so it is the version of the code that runs; else the installed distribution's metadata.

    Examples:
        >>> from kssd_zoo.cli.main import kssd_version
        >>> import kssd
        >>> kssd_version() == kssd.__version__
        True
    """
    try:
        spec = importlib.util.find_spec("kssd")
        if spec is not None and spec.origin:
            with open(spec.origin, encoding="utf-8") as handle:
                found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", handle.read(), re.MULTILINE)
            if found:
                return found.group(1)
    except (ImportError, OSError, ValueError):
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("kssd")
    except PackageNotFoundError:
        return "unknown"


class _ShowDefaults:
    """Formatter mix-in: an option's help ends with ``(default: X)`` unless it speaks of its
    default already; None, False (flags) and suppressed defaults are not shown."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default is argparse.SUPPRESS
            or "default" in help_text.lower()
            or isinstance(action, argparse._SubParsersAction)
        ):
            return help_text
        return f"{help_text} (default: %(default)s)" if help_text else "default: %(default)s"


def _with_defaults(formatter_class):
    if issubclass(formatter_class, _ShowDefaults):
        return formatter_class
    return type(f"Defaults{formatter_class.__name__}", (_ShowDefaults, formatter_class), {})


def parsers(parser):
    """``parser`` and, depth first, every subcommand parser below it.

    Examples:
        >>> from kssd_zoo.cli.main import build_parser, parsers
        >>> [p.prog for p in parsers(build_parser())][:4]
        ['kssd', 'kssd data', 'kssd data convert', 'kssd data stats']
    """
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from parsers(child)


def _subcommand_modules():
    import kssd_zoo.cli as cli_package

    for info in sorted(pkgutil.iter_modules(cli_package.__path__), key=lambda m: m.name):
        if info.name in ("main", "__main__") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kssd_zoo.cli.{info.name}")
        if hasattr(module, "add_parser"):
            yield module


def build_parser():
    """Build the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="kssd", description="SSD object detection for Keras 3.")
    parser.add_argument("--version", action="version", version=f"kssd {kssd_version()}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show TensorFlow's log messages and the full traceback of an error",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommand_modules():
        module.add_parser(subparsers)
    for each in parsers(parser):  # every option's help shows its default
        each.formatter_class = _with_defaults(each.formatter_class)
    return parser


def _debug_requested(argv):
    """Whether ``--debug`` is among the options before the command (looked at before parsing,
    so that TensorFlow's logging is set before anything could import it)."""
    for token in argv:
        if not token.startswith("-"):
            return False
        if token.startswith("--d") and "--debug".startswith(token):  # argparse takes "--deb" too
            return True
    return False


def use_jax_compilation_cache():
    """Give JAX a persistent compilation cache (``$KSSD_CACHE/jax_compilation_cache``, default
    ``~/.keras/kssd/jax_compilation_cache``) unless ``JAX_COMPILATION_CACHE_DIR`` is set.

    Under JAX, building a model runs every variable's random initializer once per distinct shape,
    each a separate XLA compilation (about 1.3 s here): loading ``face_ssd.keras`` took 50 s, of
    which 47 s compiled initializers whose values the loaded weights then replace. With the cache
    the second and later loads take 2.7 s. Set through JAX's environment variables, so JAX need
    not be imported (and is not, unless the command runs on it).
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    root = os.environ.get("KSSD_CACHE") or os.path.join(os.path.expanduser("~"), ".keras", "kssd")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(root, "jax_compilation_cache")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def main(argv=None):
    """Entry point of the ``kssd`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not _debug_requested(argv):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO/WARNING lines
    use_jax_compilation_cache()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") not in ("0", "")
    if not args.debug and quiet and sys.stderr is sys.__stderr__:  # not under a capturing harness
        hide_native_logs()
    try:
        if getattr(args, "imports_zoo", True):  # a command that may run without TensorFlow says so
            _import_the_zoo()
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        _traceback_if(args.debug)
        print(f"kssd {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:  # a diverged run, a full disk: said in one line
        _traceback_if(args.debug)
        print(f"kssd {args.command}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if _file_system_error(error) is not None:  # TensorFlow's writers (SavedModel, TensorBoard logs)
            _traceback_if(args.debug)
            print(f"kssd {args.command}: error: {_tensorflow_message(error)}", file=sys.stderr)
            return 1
        if args.debug:
            raise
        message = _first_line(error)
        print(
            f"kssd {args.command}: error: {type(error).__name__}{': ' + message if message else ''} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _import_the_zoo():
    """Register everything a plain ``import kssd_zoo`` registers (deferred for the command line).

    A subcommand whose parser sets ``imports_zoo=False`` (``kssd sticker``) is run without it and
    imports the zoo itself when it needs Keras."""
    import kssd_zoo

    kssd_zoo._import_all()


def _traceback_if(debug):
    if debug:
        traceback.print_exc()


def _file_system_error(error):
    """:func:`kssd.files.file_system_error`, without importing kssd when TensorFlow is not loaded
    (then ``error`` cannot be one of TensorFlow's)."""
    if "tensorflow" not in sys.modules:
        return None
    from kssd.files import file_system_error

    return file_system_error(error)


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else ""


def _tensorflow_message(error):
    """The first line of a TensorFlow error without its ``{{function_node ...}}`` prefix."""
    message = getattr(error, "message", str(error)).strip().splitlines()[0]
    if message.startswith("{{") and "}}" in message:
        message = message.split("}}", 1)[1].strip()
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
