"""`python -m annotate`: the same program as the `annotate` console script."""

from annotate.cli import main

main()
