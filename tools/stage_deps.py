"""Each stage's code deps, derived from the code: the stage script plus its import closure in src/stockcast.

`python tools/stage_deps.py` prints the stages whose dvc.yaml deps differ from their closure;
`python tools/stage_deps.py --write` (`make deps`) rewrites those deps in dvc.yaml, keeping its comments
and every data dep. tests/test_stage_deps.py fails, naming the stage and the module, whenever the two differ.

The closure is the set of library files Python would execute when the script runs: every
`import`/`from ... import` anywhere in a file (function-level imports too, but not those under
`if TYPE_CHECKING:`), each package's `__init__.py` on the way, followed transitively. A package folder
is listed as one dep when the stage imports every file in it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = "src"
PACKAGE = "stockcast"
CODE_PREFIXES = ("stages/", f"{LIBRARY}/{PACKAGE}")


def module_file(module: str, root: Path = ROOT) -> Path | None:
    """The file that defines `module` ('stockcast.data.quality'), or None when it is not the library's."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = root / LIBRARY / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_runtime(tree: ast.AST):
    """ast.walk without the bodies of `if TYPE_CHECKING:` (those imports never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _package_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root / LIBRARY).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] != "__init__" else parts[:-1])


class DynamicImport(Exception):
    """A file imports by computed name (importlib.import_module, __import__): no closure can see it."""


def _is_dynamic_import(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    fn = node.func
    name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
    return name in ("import_module", "__import__")


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Dotted names of the modules `path` imports (a `from a import b` counts a.b when b is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in _walk_runtime(tree):
        if _is_dynamic_import(node):
            raise DynamicImport(f"{path.relative_to(root)}:{node.lineno}: an import by computed name; "
                                "import the module by name so the stage deps can follow it")
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path, root).split(".")
                package = package[:len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _with_parents(module: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b', 'a.b.c']: importing a submodule runs every package __init__ above it."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(script: Path, root: Path = ROOT) -> set[Path]:
    """Every library file that running `script` imports, directly or not."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        current = todo.pop()
        for module in imported_modules(current, root):
            for name in _with_parents(module):
                file = module_file(name, root)
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def as_deps(files: set[Path], root: Path = ROOT) -> list[str]:
    """Repository-relative dep paths, a package folder in place of its files when all of them are used."""
    library = root / LIBRARY / PACKAGE
    remaining = set(files)
    folders = []
    for folder in sorted((p.parent for p in library.rglob("__init__.py") if p.parent != library),
                         key=lambda p: len(p.parts)):
        members = set(folder.rglob("*.py"))
        if members and members <= remaining:
            folders.append(folder)
            remaining -= members
    paths = [*(str(f.relative_to(root)) for f in folders), *(str(f.relative_to(root)) for f in remaining)]
    return sorted(paths)


def stage_script(cmd: str) -> str | None:
    """`python stages/train.py ...` -> 'stages/train.py' (None for a stage that runs no stage script)."""
    words = cmd.split()
    return next((w for w in words if w.startswith("stages/") and w.endswith(".py")), None)


def dep_path(dep: object) -> str:
    return next(iter(dep)) if isinstance(dep, dict) else str(dep)


def is_code_dep(path: str) -> bool:
    return path.startswith(CODE_PREFIXES)


def expected_code_deps(cmd: str, root: Path = ROOT) -> list[str]:
    script = stage_script(cmd)
    if script is None:
        return []
    return [script, *as_deps(closure(root / script, root), root)]


def load_dvc_yaml(root: Path = ROOT):
    from ruamel.yaml import YAML  # DVC's own YAML library: keeps comments when rewriting

    parser = YAML(typ="rt")  # round-trip: plain mappings and lists with their comments, never Python objects
    parser.preserve_quotes = True
    parser.width = 120
    parser.indent(mapping=2, sequence=4, offset=2)
    return parser, parser.load((root / "dvc.yaml").read_text())


def differences(root: Path = ROOT) -> dict[str, tuple[list[str], list[str]]]:
    """stage -> (missing from dvc.yaml, listed but not imported), only for stages that differ."""
    _, pipeline = load_dvc_yaml(root)
    out = {}
    for name, stage in pipeline["stages"].items():
        listed = [dep_path(d) for d in stage.get("deps", []) if is_code_dep(dep_path(d))]
        wanted = expected_code_deps(stage["cmd"], root)
        missing = [d for d in wanted if d not in listed]
        extra = [d for d in listed if d not in wanted]
        if missing or extra:
            out[name] = (missing, extra)
    return out


def write(root: Path = ROOT) -> list[str]:
    """Rewrite every stage's code deps in dvc.yaml from its closure; return the stages changed."""
    yaml, pipeline = load_dvc_yaml(root)
    changed = []
    for name, stage in pipeline["stages"].items():
        deps = stage.get("deps", [])
        data = [d for d in deps if not is_code_dep(dep_path(d))]
        wanted = expected_code_deps(stage["cmd"], root)
        if [dep_path(d) for d in deps if is_code_dep(dep_path(d))] != wanted:
            changed.append(name)
            deps.clear()
            deps.extend([*wanted, *data])
            stage["deps"] = deps
    if changed:
        with (root / "dvc.yaml").open("w") as handle:
            yaml.dump(pipeline, handle)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the code deps in dvc.yaml")
    args = parser.parse_args()
    if args.write:
        changed = write()
        print(f"dvc.yaml: code deps rewritten for {', '.join(changed)}" if changed
              else "dvc.yaml: code deps up to date")
        return 0
    diff = differences()
    for stage, (missing, extra) in diff.items():
        for path in missing:
            print(f"{stage}: imports {path} but dvc.yaml does not list it")
        for path in extra:
            print(f"{stage}: dvc.yaml lists {path} but the stage does not import it")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
