"""The dependency direction of DESIGN.md: appliance never imports pipelines, web or
torch (cli.py, the composition root, imports them lazily); only pipelines/ may import
torch or diffusers; SQL lives in store.py and migrations.py."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "diffusers", "transformers", "accelerate", "peft"}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level) for every import in a file."""
    tree = ast.parse(path.read_text())
    top = set(id(n) for n in tree.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in top))
    return found


def test_appliance_imports_neither_web_nor_pipelines_nor_torch():
    for path in (ROOT / "appliance").glob("*.py"):
        for module, at_top in imports(path):
            root = module.split(".")[0]
            assert root not in HEAVY, f"{path.name} imports {module}"
            if root in ("web", "pipelines"):
                assert path.name == "cli.py" and not at_top, f"{path.name} imports {module} at module level"


def test_only_pipelines_import_torch():
    for folder in ("appliance", "web"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not {m.split(".")[0] for m, _ in imports(path)} & HEAVY, path


def test_sql_lives_in_the_store_module():
    sql = re.compile(r'"\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b')
    for folder in ("appliance", "web", "pipelines"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("store.py", "migrations.py"):
                continue
            assert not sql.search(path.read_text()), f"SQL in {path}"


def test_templates_have_no_inline_scripts_or_styles():
    for path in (ROOT / "web" / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert " style=" not in text and "<style" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path
