"""The shipped digits-cnn classifier: pinned by sha256, accurate on the held-out digits, and
rebuilt bit for bit by its committed command."""

from __future__ import annotations

import pytest
import torch

from gankit.cli import main
from gankit.errors import UserError
from gankit.evaluation.metrics import extractors
from gankit.evaluation.metrics.extractors import (DIGITS_CNN_SHA256, DIGITS_CNN_WEIGHTS,
                                                  get_extractor, load_mnist_cnn, sha256_file)


@pytest.fixture(scope="module")
def held_out():
    from gankit.data.translation import digits_training_set

    return digits_training_set()[1]


def test_shipped_weights_are_small_and_pinned():
    assert DIGITS_CNN_WEIGHTS.stat().st_size < 1_000_000
    assert sha256_file(DIGITS_CNN_WEIGHTS) == DIGITS_CNN_SHA256
    net, digest = load_mnist_cnn(which="digits-cnn")
    assert digest == DIGITS_CNN_SHA256 and not net.training


def test_held_out_accuracy_features_and_probs(held_out):
    extractor = get_extractor("digits-cnn")
    assert extractor.name == "digits-cnn" and extractor.sha256 == DIGITS_CNN_SHA256
    features, probs = extractor(held_out.samples)
    assert held_out.samples.shape == (300, 1, 28, 28)
    assert features.shape == (300, 128) and probs.shape == (300, 10)
    accuracy = (torch.from_numpy(probs.argmax(1)) == held_out.labels).float().mean()
    assert accuracy >= 0.9


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "digits_cnn.pt"
    good = bytearray(DIGITS_CNN_WEIGHTS.read_bytes())
    good[2000] ^= 1  # one flipped bit
    bad.write_bytes(bytes(good))
    monkeypatch.setattr(extractors, "DIGITS_CNN_WEIGHTS", bad)
    with pytest.raises(UserError, match="sha256"):
        get_extractor("digits-cnn")
    monkeypatch.setattr(extractors, "DIGITS_CNN_WEIGHTS", tmp_path / "missing.pt")
    with pytest.raises(UserError, match="--extractor digits-cnn"):
        get_extractor("digits-cnn")


def test_cli_trains_digits_cnn(tmp_path, capsys, held_out):
    """One epoch of the committed recipe already reads most of the 300 held-out digits
    (0.66 here, on any torch version; an untrained network reads about one in ten): what
    the command prints is what the saved file reads."""
    out = tmp_path / "w.pt"
    assert main(["extractor", "train", "--extractor", "digits-cnn", "--epochs", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and f"sha256 {sha256_file(out)}" in printed
    net, _ = load_mnist_cnn(out)
    with torch.no_grad():
        read = net(held_out.samples.float() / 255)[1].argmax(1)
    accuracy = float((read == held_out.labels).float().mean())
    assert accuracy > 0.5, accuracy
    assert f"held-out accuracy {accuracy:.4f}" in printed, printed
    assert main(["extractor", "train", "--extractor", "digits-cnn", "--data", "mnist5k",
                 "--out", str(out)]) == 2
    assert "--data is for mnist-cnn" in capsys.readouterr().err


# The torch that built the shipped file: another version's (or CPU's) kernels may round
# differently; the shipped mnist_cnn.pt, for one, is not rebuilt bit for bit under 2.14.1.
# Only the exact bits depend on it: the recipe's quality is checked on any version (the
# held-out accuracy of test_held_out_accuracy_features_and_probs and
# test_cli_trains_digits_cnn).
BUILT_WITH_TORCH = "2.14.1"

# What the committed command writes on each kind of machine the project runs on (CPU vendor,
# AVX-512 or not): MKL and oneDNN choose other kernels on another vendor's CPU, which round
# differently, so the same deterministic training gives other bits there (with the same
# held-out accuracy). The shipped file is the Intel one.
REBUILT_SHA256 = {
    ("GenuineIntel", True): DIGITS_CNN_SHA256,  # Intel Xeon, AVX-512 (the shipped file)
    ("AuthenticAMD", True): "d2d62c1f1f44620d569518b26dff41880ada43ed6436c9ce328ae2f0c75b3ee4",
}


def cpu_kind() -> tuple[str, bool]:
    """(vendor, uses AVX-512F) of this machine's CPU, from /proc/cpuinfo; an AVX-512 CPU
    whose libraries are capped below it (``ONEDNN_MAX_CPU_ISA=AVX2``,
    ``MKL_ENABLE_INSTRUCTIONS=AVX2``) runs other kernels, so it counts as without."""
    import os
    from pathlib import Path

    caps = [os.environ.get(name, "") for name in
            ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")]
    capped = any(cap and "512" not in cap for cap in caps)  # e.g. AVX2, not AVX512_CORE

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", False
    first = info.split("\n\n")[0]  # the first processor's entry
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    return fields.get("vendor_id", ""), "avx512f" in fields.get("flags", "").split() and not capped


@pytest.mark.skipif(torch.__version__.split("+")[0] != BUILT_WITH_TORCH,
                    reason=f"digits_cnn.pt was built with torch {BUILT_WITH_TORCH}")
@pytest.mark.slow
def test_committed_command_rebuilds_the_pinned_file(tmp_path, capsys):
    """Training is deterministic on the CPU (one thread, fixed seed): the committed command
    rebuilds the shipped file bit for bit on the machine kind that built it, and the bits
    recorded for each other known kind there (about 20 s). On an unknown kind it must at
    least reach the shipped file's held-out accuracy exactly. The file name is part of the
    zip's records, so it is written under the same name."""
    out = tmp_path / DIGITS_CNN_WEIGHTS.name
    assert main(["extractor", "train", "--extractor", "digits-cnn", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    kind = cpu_kind()
    if kind in REBUILT_SHA256:
        assert sha256_file(out) == REBUILT_SHA256[kind], kind
    else:
        shipped = torch.load(DIGITS_CNN_WEIGHTS, map_location="cpu", weights_only=True)
        assert f"held-out accuracy {shipped['accuracy']:.4f}" in printed, printed
