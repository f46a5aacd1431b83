"""The documentation users copy from works, and README stays a short guide.

- Every fenced shell block in README.md and docs/*.md that follows the comment
  ``<!-- runnable -->`` runs (slow): on `make demo`'s artifacts, in a temporary working folder
  whose ``runs/demo`` links to the real one, so what a block writes lands in the temporary
  folder. Each block must exit 0 and write every file it names after ``-o``, ``--output``,
  ``--json``, ``--plot``, ``--save-tree``, ``--markdown``, ``--problems-out`` or ``>`` (not
  ``--audit``: that file is written only when graders disagree). ``<!-- runnable data -->`` marks a block that also needs the real data files under
  ``MATHVERIFY_DATA``; it is skipped, with the reason, where they are missing.
- README.md has at most 150 lines, and every number in its prose appears in a file it links to.
- Every relative link in README.md, docs/ and the examples' READMEs listed below points at a
  file (and a heading) that exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "runs" / "demo"
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The examples' READMEs this test guards (alphamath's still links to files issue #35 renamed).
LINKING_PAGES = [
    *DOC_PAGES,
    *(
        ROOT / "examples" / n / "README.md"
        for n in ("sbs", "react", "alphamath", "letsverify", "labels", "math500")
    ),
]
README_MAX_LINES = 150
# The demo artifacts the runnable blocks read.
DEMO_FILES = (
    "data/test.jsonl",
    "data/train.jsonl",
    "policy/mathverify.json",
    "prm/mathverify.json",
    "greedy.labeled.jsonl",
    "samples.jsonl",
    "samples.labeled.jsonl",
    "samples.prm.jsonl",
    "eval.json",
    "verifier.json",
)
DATA_FILES = ("math500/test.jsonl", "gsm8k/test.jsonl", "processbench/gsm8k.json")
BLOCK_TIMEOUT_S = 900

RUNNABLE = re.compile(
    r"^<!--\s*runnable(?P<tags>(?:\s+[\w-]+)*)\s*-->\s*\n"
    r"```(?:bash|sh|shell)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.M | re.S,
)
OUTPUT_FLAGS = {
    "-o",
    "--output",
    "--json",
    "--plot",
    "--save-tree",
    "--markdown",
    "--problems-out",
    ">",
}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def runnable_blocks(page: Path) -> list[tuple[int, set[str], str]]:
    """(line number, tags, body) of every runnable block of a Markdown page."""
    text = page.read_text()
    return [
        (text.count("\n", 0, m.start()) + 2, set(m["tags"].split()), m["body"])
        for m in RUNNABLE.finditer(text)
    ]


def written_paths(body: str) -> list[str]:
    """The files and folders a block says it writes: the values of the output options."""
    paths: list[str] = []
    for line in body.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0]
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for flag, value in zip(tokens, tokens[1:], strict=False):
            if flag in OUTPUT_FLAGS:
                paths.append(value)
        paths += [
            t.split("=", 1)[1] for t in tokens if "=" in t and t.split("=")[0] in OUTPUT_FLAGS
        ]
    # Paths built from shell variables (loops) are checked by the commands that read them.
    return [p for p in paths if p != "-" and "$" not in p]


def data_dir() -> Path:
    return Path(os.environ.get("MATHVERIFY_DATA", ROOT.parent / "shared" / "data")).resolve()


def test_written_paths_reads_the_output_options():
    body = (
        "mathverify generate -p $P -o runs/x/a.jsonl --limit 2 \\\n"
        "  --json=runs/x/b.json --plot runs/x/plots -o - # -o not/this\n"
        "head -n 1 runs/demo/samples.jsonl > runs/x/c.json\n"
        "mathverify search -o runs/x/shard$i.jsonl\n"
    )
    assert written_paths(body) == [
        "runs/x/a.jsonl",
        "runs/x/plots",
        "runs/x/b.json",
        "runs/x/c.json",
    ]


def test_runnable_marker_finds_blocks(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n<!-- runnable -->\n```bash\necho a\n```\n\n```bash\necho not marked\n```\n"
        "<!-- runnable data -->\n```bash\necho b\n```\n"
    )
    assert runnable_blocks(page) == [(4, set(), "echo a\n"), (12, {"data"}, "echo b\n")]


def test_every_docs_page_with_commands_marks_some_runnable():
    # A page of the stage docs without a single runnable block has commands no test runs.
    stage_pages = ["data", "generate", "labeling", "training", "search", "eval", "records"]
    for name in stage_pages:
        page = ROOT / "docs" / f"{name}.md"
        assert runnable_blocks(page), f"docs/{name}.md has no <!-- runnable --> block"
    assert len(runnable_blocks(ROOT / "README.md")) >= 3


@pytest.fixture
def workdir(tmp_path) -> tuple[Path, dict[str, str]]:
    """A fresh working folder per page (a page's commands must not need another page's), with
    runs/demo linked to the real demo, and an environment whose `mathverify` and `python` are
    this interpreter with this checkout on its path."""
    missing = [f for f in DEMO_FILES if not (DEMO / f).exists()]
    if missing:
        pytest.skip(f"run `make demo` first: runs/demo lacks {', '.join(missing)}")
    work = tmp_path
    (work / "runs").mkdir()
    (work / "runs" / "demo").symlink_to(DEMO, target_is_directory=True)
    bin_dir = work / ".bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "mathverify"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mathverify "$@"\n')
    wrapper.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        MATHVERIFY_DATA=str(data_dir()),
        COLUMNS="120",
    )
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return work, env


@pytest.mark.slow
@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_blocks_run_and_write_what_they_say(page, workdir):
    work, env = workdir
    blocks = runnable_blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no runnable block")
    has_data = all((data_dir() / f).exists() for f in DATA_FILES)
    skipped = []
    for line, tags, body in blocks:
        where = f"{page.relative_to(ROOT)}:{line}"
        if "data" in tags and not has_data:
            skipped.append(where)
            continue
        outputs = written_paths(body)
        for path in outputs:
            assert not path.startswith("runs/demo/"), f"{where} writes into the demo: {path}"
        start = time.monotonic()
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", body],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        seconds = time.monotonic() - start
        assert result.returncode == 0, (
            f"{where} exited {result.returncode} after {seconds:.0f} s:\n{body}\n"
            f"--- stderr (end) ---\n{result.stderr[-4000:]}\n--- stdout (end) ---\n"
            f"{result.stdout[-2000:]}"
        )
        for path in outputs:
            target = work / path
            assert target.exists(), f"{where} did not write {path}:\n{body}"
            if target.is_dir():
                assert any(target.iterdir()), f"{where} wrote an empty folder {path}"
            else:
                assert target.stat().st_size > 0, f"{where} wrote an empty file {path}"
    if skipped:
        pytest.skip(f"ran the other blocks; no data files under {data_dir()} for {skipped}")


# ---------------------------------------------------------------------------------------
# README: short, and every number traceable to a file it links to.


def prose(markdown: str) -> str:
    """Markdown without code blocks, inline code, HTML comments and link targets."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", markdown, flags=re.M | re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def numbers(text: str) -> set[str]:
    return {m.group().rstrip(".,") for m in NUMBER.finditer(prose(text))}


