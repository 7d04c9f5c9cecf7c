import sys

from asem_bayes.cli import main

sys.exit(main())
