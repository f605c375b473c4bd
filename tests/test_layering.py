"""The layering, enforced: which code may import what (docs/ARCHITECTURE.md describes it).

Read from the source's syntax trees (every import, top-level or inside a function), so the rules
hold for lazy imports too and the check needs neither TensorFlow nor Ray.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# orchestration's parts, and the parts each may import. A part is a package or a top-level module.
# cli assembles everything; the drivers (compare, sweep) build on training and the shared job
# machinery; tracking (MLflow), jobs, data, interrupts and ray_internals stand alone.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "cli": frozenset(
        {"compare", "data", "interrupts", "jobs", "release", "sweep", "tracking", "training"}
    ),
    "compare": frozenset(
        {"interrupts", "jobs", "release", "tracking", "training", "ray_internals"}
    ),
    "sweep": frozenset({"interrupts", "jobs", "tracking", "training", "ray_internals"}),
    "release": frozenset({"tracking"}),
    "training": frozenset({"tracking", "ray_internals"}),
    "tracking": frozenset(),
    "jobs": frozenset(),
    "data": frozenset(),
    "interrupts": frozenset(),
    "ray_internals": frozenset(),
}

# The one owner of each outside library inside orchestration (None: nobody may).
OWNERS = {"mlflow": "tracking", "optuna": "sweep"}

# Where Ray's private API may be touched: one module for the product, one for the tests.
RAY_PRIVATE_OWNERS = {
    Path("orchestration/ray_internals.py"),
    Path("tests/support/ray_internals.py"),
}
PRIVATE_METHODS = {"_create_default_callbacks"}  # Ray methods GANime overrides or calls


@dataclass(frozen=True)
class Import:
    """One import in a file: the module named (absolute), and where."""

    module: str
    line: int


def imports_of(source: str, package: str = "") -> Iterator[Import]:
    """Every module `source` imports, `from x import y` as both x and x.y (y may be a module);
    relative imports resolved against `package`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield Import(base, node.lineno)
            for alias in node.names:
                yield Import(f"{base}.{alias.name}", node.lineno)


def ray_private_touches(source: str) -> Iterator[tuple[int, str]]:
    """Every use of Ray's private API in `source`: an import of a `ray` module with a private
    part (`ray._private`, `ray.train.v2._internal`), an attribute chain from `ray` through a
    private name (`ray._private.state`), and a call of a private Ray method by name."""
    for found in imports_of(source):
        parts = found.module.split(".")
        if parts[0] == "ray" and any(_private(p) for p in parts):
            yield found.line, found.module
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain and chain[0] == "ray" and any(_private(p) for p in chain):
                yield node.lineno, ".".join(chain)
            elif node.attr in PRIVATE_METHODS:
                yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef) and node.name in PRIVATE_METHODS:
            yield node.lineno, f"def {node.name}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _attribute_chain(node: ast.Attribute) -> list[str]:
    names = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        names.append(value.attr)
        value = value.value
    return [value.id, *reversed(names)] if isinstance(value, ast.Name) else []


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def part_of(path: Path) -> str:
    """orchestration/sweep/driver.py -> 'sweep'; orchestration/interrupts.py -> 'interrupts'."""
    relative = path.relative_to(REPO / "orchestration")
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def module_package(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = relative.parts if relative.name == "__init__" else relative.parts[:-1]
    return ".".join(p for p in parts if p != "__init__")


def test_ganime_core_imports_nothing_around_it() -> None:
    """The core is the models and the science: no Ray, MLflow, Optuna, nor orchestration."""
    forbidden = {"ray", "mlflow", "optuna", "orchestration"}
    offenders = [
        f"{path.relative_to(REPO)}:{found.line}: {found.module}"
        for path in python_files("ganime_core")
        for found in imports_of(path.read_text(), module_package(path))
        if found.module.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_every_orchestration_part_imports_only_the_parts_beneath_it() -> None:
    files = [p for p in python_files("orchestration") if p != REPO / "orchestration/__init__.py"]
    parts = {part_of(p) for p in files}
    assert parts == set(MAY_IMPORT), "a new part of orchestration needs its place in MAY_IMPORT"
    offenders = []
    for path in files:
        own = part_of(path)
        for found in imports_of(path.read_text(), module_package(path)):
            names = found.module.split(".")
            if names[0] != "orchestration" or len(names) < 2:
                continue
            if names[1] != own and names[1] not in MAY_IMPORT[own]:
                offenders.append(f"{path.relative_to(REPO)}:{found.line}: {found.module}")
    assert offenders == []


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_outside_library_has_one_owner_in_orchestration(library: str) -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{found.line}: {found.module}"
        for path in python_files("orchestration")
        for found in imports_of(path.read_text(), module_package(path))
        if found.module.split(".")[0] == library and part_of(path) != OWNERS[library]
    ]
    assert offenders == []


def test_rays_private_api_is_touched_only_in_its_two_modules() -> None:
    """A Ray upgrade checks orchestration/ray_internals.py and tests/support/ray_internals.py,
    and nothing else."""
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in python_files("orchestration", "ganime_core", "bench", "tests")
        if path.relative_to(REPO) not in RAY_PRIVATE_OWNERS
        for line, what in ray_private_touches(path.read_text())
    ]
    assert offenders == []


