"""Commands that need no tensors answer without importing torch (issue 17, start-up).

Each case runs the CLI in a fresh interpreter, where ``sys.modules`` shows what the command
imported; the package's public functions still resolve, on first use.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs gankit's main() on the given arguments in a fresh interpreter, then prints the exit
# code and whether torch was imported, as JSON on the last line of stdout.
RUN_CLI = """
import json, sys
from gankit.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def run_cli(*args: str) -> tuple[dict, str]:
    """({"code": exit code, "torch": imported?}, stderr) of ``gankit *args``."""
    done = subprocess.run([sys.executable, "-c", RUN_CLI, *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["sample", "--help"],
                                  ["extractor", "--help"], ["extractor", "train", "--help"],
                                  ["list", "presets"]])
def test_help_and_listing_do_not_import_torch(args):
    result, _ = run_cli(*args)
    assert result == {"code": 0, "torch": False}


@pytest.mark.parametrize("args, message", [
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--set", "train.batch_size=abc"], "train.batch_size"),
    (["train", "--set", "train.batch_size=0"], "batch size must be > 0"),
    (["train", "--set", "train.diffaugment=flip"], "unknown DiffAugment transform 'flip'"),
    (["train", "--no-such-flag"], "unrecognized arguments"),
    (["sample", "RUN", "--no-such-flag"], "(see `gankit sample --help`)"),
    (["interpolate", "RUN", "--steps", "1"], "must be >= 2"),
])
def test_argument_and_config_errors_are_one_line_without_torch(args, message):
    result, stderr = run_cli(*args)
    assert result == {"code": 2, "torch": False}
    assert len(stderr.strip().splitlines()) == 1 and message in stderr


def test_import_gankit_is_cheap_and_its_functions_still_resolve():
    code = ("import sys, gankit; cheap = 'torch' not in sys.modules; "
            "print(cheap, callable(gankit.train), "
            "all(hasattr(gankit, name) for name in gankit.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_public_names_resolve_in_process():
    import gankit
    from gankit.api import train
    from gankit.apps.sweep import sweep

    assert gankit.train is train and gankit.run_sweep is sweep
    assert set(gankit.__all__) <= set(dir(gankit))
    with pytest.raises(AttributeError):
        gankit.no_such_name  # noqa: B018
