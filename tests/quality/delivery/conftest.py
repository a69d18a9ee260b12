from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def clean_synthetic(tmp_path_factory):
    """Clean synthetic registers from the population model (toolkit.synthetic)."""
    from mikrodata.toolkit.synthetic.generate import generate

    root = tmp_path_factory.mktemp("synthetic") / "registers"
    generate(root, persons=200, years=(2015, 2016), seed=3)
    return root