def test_the_product_module_asserts_the_ray_version_it_was_checked_against() -> None:
    source = (REPO / "orchestration" / "ray_internals.py").read_text()
    pinned = re.search(r'CHECKED_AGAINST = "(\d+\.\d+)\.\d+"', source)
    assert pinned, "ray_internals.py names the Ray version its touch points were checked against"
    allowed = re.search(r'"ray\[[^\]]*\]==([\d.]+)\.\*"', (REPO / "pyproject.toml").read_text())
    assert allowed and allowed.group(1) == pinned.group(1)
    locked = re.search(r"^ray==([\d.]+)$", (REPO / "requirements.lock").read_text(), re.M)
    assert locked and locked.group(1).startswith(pinned.group(1) + ".")


# The checks themselves: each finds what it is for (a checker that finds nothing passes anything).


def test_imports_are_found_inside_functions_and_relative_ones_resolved() -> None:
    source = "def f():\n    import mlflow.tracking\n    from ..tracking import runs\n"
    found = [i.module for i in imports_of(source, "orchestration.sweep")]
    assert found == ["mlflow.tracking", "orchestration.tracking", "orchestration.tracking.runs"]


def test_every_kind_of_private_ray_touch_is_found() -> None:
    source = (
        "import ray\n"
        "from ray.train.v2._internal.exceptions import WorkerGroupStartupTimeoutError\n"
        "def f(trainer):\n"
        "    ray._private.state.actors()\n"
        "    trainer._create_default_callbacks()\n"
        "    return ray.__version__, ray.train.report\n"
    )
    lines = sorted({line for line, _ in ray_private_touches(source)})
    assert lines == [2, 4, 5]


# Names several modules define on purpose, each for its own part of one protocol.
SHARED_NAMES = {
    "register": "each CLI command module's: adds its subcommand (orchestration/cli/__main__.py)",
    "run": "each CLI command module's: runs its subcommand",
    "RUNNER": "each runner's own name (training/local.py, training/ray_train.py), and tags.py's "
    "key of the tag it is recorded under",
    "VGG19": "assets.py's weights file and metrics/names.py's network name (names.VGG19 in a "
    "metric's name); both are always read qualified",
}


