"""`python -m aiwf.cli ...`: the same as the `aiwf` console script (how `aiwf up` starts workers)."""

from aiwf.cli.main import main

main()
