"""The shape of the code: the import contract of ARCHITECTURE.md (.importlinter), and the rules it cannot see."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ovop.conversation.flows import FLOWS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ovop"
LAYERS = ("cli", "web", "worker", "jobs", "conversation", "domain", "messaging", "models", "language", "core")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_import_contract_holds():
    """Layers in order, no Flask below web, twilio in its transport only, the domain through notify only."""
    # In a process of its own: import-linter reconfigures logging, which would silence every logger of the suite.
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config", str(ROOT / ".importlinter"),
                          "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 kept, 0 broken" in run.stdout


def test_the_contract_names_every_layer_in_the_order_of_the_architecture():
    layers = re.search(r"layers =\n((?:    .*\n)+)", (ROOT / ".importlinter").read_text()).group(1)
    named = [name.strip().removeprefix("ovop.") for line in layers.splitlines() for name in line.split("|")]
    assert tuple(named) == LAYERS


def test_every_module_lives_in_a_layer():
    outside = [path.relative_to(ROOT).as_posix() for path in modules()
               if path.relative_to(PACKAGE).parts[0].removesuffix(".py") not in LAYERS + ("__init__",)]
    assert outside == []
    # At the root only the entry point that `flask --app app` and gunicorn name.
    assert sorted(path.name for path in ROOT.glob("*.py")) == ["app.py"]


@pytest.mark.parametrize("path", modules(), ids=lambda path: path.relative_to(PACKAGE).as_posix())
def test_no_import_of_our_own_code_hides_inside_a_function(path):
    """A function-level import of ovop is how a cycle gets dodged; the layers make every import top-level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
                hidden += [f"line {node.lineno}: {name}" for name in names if name.split(".")[0] == "ovop"]
    assert hidden == []


def _returned_steps(path: Path) -> set[tuple[str, str]]:
    """Every ("flow", "STEP") literal a module can return."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2:
            flow, step = node.value.elts
            if isinstance(flow, ast.Constant) and isinstance(step, ast.Constant) and isinstance(flow.value, str):
                found.add((flow.value, step.value))
    return found


def test_every_step_a_flow_can_return_is_declared_by_that_flow():
    conversation = sorted((PACKAGE / "conversation").rglob("*.py"))
    returned = set().union(*(_returned_steps(path) for path in conversation))
    assert len(returned) >= 8  # the stock, orders, workshops, language, menu and opt-out questions
    unknown = sorted(f"{flow}.{step}" for flow, step in returned if step not in getattr(FLOWS.get(flow), "steps", {}))
    assert unknown == []


def test_each_flow_is_registered_under_its_own_name():
    assert all(name == flow.name for name, flow in FLOWS.items())
    assert {"menu", "language", "stock", "orders", "workshops", "optout"} <= set(FLOWS)
