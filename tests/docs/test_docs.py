"""Docs that cannot rot: the site builds with --strict, every documented ``gankit`` command
parses (and a ``train`` command's config resolves, as ``--dry-run`` does), the generated CLI
reference is current, and the built pages show their images in a real browser."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gankit.cli.parser import build_parser
from gankit.cli.train import parse_set
from gankit.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_A_COMMAND = "# not a command"
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- documented commands ----------------------------------------------------------------------

def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of every shell line in the fenced blocks (```bash, ```sh,
    ``` ... but not ```text or ```python) and of the indented blocks that start with
    ``gankit`` or ``torchrun`` in a Markdown text; lines continued with a backslash are
    joined."""
    found: list[tuple[int, str, int]] = []  # (last line number, text, first line number)
    fence, previous_blank = None, True
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower()
            previous_blank = False
            continue
        after_code = bool(found) and found[-1][0] == number - 1
        continuing = after_code and found[-1][1].endswith("\\")
        if fence is not None:
            take = fence in SHELL_BLOCKS and bool(stripped)
        else:
            take = line.startswith("    ") and (continuing or (previous_blank or after_code)
                                                and stripped.split(" ", 1)[0] in ("gankit",
                                                                                 "torchrun"))
        previous_blank = not stripped
        if take and continuing:
            _, head, start = found.pop()
            found.append((number, head[:-1].rstrip() + " " + stripped, start))
        elif take:
            found.append((number, stripped, number))
    return [(start, line) for _, line, start in found]


