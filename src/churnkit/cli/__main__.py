"""`python -m churnkit.cli ARGS` runs the command line."""

from churnkit.cli.entry import main

main()
