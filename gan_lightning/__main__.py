"""``python -m gan_lightning [overrides]`` trains one run (or a sweep with ``-m``)."""

import sys

from gan_lightning.train import check_run_dir, main

check_run_dir(sys.argv[1:])
main()
