"""`python -m emu` is `gosched-emu`."""
import sys

from .cli import main

sys.exit(main())
