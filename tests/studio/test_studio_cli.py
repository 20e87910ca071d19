"""``gankit studio`` on the command line and in Python: without its extra it says what to
install in one line; it warns before serving beyond this machine; its mistakes are one
line and exit code 2; ``gankit --help`` still imports neither torch nor Starlette."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys

import pytest

# Starlette 1.x suggests httpx2 for its test client; httpx still works
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def _one_line(code: int, err: str, text: str) -> None:
    assert code == 2 and err.count("\n") == 1 and err.startswith("gankit: error: "), err
    assert text in err, err


def test_without_the_extra_it_says_what_to_install(cli, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("uvicorn", "multipart")
                        else real(name, *a))
    code, out, err = cli("studio", tmp_path)
    assert out == "" and err == ("gankit: error: gankit studio needs uvicorn, "
                                 "python-multipart: pip install 'gankit[studio]'\n")
    assert code == 2


def test_help_imports_neither_torch_nor_starlette():
    program = ("import json, sys\nfrom gankit.cli import main\nfor argv in (['--help'], "
               "['studio', '--help']):\n    try:\n        main(argv)\n    except SystemExit:\n"
               "        pass\nimport gankit\nstudio = gankit.studio\n"
               "print(json.dumps([m in sys.modules for m in ('torch', 'starlette', 'uvicorn')]"
               " + [callable(studio), hasattr(studio, 'create_app')]))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'gankit[studio]'" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, False, False, True, True]


@pytest.mark.parametrize("args, text", [
    (["--port", "70000"], "argument --port: must be from 0 to 65535, got 70000"),
    (["--max-upload-mb", "0"], "argument --max-upload-mb: must be a finite number > 0"),
    (["--device", "banana"], "bad device 'banana'"),
])
def test_bad_flags_are_one_line(cli, trained_run, args, text):
    _one_line(*cli("studio", trained_run, *args)[::2], text)


def test_a_missing_run_and_a_taken_port_are_one_line(cli, trained_run, tmp_path):
    _one_line(*cli("studio", tmp_path / "nope")[::2], f"run directory not found: "
                                                     f"{tmp_path / 'nope'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli("studio", trained_run, "--port", port)
    _one_line(code, err, f"cannot serve on 127.0.0.1:{port}: Address already in use")


def test_it_warns_before_serving_beyond_this_machine():
    from gankit.studio.server import exposure_warning, is_loopback

    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2",
                                     "0.0.0.0", "192.168.1.5", "::", "example.org")] == \
        [True] * 5 + [False] * 4
    assert exposure_warning("127.0.0.1", 7860) is None
    assert exposure_warning("0.0.0.0", 7860) == (
        "gankit studio: warning: serving on 0.0.0.0:7860, not 127.0.0.1: anyone who can reach "
        "this port can use the studio, and with it this machine's CPU (and GPU); there is no "
        "login")


def test_a_loopback_studio_answers_loopback_host_names_only(trained_run):
    from starlette.testclient import TestClient

    from gankit.studio import create_app
    from gankit.studio.app import LOOPBACK

    app = create_app(trained_run, allowed_hosts=LOOPBACK)
    client = TestClient(app, base_url="http://127.0.0.1:7860")
    assert client.get("/api/runs").status_code == 200
    assert client.get("/", headers={"host": "localhost:7860"}).status_code == 200
    refused = client.get("/api/runs", headers={"host": "attacker.example:7860"})
    assert refused.status_code == 400 and refused.json()["error"] == (
        "this studio answers requests for 127.0.0.1, localhost, ::1 only, not for host "
        "'attacker.example:7860'")
