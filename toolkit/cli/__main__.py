"""``python -m mikrodata.toolkit.cli``: the same as the ``mikrodata`` command."""

from mikrodata.toolkit.cli import main

main()
