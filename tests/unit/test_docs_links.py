"""The README and docs/ lead somewhere: every relative link reaches an existing file (and
heading, for a link with an anchor), and every repository path and `signoff.` module they
name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP_LEVEL = (
    "signoff",
    "graphs",
    "tools",
    "emulator",
    "deploy",
    "bench",
    "tests",
    "scripts",
    "docs",
)

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
PATH = re.compile(rf"(?<![\w./%-])((?:{'|'.join(TOP_LEVEL)})/[\w./-]*)")
MODULE = re.compile(r"(?<![\w./-])(signoff(?:\.\w+){2,})")


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO)) for path in paths]


def anchors(document: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped,
    spaces as hyphens, `-1`, `-2` ... for repeats."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", document.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        repeat, candidate = 0, slug
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


def test_anchors_are_githubs(tmp_path: Path):
    document = tmp_path / "doc.md"
    document.write_text(
        "# Title\n## Executing approved actions, exactly once\n### `signoff.toml`\n"
        "```bash\n# not a heading\n```\n## Durable state: checkpointers\n## Body\n## Body\n",
        encoding="utf-8",
    )
    assert anchors(document) == {
        "title",
        "executing-approved-actions-exactly-once",
        "signofftoml",
        "durable-state-checkpointers",
        "body",
        "body-1",
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_relative_link_reaches_a_file_and_heading(document: Path):
    broken = []
    for target in LINK.findall(FENCE.sub("", document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(REPO)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(REPO)}")
    assert not broken, broken


def exists_or_generated(path: str) -> bool:
    """Whether `path` is in the checkout, or is where a run writes its output (git-ignored,
    so absent from a fresh clone: e.g. `bench/results/`)."""
    if (REPO / path).exists():
        return True
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
    return ignored.returncode == 0


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_path_and_module_named_exists(document: Path):
    text = document.read_text(encoding="utf-8")
    missing = [path for path in PATH.findall(text) if not exists_or_generated(path.rstrip("."))]
    for module in MODULE.findall(text):
        parts = module.split(".")
        # The module itself, or the module of the attribute it ends with.
        candidates = [parts, parts[:-1]]
        if not any(
            (REPO / Path(*names)).with_suffix(".py").is_file()
            or (REPO / Path(*names) / "__init__.py").is_file()
            for names in candidates
        ):
            missing.append(module)
    assert not missing, missing
