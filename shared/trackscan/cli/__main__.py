"""``python -m trackscan.cli``: the same command line as the `trackscan` script."""

from trackscan.cli.main import main

main()
