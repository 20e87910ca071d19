"""gankit export: ONNX (run by onnxruntime) and TorchScript match PyTorch at any batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.errors import UserError
from gankit.apps.export import load_torchscript
from gankit.core.models.linear import Linear


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    """The default preset (DCGAN, BatchNorm, with an EMA generator), 2 steps."""
    out = tmp_path_factory.mktemp("export") / "dcgan"
    torch.manual_seed(0)
    return gankit.train("default", out=out, steps=2, device="cpu")


@pytest.fixture(params=["mlp", "dcgan"])
def run(request, trained_run, dcgan_run):
    return gankit.load(trained_run if request.param == "mlp" else dcgan_run)


def _z(batch: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, dim, generator=torch.Generator().manual_seed(seed))


def _inputs(G, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    """z, plus class labels for a conditional generator (the default preset's is)."""
    z = _z(batch, 100, seed)
    classes = getattr(G, "num_classes", 0)
    return (z, (torch.arange(batch) * 3) % classes) if classes else (z,)


def test_onnx_matches_pytorch_at_two_batch_sizes(run, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="pip install 'gankit[export]'")
    onnx = pytest.importorskip("onnx", reason="pip install 'gankit[export]'")
    path = gankit.export_generator(run, tmp_path / "G.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    z_in, *labels_in = model.graph.input
    (images_out,) = model.graph.output
    assert z_in.name == "z" and images_out.name == "images"
    classes = getattr(run.generator, "num_classes", 0)
    assert [i.name for i in labels_in] == (["labels"] if classes else [])
    assert run.config.model.name == "mlp" or classes == 10  # the default preset: conditional
    assert z_in.type.tensor_type.shape.dim[0].dim_param == "batch"  # the dynamic axis
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["latent_dim"] == "100" and meta["image_shape"] == "1,28,28"
    assert meta["value_range"] == "tanh" and meta["step"] == str(run.step)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 13):
        inputs = _inputs(run.generator, batch, batch)
        (out,) = session.run(None, dict(zip(["z", "labels"], (t.numpy() for t in inputs))))
        with torch.no_grad():
            expected = run.generator(*inputs).numpy()
        assert out.shape == (batch, 1, 28, 28)
        np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)


def test_torchscript_reload_matches_pytorch(run, tmp_path):
    path = gankit.export_generator(run, tmp_path / "G.pt", format="torchscript")
    module, meta = load_torchscript(path)
    assert meta["latent_dim"] == "100" and meta["ema"] == str(run.G_ema is not None).lower()
    for batch in (2, 9):
        inputs = _inputs(run.generator, batch, batch)
        with torch.no_grad():
            assert torch.allclose(module(*inputs), run.generator(*inputs), atol=1e-5)
    # exporting used a plain copy: the run's own networks keep gankit's fast Linear
    assert not any(isinstance(m, Linear) for m in module.modules())
    if run.config.model.name == "mlp":
        assert any(isinstance(m, Linear) for m in run.G.modules())


def test_ema_generator_is_the_default(dcgan_run, tmp_path):
    run = gankit.load(dcgan_run)
    assert run.G_ema is not None
    z = _inputs(run.G, 4, 0)
    ema, _ = load_torchscript(gankit.export_generator(run, tmp_path / "ema.pt", "torchscript"))
    raw, meta = load_torchscript(gankit.export_generator(run, tmp_path / "g.pt", "torchscript",
                                                         ema=False))
    with torch.no_grad():
        assert torch.allclose(ema(*z), run.G_ema(*z), atol=1e-5)
        assert torch.allclose(raw(*z), run.G(*z), atol=1e-5)
        assert not torch.allclose(ema(*z), raw(*z), atol=1e-5)


def test_export_cli(dcgan_run, tmp_path, capsys):
    """What the command writes is the run's EMA generator: both files compute its images
    (not those of the raw G, which has the same size)."""
    ort = pytest.importorskip("onnxruntime", reason="pip install 'gankit[export]'")
    pytest.importorskip("onnx", reason="pip install 'gankit[export]'")
    assert main(["export", str(dcgan_run), "--out", str(tmp_path / "G.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "EMA generator" in printed and "as onnx" in printed
    run = gankit.load(dcgan_run)
    inputs = _inputs(run.G, 5, 3)
    with torch.no_grad():
        ema, raw = run.G_ema(*inputs).numpy(), run.G(*inputs).numpy()
    assert np.abs(ema - raw).max() > 1e-3  # the two generators differ
    session = ort.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, dict(zip(["z", "labels"], (t.numpy() for t in inputs))))
    np.testing.assert_allclose(out, ema, atol=1e-4, rtol=0)
    # the format follows the suffix unless --format says otherwise
    assert main(["export", str(dcgan_run), "--out", str(tmp_path / "G.pt")]) == 0
    assert "as torchscript" in capsys.readouterr().out
    module, meta = load_torchscript(tmp_path / "G.pt")
    assert meta["ema"] == "true"
    with torch.no_grad():
        np.testing.assert_allclose(module(*inputs).numpy(), ema, atol=1e-5, rtol=0)


@pytest.mark.parametrize("make_args, message", [
    (lambda t, r: ["export", str(t / "missing")], "run directory not found"),
    (lambda t, r: ["export", str(r), "--format", "tflite"], "invalid choice: 'tflite'"),
    (lambda t, r: ["export", str(r), "--out", str(t)], "is a directory"),
    (lambda t, r: ["export", str(r), "--out", str(t / "file" / "G.onnx")], "cannot write"),
])
def test_export_user_errors(trained_run, tmp_path, capsys, make_args, message):
    (tmp_path / "file").write_text("x")
    assert main(make_args(tmp_path, trained_run)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_format_in_the_api(trained_run, tmp_path):
    with pytest.raises(UserError, match="unknown export format"):
        gankit.export_generator(trained_run, tmp_path / "G", format="tflite")
