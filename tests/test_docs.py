"""The documentation names only what exists: README.md and docs/*.md, read as text (no
TensorFlow, no Ray), checked for

- repository paths in code (backticks, fenced blocks) and in links: each exists;
- dotted modules (`ganime_core.x`, `orchestration.x`, `python -m bench.x`): each is a module
  file or a package, and a name after the module is defined in it;
- markdown links to local files resolve, and every #anchor matches a heading's GitHub slug;
- the README stays a user's document (at most 600 lines), and the four documents link each
  other.

Paths in code are read from the repository root; link targets from the document's folder.
Names a user's run creates (runs/, mlruns/, data/, ~, absolute paths), templates
(`ganime_core/families/<name>.py`) and bare file names (an artifact, a file in the folder the
prose names) are not repository paths.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted([README, *(REPO / "docs").glob("*.md")])
SIBLINGS = ("README.md", "docs/ARCHITECTURE.md", "docs/PERFORMANCE.md", "docs/SCIENCE.md")
README_MAX_LINES = 600

# A path in code is the repository's when its first folder is one of these.
TOP_LEVEL_DIRS = ("ganime_core", "orchestration", "experiments", "tests", "docs", "bench", ".ci")
SUFFIXES = (".py", ".yaml", ".yml", ".md", ".png", ".csv", ".json", ".toml", ".lock")
# Dotted names that are the repository's modules.
PACKAGES = ("ganime_core", "orchestration", "bench")

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)([^`]+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
DOTTED = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+)(?![\w/-])")
WORD_BOUNDARY_PUNCTUATION = "\"'`()[]{}<>,;:!?|"


def _rel(doc: Path) -> str:
    return doc.relative_to(REPO).as_posix()


def _split(doc: Path) -> tuple[list[str], list[str]]:
    """(code, prose): every fenced block's lines and every code span, and the paragraphs
    outside fences with their code spans blanked. A code span or a link may wrap lines, so
    spans are found in whole paragraphs (lines between blank lines), not line by line."""
    code: list[str] = []
    paragraphs: list[list[str]] = [[]]
    fenced = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            paragraphs.append([])
        elif fenced:
            code.append(line)
        elif line.strip():
            paragraphs[-1].append(line)
        else:
            paragraphs.append([])
    prose = []
    for lines in paragraphs:
        text = "\n".join(lines)
        code.extend(match.group(2).replace("\n", " ") for match in CODE_SPAN.finditer(text))
        prose.append(CODE_SPAN.sub(" ", text))
    return code, prose


def _expand_braces(token: str) -> list[str]:
    """a{b,c}d -> [abd, acd], every group (shell brace expansion, without nesting)."""
    parts = re.split(r"\{([^{}]*)\}", token)
    choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
    return ["".join(combination) for combination in itertools.product(*choices)]


def _candidates(text: str) -> list[str]:
    """Words of a code line or span that may be paths: split on white space and on `=` (as in
    --set key=path or --json=path), shell and markdown punctuation stripped from their ends."""
    words = []
    for word in text.split():
        for part in word.split("="):
            part = part.strip(WORD_BOUNDARY_PUNCTUATION.replace("{", "").replace("}", ""))
            part = part.rstrip(".")  # the end of a sentence, not of a name
            if part:
                words.append(part)
    return words


def _is_repo_path(word: str) -> bool:
    if "://" in word or word.startswith(("~", "/", "$")) or "<" in word:
        return False  # a URL, a user's or an absolute path, a template (`families/<name>.py`)
    first, _, rest = word.partition("/")
    if first not in TOP_LEVEL_DIRS or not rest and not word.endswith("/"):
        return False
    return word.endswith("/") or word.endswith(SUFFIXES) or any(c in word for c in "*?{")


def code_paths(doc: Path) -> list[str]:
    """The repository paths a document names in code, in order of appearance."""
    code, _ = _split(doc)
    return [word for text in code for word in _candidates(text) if _is_repo_path(word)]


def _exists(base: Path, path: str) -> bool:
    """`path` (a file, a folder ending in /, or a glob with * ? {,}) exists under `base`."""
    for pattern in _expand_braces(path):
        if any(c in pattern for c in "*?"):
            if not any(base.glob(pattern.rstrip("/"))):
                return False
        elif (
            not (base / pattern).exists() or pattern.endswith("/") and not (base / pattern).is_dir()
        ):
            return False
    return True


def links(doc: Path) -> list[str]:
    """Every link and image target of a document, outside code."""
    _, prose = _split(doc)
    return [match.group(1) for line in prose for match in LINK.finditer(line)]


def _local(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (links reduced to their text, code marks
    dropped), lowercased, every character but letters, digits, spaces, - and _ removed, spaces
    turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    """Every heading's slug, with GitHub's -1, -2 ... for repeated ones."""
    seen: dict[str, int] = {}
    slugs = set()
    fenced = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = HEADING.match(line)
        if fenced or not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


def _module_file(dotted: str) -> tuple[Path | None, list[str]]:
    """The file `dotted` resolves to (a module's .py, or a package's __init__.py) and the names
    after it (attributes), or None where a part is neither a module nor a package."""
    parts = dotted.split(".")
    path = REPO / parts[0]
    if not (path / "__init__.py").is_file():
        return None, parts
    source = path / "__init__.py"
    for i, part in enumerate(parts[1:], start=1):
        if (path / part / "__init__.py").is_file():
            path = path / part
            source = path / "__init__.py"
        elif (path / f"{part}.py").is_file():
            return path / f"{part}.py", parts[i + 1 :]
        else:
            return source, parts[i:]
    return source, []


def _defines(source: Path, name: str) -> bool:
    text = source.read_text(encoding="utf-8")
    pattern = (
        rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b"  # a function or class
        rf"|^{name}\s*[:=]"  # a module-level name
        rf"|^\s*(?:from\s+\S+\s+)?import\s+[^#\n]*\b{name}\b"  # re-exported
        rf"|^\s+{name},?\s*$"  # a name in a parenthesized import
        rf"|^\s*[\"']{name}[\"']\s*[:,]"  # a lazy export: a key of a name -> module table
    )
    return re.search(pattern, text, re.MULTILINE) is not None


def dotted_modules(doc: Path) -> list[str]:
    code, _ = _split(doc)
    return [match.group(1) for text in code for match in DOTTED.finditer(text)]


def _ids(docs: list[Path]) -> list[str]:
    return [_rel(doc) for doc in docs]


def test_the_documents_are_found():
    assert [_rel(doc) for doc in DOCS if _rel(doc) in SIBLINGS] == sorted(SIBLINGS)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_path_named_in_code_exists(doc: Path):
    missing = [path for path in code_paths(doc) if not _exists(REPO, path)]
    assert not missing, f"{_rel(doc)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_dotted_module_exists(doc: Path):
    wrong = []
    for dotted in dotted_modules(doc):
        source, rest = _module_file(dotted)
        if source is None or rest and not _defines(source, rest[0]):
            wrong.append(dotted)
    assert not wrong, f"{_rel(doc)} names modules that do not exist: {wrong}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_local_link_and_anchor_resolves(doc: Path):
    broken = []
    for target in links(doc):
        if not _local(target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.relative_to(REPO)})")
    assert not broken, f"{_rel(doc)} has broken links: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_links_from_docs_use_paths_relative_to_the_document(doc: Path):
    """A link in docs/ reaches a root file through ../ (docs/X.md from docs/ would be
    docs/docs/X.md): the link check above catches that; this one names the mistake."""
    if doc.parent == REPO:
        return
    wrong = [t for t in links(doc) if _local(t) and t.split("/")[0] in (*TOP_LEVEL_DIRS,)]
    assert not wrong, f"{_rel(doc)}: links from docs/ start with ../ or a sibling's name: {wrong}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_document_links_its_siblings(doc: Path):
    linked = {(doc.parent / t.partition("#")[0]).resolve() for t in links(doc) if _local(t)}
    missing = [s for s in SIBLINGS if REPO / s != doc and (REPO / s).resolve() not in linked]
    assert not missing, f"{_rel(doc)} does not link {missing}"


def test_the_readme_is_a_users_document():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


# The checks check themselves: what each extractor must find and must leave alone.


def test_code_paths_are_told_from_names_a_run_creates(tmp_path: Path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "`orchestration/training/tf_backend.py` and `experiments/` and `docs/a{,_b}.{json,png}`\n"
        "`runs/colorize/sketches` `~/.cache/ganime` `/home/ubuntu/x.py` `config.yaml`\n"
        "```bash\n"
        "ganime sweep experiments/quickstart.yaml --json=docs/hint.json  # bench/x.py\n"
        "curl https://example.com/docs/a.png\n"
        "```\n"
        "prose docs/not_code.py is not read\n"
    )
    assert sorted(code_paths(doc)) == sorted(
        [
            "orchestration/training/tf_backend.py",
            "experiments/",
            "docs/a{,_b}.{json,png}",
            "experiments/quickstart.yaml",
            "docs/hint.json",
            "bench/x.py",
        ]
    )
    assert _expand_braces("docs/a{,_b}.{json,png}") == [
        "docs/a.json",
        "docs/a.png",
        "docs/a_b.json",
        "docs/a_b.png",
    ]
    assert not _exists(REPO, "orchestration/tf_backend.py")
    assert _exists(REPO, "orchestration/training/tf_backend.py")
    assert _exists(REPO, "orchestration/")
    assert not _exists(REPO, "experiments/smoke.yaml/")


def test_dotted_modules_resolve_to_files_not_imports(tmp_path: Path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "`python -m bench.weight_response` `from ganime_core.metrics import ssim`\n"
        "`orchestration.ray_internals.CHECKED_AGAINST` `mlflow.experimentKind` `docs/bench.md`\n"
    )
    assert dotted_modules(doc) == [
        "bench.weight_response",
        "ganime_core.metrics",
        "orchestration.ray_internals.CHECKED_AGAINST",
    ]
    assert _module_file("orchestration.ray_internals.CHECKED_AGAINST") == (
        REPO / "orchestration" / "ray_internals.py",
        ["CHECKED_AGAINST"],
    )
    source, rest = _module_file("ganime_core.metrics.FeatureStatistics")
    assert source == REPO / "ganime_core" / "metrics" / "__init__.py"
    assert _defines(source, rest[0])
    source, rest = _module_file("orchestration.tf_backend")
    assert rest == ["tf_backend"] and not _defines(source, "tf_backend")


def test_slugs_are_githubs():
    assert github_slug("Two commands on a fresh machine") == "two-commands-on-a-fresh-machine"
    assert (
        github_slug("GPU nodes: mixed precision, XLA, NCCL, `ganime gpu-check`")
        == "gpu-nodes-mixed-precision-xla-nccl-ganime-gpu-check"
    )
    assert github_slug("Style2paints V1: a [trained](x.md) one") == "style2paints-v1-a-trained-one"
    assert github_slug("Ray's private API") == "rays-private-api"


def test_links_are_read_outside_code(tmp_path: Path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "[a](docs/SCIENCE.md#x) ![img](docs/lazy_unet.png) `[no](code.md)` [u](https://x.y)\n"
        "```\n[no](fenced.md)\n```\n"
    )
    assert links(doc) == ["docs/SCIENCE.md#x", "docs/lazy_unet.png", "https://x.y"]