def local_links(page: Path) -> list[tuple[Path, str]]:
    """(file, anchor) of every relative link of a page."""
    links = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        links.append(((page.parent / path).resolve(), anchor))
    return links


def contains_number(text: str, number: str) -> bool:
    forms = {number, number.replace(",", "")}
    return any(re.search(rf"(?<![\d.]){re.escape(form)}(?!\d)", text) for form in forms)


def test_numbers_finds_prose_numbers_only():
    text = "Greedy 61.5 (49.0 to 82.4), 1,000 problems; `--limit 20`; MATH500.\n```\nx 7\n```"
    assert numbers(text) == {"61.5", "49.0", "82.4", "1,000"}
    assert contains_number("solved 1000 of them", "1,000")
    assert not contains_number("accuracy 82.45", "82.4")


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_every_readme_number_is_in_a_file_it_links_to():
    readme = ROOT / "README.md"
    linked = [path for path, _ in local_links(readme) if path.is_file()]
    sources = "\n".join(p.read_text(errors="replace") for p in linked if p.suffix == ".md")
    unsourced = sorted(n for n in numbers(readme.read_text()) if not contains_number(sources, n))
    assert not unsourced, f"numbers in README.md that no linked file holds: {unsourced}"


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.*)$", page.read_text(), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", LINKING_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    for path, anchor in local_links(page):
        assert path.exists(), f"{page.relative_to(ROOT)} links to a missing {path}"
        if anchor and path.suffix == ".md":
            assert anchor in heading_anchors(path), (
                f"{page.relative_to(ROOT)} links to #{anchor}, no such heading in {path.name}"
            )


def test_docs_pages_the_cli_names_exist():
    # Option help points at docs/ for details ("see docs/search.md"); those pages must exist.
    named = set()
    for source in (ROOT / "mathverify").rglob("*.py"):
        named |= set(re.findall(r"docs/[\w-]+\.md", source.read_text()))
    missing = sorted(n for n in named - {"docs/PAGE.md"} if not (ROOT / n).exists())
    assert not missing, f"the CLI's help names missing pages: {missing}"
