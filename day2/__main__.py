import sys

from day2.cli import main

sys.exit(main())
