import sys

from pytest_cpybench.cli import main

sys.exit(main())
