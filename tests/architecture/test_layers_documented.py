"""The README names the layers exactly as the import contract orders them, so the picture a new
reader gets is the one `lint-imports` enforces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (whole,) = [c for c in contracts if c["type"] == "layers" and c["containers"] == ["console"]]
    return whole["layers"]


def readme_layers() -> list[str]:
    """The indented `a > b | c > ...` block of README's "How it is built", split at `>`."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## How it is built")[1]
    block = re.search(r"\n\n((?: {4}.*\n)+)", section)
    assert block is not None, "README's 'How it is built' has no indented layer list"
    return [" ".join(layer.split()) for layer in block.group(1).split(">")]


def test_the_readme_lists_the_contracts_layers_in_order():
    assert readme_layers() == contract_layers()


def test_no_contract_allows_indirect_imports():
    assert "allow_indirect_imports" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