def gankit_commands(line: str) -> list[list[str]]:
    """The argument lists after ``gankit`` in one shell line (``;`` and ``&&`` split it;
    ``torchrun ... -m gankit``, ``python -m gankit`` and ``.venv/bin/gankit`` count;
    comments are dropped). A line marked ``# not a command`` gives none."""
    if NOT_A_COMMAND in line:
        return []
    commands = []
    for part in re.split(r"\s(?:;|&&|\|\|)\s", line):
        try:
            words = shlex.split(part.strip().removeprefix("$ "), comments=True)
        except ValueError:  # an unbalanced quote: the words as they stand, to be checked
            words = part.strip().removeprefix("$ ").split("#", 1)[0].split()
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)  # environment assignments before the command
        for index, word in enumerate(words):
            if (word == "gankit" or word.endswith("/gankit")) and \
                    (index == 0 or words[index - 1] == "-m"):
                commands.append(words[index + 1:])
                break
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCUMENTS:
        if not path.is_file():
            continue
        for number, line in code_lines(path.read_text(encoding="utf-8")):
            for argv in gankit_commands(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", argv))
    return found


def check_command(argv: list[str]) -> None:
    """Parse ``argv`` with the real parser; resolve a train command's config (preset, config
    file when it exists, flags and ``--set``) and a sweep's ``--set``/``--param`` keys.
    Raises UserError (or SystemExit from argparse) on a broken command; trains nothing."""
    from gankit.cli.train import flag_overrides
    from gankit.config import apply_overrides, read_config_file, resolve

    args = build_parser().parse_args(argv)
    if args.command == "train":
        overrides = {**flag_overrides(args), **parse_set(args.overrides)}
        if args.resume:  # the saved config is the run's; its keys still have to exist
            apply_overrides(resolve("default"), overrides)
            return
        config = Path(args.config) if args.config else None
        file_overrides = read_config_file(config) if config and config.is_file() else {}
        resolve(args.preset or "default", file_overrides, overrides)
    elif args.command == "sweep":
        from gankit.apps.sweep_params import parse_param

        params = {spec.key: spec.example() for spec in map(parse_param, args.params)}
        resolve(args.preset, {}, {**parse_set(args.overrides), **params})


def test_every_documented_gankit_command_parses_and_resolves(tmp_path, monkeypatch):
    commands = documented_commands()
    assert len(commands) >= 40, f"only {len(commands)} commands found: is the extractor broken?"
    # Examples name folders of the reader's own (./faces, photos.prepared): a data name that
    # is a path must exist for the config to resolve, so give them empty stand-ins here.
    monkeypatch.chdir(tmp_path)
    broken = []
    for place, argv in commands:
        for word in argv:
            if word.startswith(("./", "~")) or word.endswith((".prepared", "/")):
                (tmp_path / word.lstrip("~/")).mkdir(parents=True, exist_ok=True)
        try:
            check_command(argv)
        except (UserError, SystemExit) as exc:
            if isinstance(exc, SystemExit) and exc.code == 0:  # --help, --version
                continue
            broken.append(f"{place}: gankit {shlex.join(argv)}: {exc}")
    assert not broken, "documented commands that no longer work:\n" + "\n".join(broken)


def test_the_command_check_fails_on_a_renamed_flag_or_key():
    """The check above can fail: a flag that does not exist, a --set key that does not, and
    a preset that does not are each refused."""
    for argv in (["sample", "runs/x", "--no-such-flag"],
                 ["train", "--set", "train.no_such_key=1", "--dry-run"],
                 ["train", "--preset", "no-such-preset"]):
        with pytest.raises(UserError):
            check_command(argv)
    check_command(["train", "--preset", "seed-mlp", "--set", "optim.lr_g=1e-4"])


def test_code_lines_join_continuations_and_skip_text_blocks():
    text = ("intro\n\n```bash\ngankit train \\\n    --preset seed-mlp   # one\n"
            "gankit list presets ; gankit list models\n```\n\n```text\ngankit train [--x]\n```\n"
            "\n    gankit sample runs/default -n 4\n\nand `gankit inline` is prose\n"
            "```bash\ngankit train [--preset P]   # not a command\n```\n")
    lines = code_lines(text)
    commands = [argv for _, line in lines for argv in gankit_commands(line)]
    assert commands == [["train", "--preset", "seed-mlp"], ["list", "presets"],
                        ["list", "models"], ["sample", "runs/default", "-n", "4"]]
    assert [number for number, _ in lines][:2] == [4, 6]


# --- the generated CLI reference --------------------------------------------------------------

def test_the_cli_reference_is_what_the_parser_renders_today():
    reference = _tool("cli_reference")
    page = ROOT / "docs" / "cli.md"
    assert page.read_text(encoding="utf-8") == reference.render(), (
        "docs/cli.md is stale: run `python tools/cli_reference.py` (or `make docs`)")


def test_the_cli_reference_names_every_sub_command_and_flag():
    reference = _tool("cli_reference").render()
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        assert f"## gankit {name}\n" in reference
        for action in sub._actions:
            if action.help != "==SUPPRESS==" and action.option_strings and \
                    action.option_strings[0] != "-h":
                assert f"`{action.option_strings[0]}" in reference, (name, action.option_strings)


# --- the site ---------------------------------------------------------------------------------

class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.extend(value for key, value in attrs if key == "src" and value)


def built_images(site: Path) -> dict[Path, list[str]]:
    """{page: [img src ...]} of every built HTML page of ``site``."""
    found = {}
    for page in site.rglob("*.html"):
        parser = _Images()
        parser.feed(page.read_text(encoding="utf-8"))
        found[page] = parser.sources
    return found


def missing_images(site: Path) -> list[str]:
    missing = []
    for page, sources in built_images(site).items():
        for source in sources:
            if re.match(r"^[a-z]+:", source):  # data: or http(s): — remote images not allowed
                if not source.startswith("data:"):
                    missing.append(f"{page.relative_to(site)}: remote image {source}")
                continue
            if not (page.parent / source.split("#")[0]).is_file():
                missing.append(f"{page.relative_to(site)}: {source}")
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The docs site, built once with ``mkdocs build --strict`` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.mark.slow
def test_the_site_builds_strict_with_every_page_and_image(site):
    for page in ("index.html", "getting-started.html", "cli.html", "api.html",
                 "zh/tutorial.html", "results/index.html"):
        assert (site / page).is_file(), page
    pages = built_images(site)
    assert sum(map(len, pages.values())) >= 5
    assert pages[site / "index.html"], "the home page shows the sample grid"
    assert missing_images(site) == []
    api = (site / "api.html").read_text(encoding="utf-8")
    assert "gankit.api.train" in api and "Train and return the run directory" in api


def test_the_image_check_finds_a_missing_image(tmp_path):
    (tmp_path / "page.html").write_text('<img src="gone.png"><img src="https://cdn.x/a.png">')
    assert missing_images(tmp_path) == ["page.html: gone.png",
                                        "page.html: remote image https://cdn.x/a.png"]


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH (Debian: "
                    "apt-get install chromium; `make test` installs it as root)")
def test_the_home_page_renders_offline_in_headless_chromium(site, tmp_path):
    """Opened from disk with the network off, the home page shows Material's header bar and
    the sample grid (white digits on black), so the CSS and the picture load offline."""
    from PIL import Image

    shot = tmp_path / "home.png"
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--proxy-server=127.0.0.1:9",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
               "--window-size=1280,1600", (site / "index.html").as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)
    indigo = np.abs(pixels - (63, 81, 181)).sum(-1) < 40  # Material's indigo header
    assert indigo[:48].mean() > 0.5, "the theme's CSS did not load"
    black = pixels.sum(-1) < 60
    white = pixels.min(-1) > 200
    assert black.sum() > 30_000, "the sample grid (digits on black) is not shown"
    assert white.sum() > 100_000  # the page itself
