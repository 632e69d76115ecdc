"""The ``kssd`` console script's launcher: runs :func:`kssd_zoo.cli.main.main` with the zoo's imports deferred.

``import kssd_zoo`` normally imports TensorFlow and registers every model class, so that
``keras.saving.load_model`` works right after it. The command line needs none of that to print its
help or version: this module, outside both packages, tells ``kssd_zoo`` and ``kssd`` to defer their imports
(:data:`DEFER_IMPORTS`) before importing the command line. Every command loads the zoo before it
runs, except those that need no TensorFlow (``kssd sticker`` on its TFLite runtime), which load
it only if they turn out to need it. ``python -m kssd_command --version`` is the same as ``kssd --version``.
"""

import sys

#: Read by ``kssd_zoo/__init__.py`` and ``kssd._deferred_imports``: defer the packages' imports
#: until a public name is used.
DEFER_IMPORTS = True
sys.modules.setdefault("kssd_command", sys.modules[__name__])  # also when run as ``python -m kssd_command``


def main(argv=None):
    from kssd_zoo.cli.main import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
