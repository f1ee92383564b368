"""`python -m frontdesk` runs the command line."""

from frontdesk.cli import main

main()
