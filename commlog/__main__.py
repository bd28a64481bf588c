import sys

from commlog.cli import main

sys.exit(main())
