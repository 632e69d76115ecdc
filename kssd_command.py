"""The ``kssd`` console script's launcher: runs :func:`kssd_zoo.cli.main.main` with the zoo's imports deferred.

``import kssd_zoo`` normally imports TensorFlow and registers every model class, so that
``keras.saving.load_model`` works right after it. The command line needs none of that to print its
help or version: this module, outside both packages, tells ``kssd_zoo`` to defer its imports
(:data:`DEFER_ZOO_IMPORT`) before importing the command line; every command still loads the zoo
before it runs. ``python -m kssd_command --version`` is the same as ``kssd --version``.
"""

import sys

#: Read by ``kssd_zoo/__init__.py``: defer its imports until a public name is used.
DEFER_ZOO_IMPORT = True
sys.modules.setdefault("kssd_command", sys.modules[__name__])  # also when run as ``python -m kssd_command``


def main(argv=None):
    from kssd_zoo.cli.main import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
