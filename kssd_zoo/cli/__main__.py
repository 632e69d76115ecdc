import sys

from kssd_zoo.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
