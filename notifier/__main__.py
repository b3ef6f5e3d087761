import sys

from notifier.cli.main import main

sys.exit(main())
