"""Every refusal says what to do: each ``AccessRefused(...)`` and each call of a gate's
``refuse(why, hint)`` in the package passes a hint that is not empty, and no gate path
raises a bare ``ValueError`` (a user meets typed one-line errors only). The refusal table
in test_lifecycle_and_gate.py runs each branch of the gate; this finds a new branch
that forgets its hint before anyone meets it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("access_requests", "toolkit", "quality", "pseudonymisation")
REFUSERS = {"AccessRefused", "refuse"}


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _empty(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return not (isinstance(node.value, str) and node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return not node.values
    return False


def test_every_refusal_has_a_hint():
    missing, found = [], 0
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in REFUSERS:
                found += 1
                args = list(node.args) + [k.value for k in node.keywords if k.arg == "hint"]
                if len(args) < 2 or _empty(args[1]):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found > 20  # the gate, the life cycle, identity, release review, sign-off
    assert not missing, missing


def test_no_gate_path_raises_a_bare_value_error():
    """A ``raise ValueError`` in the access requests must be caught where it is raised
    (turned into a typed error), never reach the user."""
    leaks = []
    for path, tree in _sources():
        if path.relative_to(ROOT).parts[0] != "access_requests":
            continue
        caught = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try):
                handled = {
                    n.id
                    for h in node.handlers
                    for n in ast.walk(h.type or ast.Name("BaseException"))
                    if isinstance(n, ast.Name)
                }
                if handled & {"ValueError", "Exception", "BaseException"}:
                    caught |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if _name(exc) == "ValueError" and id(node) not in caught:
                    leaks.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not leaks, leaks
