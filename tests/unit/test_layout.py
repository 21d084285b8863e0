"""The dependency direction of DESIGN.md: appliance never imports pipelines, web or
torch (cli.py, the composition root, imports them lazily); only pipelines/ may import
torch or diffusers; SQL lives in store.py and migrations.py; appliance/ is five rooms
whose imports run downward only (jewelry <- reader <- studio <- ops, storage under the
studio), with jewelry/ and reader/ pure; no import loops anywhere."""

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
    for path in (ROOT / "appliance").rglob("*.py"):
        for module, at_top in imports(path):
            root = module.split(".")[0]
            assert root not in HEAVY, f"{path.name} imports {module}"
            if root in ("web", "pipelines"):
                assert _composition_root(path.name) and not at_top, f"{path.name} imports {module} at module level"


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


# What each room of appliance/ may import from the project (besides itself). The top-level
# modules config.py and errors.py import no room; cli.py, the composition root, any.
ROOMS = {
    "jewelry": set(),
    "reader": {"jewelry"},
    "storage": set(),
    "studio": {"jewelry", "reader", "storage", "errors"},
    "ops": {"jewelry", "reader", "storage", "studio", "errors", "config"},
}
# Pure rooms hold facts and reading only: no database, no files, no settings, no clock of their own.
IMPURE = {"sqlite3", "sqlite_utils", "os", "pathlib", "shutil", "tempfile", "io", "appliance.config",
          "appliance.storage", "appliance.errors"}


def project_imports(path: Path) -> set[str]:
    """The project modules (dotted, as written) a file imports, at any depth."""
    return {m for m, _ in imports(path) if m.split(".")[0] in ("appliance", "web", "pipelines")}


def place(module: str) -> str | None:
    """The room (or top-level module) of appliance/ a dotted module name is in."""
    parts = module.split(".")
    return parts[1] if parts[0] == "appliance" and len(parts) > 1 else None


def _composition_root(name: str) -> bool:
    """cli.py, and the command groups it hands a subcommand to (cli_lora.py)."""
    return name == "cli.py" or (name.startswith("cli_") and name.endswith(".py"))


def test_every_appliance_module_sits_in_a_room_or_is_one_of_the_three_at_the_top():
    top = {p.name for p in (ROOT / "appliance").glob("*.py") if not _composition_root(p.name)}
    assert top == {"__init__.py", "config.py", "errors.py"}
    assert {p.name for p in (ROOT / "appliance").iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ROOMS)


def test_rooms_import_only_downward():
    for room, allowed in ROOMS.items():
        for path in (ROOT / "appliance" / room).glob("*.py"):
            for module in project_imports(path):
                target = place(module)
                assert module.startswith("appliance."), f"{path.relative_to(ROOT)} imports {module}"
                assert target in allowed | {room}, f"{path.relative_to(ROOT)} imports {module}: {room}/ may use {sorted(allowed)}"
    for name in ("config.py", "errors.py"):
        assert not {place(m) for m in project_imports(ROOT / "appliance" / name)} & set(ROOMS), name


def test_jewelry_and_reader_are_pure():
    for room in ("jewelry", "reader"):
        for path in (ROOT / "appliance" / room).glob("*.py"):
            found = {m for m, _ in imports(path)}
            assert not {m for m in found if m in IMPURE or m.split(".")[0] in IMPURE
                        or any(m.startswith(i + ".") for i in IMPURE)}, path
            assert "open(" not in path.read_text(), f"{path} opens a file"


def test_no_import_loops_between_project_modules():
    files = [p for d in ("appliance", "web", "pipelines") for p in (ROOT / d).rglob("*.py")]
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in files}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name if name and not modules[name].name == "__init__.py" else None

    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {r for n in names if (r := resolve(n)) and r != module}
        graph[module] = deps

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), list(graph[start])
        while stack:
            cur = stack.pop()
            if cur == goal:
                return True
            if cur not in seen:
                seen.add(cur)
                stack.extend(graph.get(cur, ()))
        return False

    loops = sorted(m for m in graph if reaches(m, m))
    assert not loops, f"modules in an import loop: {loops}"


def test_the_generator_interface_imports_no_backend():
    assert not {m for m in project_imports(ROOT / "pipelines" / "base.py") if m.startswith("pipelines.")}
