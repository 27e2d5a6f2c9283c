"""``python -m ringctl``."""

from ringctl.cli import main

main()
