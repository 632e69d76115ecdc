import sys

from kssd.cli.main import main

sys.exit(main())
