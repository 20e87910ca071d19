"""What every benchmark shares: running gankit in a subprocess, timing, the machine's facts,
the other processes' CPU share during the run, and the results pages.

A bench script (``python bench/NAME.py`` from the repository root) starts with
``import common``: Python puts the script's folder on ``sys.path``, and this module puts the
repository root there once, so that ``gankit`` (this checkout's) and ``tools.*`` import.
Importing it also starts the CPU-share meter (:class:`CpuShare`), so the share covers the
whole run.

Results pages. :func:`write_results` writes ``docs/results/<bench>-<kind>.json`` (the
figures) and ``.md`` (a fixed header, then the tables), and regenerates
``docs/results/index.md``. ``kind`` is the CPU kind the run measured: ``avx512``, ``avx2``
or ``avx512-capped-avx2`` (an AVX-512 CPU with ``ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2``). A page holds one or more *sections*; a run replaces the
sections it measured and keeps the others, each of which names its own run in one line.
The header names the run that wrote the page last.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's gankit, and tools/ as ``tools.*``
    sys.path.insert(0, str(ROOT))

# the machine's facts and the CPU-share meter live in bench/machine.py; machine_line is
# re-exported for the benches' first output line
from machine import ISA_CAPS, LOAD, isa, machine, machine_line  # noqa: E402,F401

RESULTS = ROOT / "docs" / "results"
# environment variables that change what a bench measures: part of its exact command line
COMMAND_ENV = ISA_CAPS + ("OMP_NUM_THREADS", "GANKIT_ONEDNN", "GANKIT_CALIBRATE")
# the rows of every results page's header, in order (tests/docs/test_results_pages.py)
HEADER = ("bench", "command", "commit", "date", "CPU", "ISA", "threads", "torch",
          "other processes' CPU", "status")
STATUSES = ("measured", "migrated")


# --- the command line ------------------------------------------------------------------------

def parser(doc: str, *, results: bool = True) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of a script's docstring (the
    rest is its epilog, as written). ``results``: the bench writes a results page, so it
    also takes ``--no-write`` and ``--results-dir``."""
    first, _, rest = doc.strip().partition("\n\n")
    made = argparse.ArgumentParser(description=" ".join(first.split()), epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    if results:
        made.add_argument("--no-write", action="store_true",
                          help="print the figures only; leave the results pages as they are "
                          "(for smoke runs)")
        made.add_argument("--results-dir", type=Path, default=RESULTS, metavar="DIR",
                          help="where the results pages go (default: docs/results)")
    return made


def changed(parser: argparse.ArgumentParser, args: argparse.Namespace,
            names: set[str] | None = None) -> str:
    """The options in ``args`` (of ``names``, default all) that differ from ``parser``'s
    defaults, as they are spelled on a command line: "--seeds none --set a=1". A bench
    keys its results section with it, so a run with other settings keeps a section of its
    own."""
    words: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if (not action.option_strings or action.dest in ("help", "no_write", "results_dir")
                or (names is not None and action.dest not in names)
                or value == action.default):
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(value, bool):
            words.append(flag)
        elif isinstance(value, list) and action.nargs in ("+", "*"):
            words += [flag, *map(str, value)]
        elif isinstance(value, list) and isinstance(action, argparse._AppendAction):
            words += [word for item in value for word in (flag, str(item))]
        elif isinstance(value, list):  # a comma-separated list parsed by its type
            words += [flag, ",".join(f"{item:g}" if isinstance(item, float) else str(item)
                                     for item in value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def command_line() -> str:
    """This process's command as run from the repository root, with the environment
    variables that change what it measures (the ISA caps, OMP_NUM_THREADS, GANKIT_*)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    env = [f"{key}={os.environ[key]}" for key in COMMAND_ENV if os.environ.get(key)]
    return shlex.join([*env, "python", str(script), *sys.argv[1:]])


# --- subprocesses and timing -----------------------------------------------------------------

@dataclass
class Ran:
    """One finished subprocess: its wall time, its peak resident memory and its output."""

    command: list[str]
    seconds: float
    peak_rss_mib: float  # the largest of the process and the children it waited for
    returncode: int
    stdout: str
    stderr: str


def child_env(drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """This environment with the repository root first on PYTHONPATH (a child imports this
    checkout's gankit), ``drop`` removed and ``extra`` set."""
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | str = ROOT,
        check: bool = True) -> Ran:
    """Run ``command`` to its end: wall seconds, peak RSS (``wait4``) and its output (into
    files, not pipes, so that a chatty child never blocks). ``check``: a failure stops the
    bench with the command and the end of its stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        ran = Ran(command, seconds, usage.ru_maxrss / 1024, process.returncode,
                  out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and ran.returncode:
        raise SystemExit(f"{shlex.join(map(str, command))} failed ({ran.returncode}):\n"
                         f"{ran.stderr[-3000:]}")
    return ran


def gankit(*args: str) -> list[str]:
    """The command line of ``gankit ARGS`` from this checkout (``python -m gankit``)."""
    return [sys.executable, "-m", "gankit", *map(str, args)]


def train(args: list[str], out: Path, *, fresh: bool = True, env: dict | None = None) -> Ran:
    """``gankit train ARGS --out OUT --no-progress`` in a subprocess (``fresh``: ``out``
    removed first, so every run starts anew)."""
    import shutil

    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    return run(gankit("train", *args, "--out", str(out), "--no-progress"), env=env)


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    """(``fn(*args, **kwargs)``, its wall seconds)."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory in MiB of this process (``children``: of its largest waited-for
    child)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def training_records(run_dir: Path) -> list[dict]:
    """The training lines of a run's ``log.jsonl`` (those with losses), in order."""
    lines = (Path(run_dir) / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"loss_d"' in line]


def images_per_second(records: list[dict]) -> float:
    """Training images/s between the first and the last of ``records`` (log lines with
    ``kimg`` and ``seconds``): the first log window, warm-up, is left out."""
    first, last = records[0], records[-1]
    return (last["kimg"] - first["kimg"]) * 1000 / (last["seconds"] - first["seconds"])


def mean_std(values: list[float], digits: int = 4) -> str:
    """``mean ± std`` of ``values`` (one value as it is; "n/a" where one is NaN)."""
    if any(math.isnan(v) for v in values):
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def make_prepared(path: Path, count: int, shape: tuple[int, ...], seed: int,
                  classes: int = 10) -> float:
    """A prepared set of ``count`` random uint8 images of ``shape`` (C, H, W), written
    straight into its images.npy in chunks (``classes`` 0: no labels); seconds."""
    import numpy as np

    from gankit.data.prepared import PreparedWriter

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with PreparedWriter(path, count, shape) as writer:
        for start in range(0, count, 8192):
            stop = min(start + 8192, count)
            writer.images[start:stop] = rng.integers(0, 256, (stop - start, *shape),
                                                     dtype=np.uint8)
        writer.finish(np.arange(count) % classes if classes else None,
                      [f"class{k}" for k in range(classes)],
                      source={"kind": "synthetic", "seed": seed})
    return time.perf_counter() - started


def plural(count: int, word: str) -> str:
    """"1 seed", "3 seeds"."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table (cells as given, ``|`` escaped)."""
    cell = lambda value: str(value).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


# --- results pages -----------------------------------------------------------------------------

def run_provenance(threads: int | str | None = None) -> dict[str, str]:
    """This run's header: command, commit, date, CPU, ISA, threads, torch, the other
    processes' CPU share so far, status "measured" (plus the kind, gankit and Python)."""
    m = machine(threads)
    return {"command": command_line(), "commit": m["commit"],
            "date": datetime.date.today().isoformat(), "cpu": m["cpu"], "isa": m["isa"],
            "threads": m["threads"], "torch": m["torch"], "other_cpu": LOAD.describe(),
            "status": "measured", "kind": m["kind"], "gankit": m["gankit"],
            "python": m["python"]}


_HEADER_KEYS = ("bench", "command", "commit", "date", "cpu", "isa", "threads", "torch",
                "other_cpu", "status")


def _jsonable(value):
    """numpy scalars and arrays (and tensors) as plain numbers and lists."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _commit_text(commit: str) -> str:
    """"`abc1234` (dirty)": the hash as code, any note after it as text."""
    hash_, _, note = commit.partition(" ")
    return f"`{hash_}`" + (f" {note}" if note else "")


def _provenance_line(p: dict) -> str:
    return (f"*Run: `{p['command']}` at commit {_commit_text(p['commit'])} on {p['date']}; "
            f"CPU {p['cpu']}; ISA {p['isa']}; threads: {p['threads']}; torch {p['torch']}; "
            f"other processes' CPU: {p['other_cpu']}; {p['status']}.*")


def render(page: dict) -> str:
    """A page's Markdown from its JSON: title, the fixed header, then each section (its own
    run named in one line where that is not the header's run)."""
    values = {"bench": f"`bench/{page['bench']}.py`", "command": f"`{page['command']}`",
              "commit": _commit_text(page["commit"]), **{k: page[k] for k in _HEADER_KEYS[3:]}}
    lines = [f"# {page['title']}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(values[key])} |" for label, key in zip(HEADER, _HEADER_KEYS)]
    same = lambda p: all(p[k] == page[k] for k in ("command", "commit", "date"))  # noqa: E731
    for section in page["sections"]:
        lines.append("")
        if section.get("heading"):
            lines += [f"## {section['heading']}", ""]
        if not same(section["provenance"]):
            lines += [_provenance_line(section["provenance"]), ""]
        lines.append(section["markdown"].strip())
    if page.get("notes"):
        lines += ["", page["notes"].strip()]
    return "\n".join(lines) + "\n"


def write_results(bench: str, title: str, figures: dict, body_markdown: str, *,
                  section: str = "", heading: str = "", headline: str = "",
                  kind: str | None = None, command: str | None = None,
                  status: str = "measured", provenance: dict | None = None,
                  threads: int | str | None = None, notes: str | None = None,
                  folder: Path | None = None, args: argparse.Namespace | None = None
                  ) -> Path | None:
    """Write (or update) ``<folder>/<bench>-<kind>.md`` and ``.json``, then the index.

    ``figures``: the numbers, as JSON; ``body_markdown``: the same as tables (what the bench
    printed), with a line or two of what they mean; ``section``: the key of the part of the
    page this run replaces (other sections stay, each naming its run); ``heading``: that
    section's title; ``headline``: the page's one-line summary in the index. ``kind``,
    ``command`` default to this run's; ``provenance``: the whole header, for figures
    measured elsewhere (status "migrated"); ``args``: a bench's parsed arguments
    (``--no-write``, ``--results-dir``). Returns the page's path (None with ``--no-write``).
    """
    if args is not None and getattr(args, "no_write", False):
        print(f"results page of {bench}: not written (--no-write)")
        return None
    folder = Path(folder or (args.results_dir if args is not None else RESULTS))
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    header = dict(provenance or run_provenance(threads))
    header["status"] = status
    if command is not None:
        header["command"] = command
    kind = kind or header.get("kind") or isa()[1]
    header["kind"] = kind
    path = folder / f"{bench}-{kind}.json"
    page = json.loads(path.read_text()) if path.is_file() else {"sections": []}
    new = {"key": section, "heading": heading, "provenance": header, "figures": figures,
           "markdown": body_markdown}
    keys = [s["key"] for s in page["sections"]]
    if section in keys:
        page["sections"][keys.index(section)] = new
    else:
        page["sections"].append(new)
    page.update({key: header[key] for key in _HEADER_KEYS[1:]})
    page.update({"bench": bench, "kind": kind, "title": title,
                 "headline": headline or page.get("headline", "")})
    if notes is not None:
        page["notes"] = notes
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(page, indent=2, ensure_ascii=False, default=_jsonable) + "\n")
    markdown = path.with_suffix(".md")
    markdown.write_text(render(page))
    write_index(folder)
    print(f"results: {markdown}")
    return markdown


def write_index(folder: Path = RESULTS) -> Path:
    """``index.md``: every page in ``folder`` (bench, CPU kind, date, status, headline)."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        page = json.loads(path.read_text())
        rows.append([f"[`{page['bench']}`]({path.stem}.md)", page["kind"], page["date"],
                     page["status"], page.get("headline", "")])
    text = ("# Results\n\nEvery figure the documentation quotes comes from one of these "
            "pages. Each is written by a bench script (`python bench/NAME.py`) and names, in "
            "its header, the exact command, the commit, the date, the CPU and its ISA, the "
            "threads, the torch version and how busy the rest of the machine was (\"quiet\": "
            "other processes used under 5 % of the CPUs). One page per bench and CPU kind "
            "(`avx512`, `avx2`, `avx512-capped-avx2`) holds the latest run there; older runs "
            "live in git history. \"migrated\" pages hold figures measured before the benches "
            "wrote pages, with their original command, commit and CPU, until the bench next "
            "runs there.\n\n" + table(["bench", "CPU kind", "date", "status", "headline"], rows)
            + "\n")
    index = folder / "index.md"
    index.write_text(text)
    return index
