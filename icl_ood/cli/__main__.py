"""`python -m icl_ood.cli`: the `icl-ood` command."""

import sys

from icl_ood.cli import main

sys.exit(main())
