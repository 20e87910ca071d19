"""Image translation end to end: pix2pix and CycleGAN train through the one trainer,
checkpoint what they need, resume exactly, translate files, export, evaluate, and refuse
bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.data import load_translation, upscale_digits
from gankit.errors import UserError
from gankit.training.checkpoint import latest_checkpoint

TINY = {"translation__g_channels": 8, "translation__d_channels": 8,
        "translation__resnet_blocks": 1, "train__tensorboard": False,
        "train__sample_every": 0, "train__log_every": 5}


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("p2p") / "run"
    return gankit.train("pix2pix", out=out, steps=12, epochs=0, batch_size=8, **TINY)


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cg") / "run"
    return gankit.train("cyclegan", out=out, steps=8, batch_size=4,
                        translation__pool_size=4, **TINY)


def test_pix2pix_checkpoint_holds_its_networks_and_loads_without_flags(pix2pix_run):
    saved = latest_checkpoint(pix2pix_run, warn=None)
    assert saved["kind"] == "translation" and saved["step"] == 12
    assert {"G_AB", "D_B", "opt_G", "opt_D"} <= set(saved)
    assert "G_BA" not in saved and "pool_A" not in saved
    run = gankit.load(pix2pix_run)  # the architecture comes from the checkpoint
    data = load_translation("mnist-8px")
    out = gankit.translate(run, data.a_test[:5])
    assert out.shape == (5, 1, 28, 28) and out.dtype == torch.uint8
    picture = pix2pix_run / "samples" / "final.png"
    assert picture.is_file()


def test_cyclegan_state_holds_pools_both_generators_and_optimisers(cyclegan_run):
    saved = latest_checkpoint(cyclegan_run, warn=None)
    assert {"G_AB", "G_BA", "D_A", "D_B", "opt_G", "opt_D", "pool_A", "pool_B"} <= set(saved)
    assert len(saved["pool_A"]["images"]) == 4  # filled, capped at its size
    run = gankit.load(cyclegan_run)
    data = load_translation("digits2mnist")
    forward = run.translate(data.a_test[:3], "AtoB")
    assert run.translate(forward, "BtoA").shape == (3, 1, 28, 28)
    log = (cyclegan_run / "log.jsonl").read_text()
    assert '"cycle"' in log and '"identity"' in log


def test_l1_only_pix2pix_has_no_discriminator(tmp_path):
    run_dir = gankit.train("pix2pix", out=tmp_path / "l1", steps=3, epochs=0, batch_size=4,
                           translation__gan_weight=0, **TINY)
    saved = latest_checkpoint(run_dir, warn=None)
    assert "D_B" not in saved and "opt_D" not in saved


def test_translate_a_folder_of_raw_8px_digits_is_what_the_benchmark_scores(pix2pix_run,
                                                                         tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = np.rint(digits.images[:6] * 255 / 16).astype(np.uint8)
    folder = tmp_path / "raw"
    folder.mkdir()
    for i, image in enumerate(raw):
        Image.fromarray(image).save(folder / f"{i}.png")
    code = main(["translate", str(pix2pix_run), "--input", str(folder), "--out",
                 str(tmp_path / "out")])
    assert code == 0
    written = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in written] == [f"{i}.png" for i in range(6)]
    files = torch.stack([torch.from_numpy(np.array(Image.open(p)))[None] for p in written])
    run = gankit.load(pix2pix_run)
    expected = run.translate(upscale_digits(torch.from_numpy(raw)[:, None]))
    assert torch.equal(files, expected)
    main(["translate", str(pix2pix_run), "--input", str(folder / "0.png"), "--out",
          str(tmp_path / "one.png"), "--keep-size"])
    assert Image.open(tmp_path / "one.png").size == (8, 8)


def test_eval_reports_label_preservation_fid_and_pixels(pix2pix_run, cyclegan_run, capsys):
    from gankit.evaluation.translation import evaluate_translation

    from gankit.evaluation.metrics.extractors import get_extractor
    from gankit.evaluation.translation import translation_scores

    paired = evaluate_translation(gankit.load(pix2pix_run))["scores"]
    assert {"accuracy", "fid", "l1", "psnr", "confusion"} <= set(paired)
    # The scores are those of the run's translations of the 500 held-out 8 px digits, as
    # mnist-cnn reads them against their labels and as they differ from the true digits.
    data = load_translation("mnist-8px")
    translated = gankit.load(pix2pix_run).translate(data.a_test)
    _, probs = get_extractor("mnist-cnn")(translated)
    read, truth = probs.argmax(1), data.a_test_labels.numpy()
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (truth, read), 1)
    assert paired["confusion"] == confusion.tolist()
    assert paired["accuracy"] == pytest.approx(np.trace(confusion) / 500)
    assert paired["label_flips"] == pytest.approx(1 - paired["accuracy"])
    difference = translated.float() / 255 - data.b_test.float() / 255
    assert paired["l1"] == pytest.approx(float(difference.abs().mean()), rel=1e-5)
    # The same scorer tells the true digits from the blurred inputs.
    perfect = translation_scores(data.b_test, "mnist", data.a_test_labels, data.b_test,
                                 truth_u8=data.b_test)
    blurred = translation_scores(data.a_test, "mnist", data.a_test_labels, data.b_test,
                                 truth_u8=data.b_test)
    assert perfect["accuracy"] > 0.97 and perfect["l1"] == 0 and perfect["fid"] < 1e-3
    assert blurred["accuracy"] < perfect["accuracy"] - 0.05 and blurred["l1"] > 0.05
    assert blurred["fid"] > 10 and blurred["psnr"] < perfect["psnr"]
    unpaired = evaluate_translation(gankit.load(cyclegan_run), "BtoA")["scores"]
    assert unpaired["classifier"] == "digits-cnn" and "cycle_l1" in unpaired
    assert np.sum(unpaired["confusion"]) == 500  # the held-out MNIST digits
    assert main(["eval", str(cyclegan_run), "--direction", "AtoB"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "cycle_l1" in printed and "confusion" in printed


def test_export_writes_a_translator_that_onnxruntime_runs(pix2pix_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = gankit.export_generator(gankit.load(pix2pix_run), tmp_path / "T.onnx")
    session = ort.InferenceSession(str(path))
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    got = session.run(None, {"images": images.numpy()})[0]
    run = gankit.load(pix2pix_run)
    with torch.no_grad():
        want = run.translator()(images).numpy()
    assert got.shape == (3, 1, 28, 28) and np.abs(got - want).max() < 1e-4


@pytest.mark.slow
def test_sigkill_and_resume_of_a_translation_run_is_bit_identical(tmp_path, load_bench):
    kill_resume = load_bench("kill_resume")
    result = kill_resume.kill_resume_check(tmp_path, kills=2, steps=12, seed=2,
                                           kind="translation")
    assert len(result["killed_at_logged_steps"]) == 2
    assert result["differences"] == []


@pytest.mark.parametrize("argv,message", [
    (["train", "--preset", "pix2pix", "--data", "digits2mnist", "--steps", "1"],
     "holds unpaired domains"),
    (["train", "--preset", "cyclegan", "--data", "mnist5k", "--steps", "1"],
     "unknown translation set"),
    (["translate", "{gen}", "--input", "{img}", "--out", "{tmp}/o.png"], "generates from noise"),
    (["train", "--preset", "cyclegan", "--data", "{empty}", "--steps", "1"], "trainB"),
    (["translate", "{p2p}", "--input", "{img}", "--out", "{tmp}/o.png", "--direction", "BtoA"],
     "trained AtoB"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys, pix2pix_run,
                                          png_folder):
    from PIL import Image

    gen = gankit.train("seed-tutorial", out=tmp_path / "gen", steps=1, data=str(
        png_folder(n=8, size=28)), batch_size=4) if "{gen}" in argv else None
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "img.png")
    empty = tmp_path / "empty"
    (empty / "trainA").mkdir(parents=True)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(empty / "trainA" / "a.png")
    (empty / "trainB").mkdir()
    values = {"gen": str(gen), "img": str(tmp_path / "img.png"), "tmp": str(tmp_path),
              "empty": str(empty), "p2p": str(pix2pix_run)}
    code = main([a.format(**values) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_api_refuses_images_of_the_wrong_channels(pix2pix_run):
    with pytest.raises(UserError, match="1-channel 28x28"):
        gankit.translate(gankit.load(pix2pix_run), torch.zeros(2, 3, 28, 28, dtype=torch.uint8))


def test_report_of_a_translation_run_explains_its_pictures_and_scores(pix2pix_run):
    page = gankit.write_report(pix2pix_run, neighbours=0).read_text()
    assert "<h2>Translation</h2>" in page and "input | output | target" in page
    assert "accuracy" in page and "psnr" in page
