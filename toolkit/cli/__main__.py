"""``python -m toolkit.cli``: the same as the ``mikrodata`` command."""

from toolkit.cli import main

main()
