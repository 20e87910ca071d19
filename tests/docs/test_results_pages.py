"""Results pages (docs/results/): each begins with the fixed header (command, commit, date,
CPU, ISA, threads, torch, the other processes' CPU share, status), names a bench script
that exists, and has a JSON twin that agrees with it; ``write_results`` (bench/common.py)
writes pages that pass the same check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
BENCH = ROOT / "bench"
HEADER = ("bench", "command", "commit", "date", "CPU", "ISA", "threads", "torch",
          "other processes' CPU", "status")
KINDS = ("avx512", "avx2", "avx512-capped-avx2", "noavx2")
# the benches behind the docs' headline figures: each has a page for the AVX-512 kind
HEADLINE_BENCHES = ("default_variants", "seed_recipes", "throughput", "translation",
                    "inpaint_heldout", "emoji", "data_throughput", "startup", "step_floor",
                    "contention", "metric_floor", "modes2d", "stacked_mnist",
                    "emoji_extractor", "inpaint_tuning", "translation_validation",
                    "time_to_quality")


def _row(line: str) -> tuple[str, str] | None:
    """(label, value) of a two-column Markdown table row (``\\|`` inside a cell kept)."""
    cells = re.split(r"(?<!\\) \| ", line.strip().removeprefix("| ").removesuffix(" |"))
    if not line.startswith("| ") or not line.rstrip().endswith(" |") or len(cells) != 2:
        return None
    return cells[0].strip(), cells[1].strip()


def _plain(value: str) -> str:
    """A header cell as text: code marks removed, ``\\|`` unescaped."""
    return value.replace("`", "").replace("\\|", "|")


def page_problems(path: Path, benches: Path = BENCH) -> list[str]:
    """What is wrong with the results page at ``path``: an empty list where nothing is."""
    lines = path.read_text().splitlines()
    if len(lines) < 4 + len(HEADER) or not lines[0].startswith("# ") or lines[0] == "# ":
        return [f"{path.name}: does not begin with a title and the {len(HEADER)}-row header"]
    problems = []
    if lines[1:4] != ["", "| | |", "|---|---|"]:
        problems.append(f"{path.name}: the header table does not follow the title")
    values = {}
    for label, line in zip(HEADER, lines[4:4 + len(HEADER)]):
        row = _row(line)
        if row is None or row[0] != label:
            problems.append(f"{path.name}: header row {label!r} missing or out of order "
                            f"(found {line!r})")
        elif not row[1]:
            problems.append(f"{path.name}: header row {label!r} is empty")
        else:
            values[label] = row[1]
    if problems:
        return problems
    bench = re.fullmatch(r"`bench/(\w+)\.py`", values["bench"])
    if bench is None:
        problems.append(f"{path.name}: the bench row is not plain `bench/NAME.py` text "
                        f"({values['bench']!r})")
    elif not (benches / f"{bench[1]}.py").is_file():
        problems.append(f"{path.name}: names bench/{bench[1]}.py, which does not exist")
    elif path.stem not in {f"{bench[1]}-{kind}" for kind in KINDS}:
        problems.append(f"{path.name}: not named <bench>-<kind>.md for bench {bench[1]}")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", values["date"]):
        problems.append(f"{path.name}: the date is not YYYY-MM-DD ({values['date']!r})")
    if not values["ISA"].startswith(("AVX-512", "AVX2", "no AVX2")):
        problems.append(f"{path.name}: the ISA row names no ISA ({values['ISA']!r})")
    status = values["status"]
    if status not in ("measured", "migrated"):
        problems.append(f"{path.name}: status {status!r} is neither measured nor migrated")
    share = re.fullmatch(r"(\d+(?:\.\d+)?) % \((quiet|busy)\)", values["other processes' CPU"])
    if share and (float(share[1]) < 5) != (share[2] == "quiet"):
        problems.append(f"{path.name}: {share[0]!r}: quiet means under 5 %")
    if status == "measured" and not share and "not measured" not in values[
            "other processes' CPU"]:
        problems.append(f"{path.name}: a measured page gives no CPU share of the others")
    twin = path.with_suffix(".json")
    try:
        data = json.loads(twin.read_text())
    except (OSError, ValueError) as error:
        return problems + [f"{path.name}: no readable JSON twin ({error})"]
    for key, label in (("command", "command"), ("commit", "commit"), ("status", "status")):
        if data.get(key) != _plain(values[label]):
            problems.append(f"{twin.name}: {key} {data.get(key)!r} is not the page's "
                            f"{_plain(values[label])!r}")
    if bench and data.get("bench") != bench[1]:
        problems.append(f"{twin.name}: bench {data.get('bench')!r} is not {bench[1]!r}")
    return problems


PAGES = sorted(p for p in RESULTS.glob("*.md") if p.name != "index.md")


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_results_page_has_the_header_and_a_bench_that_exists(page):
    assert page_problems(page) == []


def test_the_headline_benches_have_their_avx512_pages_and_the_index_lists_every_page():
    assert {f"{name}-avx512.md" for name in HEADLINE_BENCHES} <= {p.name for p in PAGES}
    index = (RESULTS / "index.md").read_text()
    assert all(f"]({page.name})" in index for page in PAGES)


def test_write_results_writes_a_page_that_passes_and_keeps_the_other_sections(tmp_path,
                                                                             load_bench):
    common = load_bench("common")
    measured = common.write_results(
        "startup", "Start-up", {"seconds": 1.0}, "| a | b |\n|---|---|\n| 1 | 2 |",
        section="", headline="1 s", folder=tmp_path)
    assert page_problems(measured) == []
    migrated = {"command": "python bench/startup.py --repeats 3", "commit": "abc1234",
                "date": "2026-01-02", "cpu": "Some CPU", "isa": "AVX2", "threads": "2",
                "torch": "2.14.1", "other_cpu": "not measured (migrated)", "kind": "avx2"}
    for section in ("earlier", ""):  # the main section last: the header names it
        path = common.write_results("startup", "Start-up", {"seconds": 2.0}, f"run {section}",
                                    section=section, heading=section, status="migrated",
                                    provenance=migrated, folder=tmp_path)
    assert path.name == "startup-avx2.md" and page_problems(path) == []
    text = path.read_text()
    assert "| status | migrated |" in text and "run earlier" in text
    page = json.loads(path.with_suffix(".json").read_text())
    assert [s["key"] for s in page["sections"]] == ["earlier", ""]
    index = (tmp_path / "index.md").read_text()
    assert "](startup-avx2.md)" in index and f"]({measured.name})" in index


def test_the_checker_rejects_a_page_missing_a_header_row_or_naming_no_bench(tmp_path,
                                                                          load_bench):
    common = load_bench("common")
    page = common.write_results("startup", "Start-up", {}, "figures", folder=tmp_path)
    text = page.read_text()
    page.write_text("".join(line for line in text.splitlines(keepends=True)
                            if not line.startswith("| torch |")))
    assert any("'torch'" in problem for problem in page_problems(page))
    page.write_text(text.replace("`bench/startup.py`", "`bench/no_such_bench.py`"))
    assert any("does not exist" in problem for problem in page_problems(page))
    page.write_text(text.replace("| status | measured |", "| status | guessed |"))
    assert any("neither measured nor migrated" in p for p in page_problems(page))
