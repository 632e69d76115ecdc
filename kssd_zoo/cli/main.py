"""The ``kssd`` command line.

Each subcommand lives in its own module of :mod:`kssd_zoo.cli` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` to the
function that runs it (taking the parsed arguments, returning an exit code).
"""

import argparse
import importlib
import pkgutil
import sys

import kssd


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
    parser.add_argument("--version", action="version", version=f"kssd {kssd.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommand_modules():
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``kssd`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"kssd {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:  # a diverged run, a full disk: said in one line
        print(f"kssd {args.command}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        from kssd.files import file_system_error

        refusal = file_system_error(error)  # TensorFlow's writers (SavedModel, TensorBoard logs)
        if refusal is None:
            raise
        print(f"kssd {args.command}: error: {_tensorflow_message(error)}", file=sys.stderr)
        return 1


def _tensorflow_message(error):
    """The first line of a TensorFlow error without its ``{{function_node ...}}`` prefix."""
    message = getattr(error, "message", str(error)).strip().splitlines()[0]
    if message.startswith("{{") and "}}" in message:
        message = message.split("}}", 1)[1].strip()
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
