import sys

from augur_sdk.cli import main

sys.exit(main())