def test_a_public_name_has_one_meaning() -> None:
    """A top-level public name is defined by one module of the product, so that a reader who
    meets it knows which thing it is (SHARED_NAMES: the few shared on purpose)."""
    owners: dict[str, list[str]] = {}
    for path in python_files("ganime_core", "orchestration"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined = [node.name]
            elif isinstance(node, ast.Assign):
                defined = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined = [node.target.id]
            else:
                continue
            for name in defined:
                if not name.startswith("_") and name not in ("log", "__all__"):
                    owners.setdefault(name, []).append(str(path.relative_to(REPO)))
    shared = {name: paths for name, paths in owners.items() if len(paths) > 1}
    assert set(shared) == set(SHARED_NAMES), shared


# --- lazy imports -------------------------------------------------------------------------------

# What a function-local import may keep out of a module: libraries that take seconds or hundreds
# of MB to import. GANime's lazy seams keep TensorFlow out of drivers, the CLI's --help and the
# Train controller; matplotlib, TF Hub and Kaggle out of the runs that do not use them.
HEAVY_LIBRARIES = frozenset(
    {"tensorflow", "keras", "tensorflow_hub", "matplotlib", "kaggle", "ray", "mlflow", "optuna"}
)


def product_modules() -> dict[str, Path]:
    modules = {}
    for path in python_files("ganime_core", "orchestration"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def top_level_imports(tree: ast.Module) -> list[str]:
    """The modules a module imports when it is imported (not inside functions, not for type
    checkers), `from x import y` as both x and x.y."""
    found: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.extend(i.module for i in imports_of(ast.unparse(node)))
            elif isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                continue
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


class HeavyImports:
    """Which heavy libraries importing a module loads, through its top-level imports and its
    packages' (transitively, within the product)."""

    def __init__(self) -> None:
        self.files = product_modules()
        self.trees = {name: ast.parse(path.read_text()) for name, path in self.files.items()}
        self.direct = {name: top_level_imports(tree) for name, tree in self.trees.items()}
        self.memo: dict[str, frozenset[str]] = {}

    def ours(self, name: str) -> str | None:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in self.files:
                return ".".join(parts[:end])
        return None

    def of_module(self, module: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        if module in self.memo:
            return self.memo[module]
        parts = module.split(".")
        imported = [".".join(parts[:end]) for end in range(1, len(parts))] + self.direct[module]
        found: set[str] = set()
        for name in imported:
            if name.split(".")[0] in HEAVY_LIBRARIES:
                found.add(name.split(".")[0])
            inner = self.ours(name)
            if inner and inner != module and inner not in seen:
                found |= self.of_module(inner, seen | {module})
        self.memo[module] = frozenset(found)
        return self.memo[module]

    def of_name(self, name: str) -> frozenset[str]:
        if name.split(".")[0] in HEAVY_LIBRARIES:
            return frozenset({name.split(".")[0]})
        inner = self.ours(name)
        return self.of_module(inner) if inner else frozenset()

    def lazy_imports_that_save_nothing(self, module: str) -> list[tuple[int, str]]:
        loaded = self.of_module(module)
        wasted = []
        for function in ast.walk(self.trees[module]):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [i.module for i in imports_of(ast.unparse(node))]
                    if not set().union(*map(self.of_name, names)) - loaded:
                        wasted.append((node.lineno, names[0]))
        return wasted


@cache
def heavy_imports() -> HeavyImports:
    return HeavyImports()


def test_a_lazy_import_keeps_a_heavy_library_out_of_its_module() -> None:
    """A function-local import is a seam only if it defers a heavy library its module does not
    load anyway; any other belongs at the top, where a reader looks for a module's imports."""
    heavy = heavy_imports()
    offenders = [
        f"{heavy.files[module].relative_to(REPO)}:{line}: {name}"
        for module in heavy.files
        for line, name in heavy.lazy_imports_that_save_nothing(module)
    ]
    assert offenders == []


def test_the_lazy_import_check_tells_a_seam_from_a_wasted_one() -> None:
    heavy = heavy_imports()
    # The Ray Train worker loop's TensorFlow is a seam: the driver imports its module.
    assert "tensorflow" not in heavy.of_module("orchestration.training.ray_train")
    assert heavy.of_name("ganime_core.train") >= {"tensorflow"}
    # ganime_core.families is a registry of lazy paths: importing it loads nothing heavy.
    assert heavy.of_module("ganime_core.families") == frozenset()
