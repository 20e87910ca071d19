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
TINY_CUT = {**TINY, "translation__nce_patches": 16, "translation__nce_head": 16}


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


@pytest.mark.parametrize("preset", ["pix2pix", "cut"])
def test_a_one_way_run_b_to_a_draws_its_samples_from_its_one_generator(preset, tmp_path):
    """Its only G is G_AB (from B, its input): the sample pictures must not ask for G_BA."""
    settings = TINY_CUT if preset == "cut" else TINY
    data = "mnist-8px" if preset == "pix2pix" else "digits2mnist"
    run = gankit.train(preset, out=tmp_path / "run", steps=2, batch_size=4, data=data,
                       translation__direction="BtoA", **settings)
    assert (run / "samples" / "final.png").is_file()
    out = gankit.translate(gankit.load(run), load_translation(data).b_test[:2])
    assert out.shape == (2, 1, 28, 28)


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
@pytest.mark.parametrize("kind,kills", [("translation", 2), ("cut", 1), ("pix2pix", 1)])
def test_sigkill_and_resume_of_a_translation_run_is_bit_identical(kind, kills, tmp_path,
                                                                  load_bench):
    """CycleGAN (pools, two optimisers), CUT (its heads, random patches) and pix2pix."""
    kill_resume = load_bench("kill_resume")
    result = kill_resume.kill_resume_check(tmp_path, kills=kills, steps=12, seed=2, kind=kind)
    assert len(result["killed_at_logged_steps"]) == kills
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
    (["train", "--preset", "cyclegan", "--data", "{domains}", "--steps", "1", "--set",
      "translation.semantic_weight=1"], "needs class labels of both domains"),
    (["train", "--preset", "cut", "--data", "digits2mnist", "--steps", "1", "--set",
      "translation.generator=warp"], "use translation.generator=resnet"),
    (["translate", "{p2p}", "--emoji", "1f600", "--out", "{tmp}/o"], "--emoji picks emoji"),
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
    domains = tmp_path / "domains"  # unpaired, no class subfolders: no labels
    for name in ("trainA/a.png", "trainA/b.png", "trainB/c.png", "trainB/d.png"):
        (domains / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(domains / name)
    values = {"gen": str(gen), "img": str(tmp_path / "img.png"), "tmp": str(tmp_path),
              "empty": str(empty), "p2p": str(pix2pix_run), "domains": str(domains)}
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


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cut") / "run"
    return gankit.train("cut", out=out, steps=6, batch_size=4, data="digits2mnist", **TINY_CUT)


def test_cut_holds_one_generator_its_heads_and_one_discriminator(cut_run):
    saved = latest_checkpoint(cut_run)
    assert {"G_AB", "D_B", "H_AB", "opt_G", "opt_D"} <= set(saved)
    assert "G_BA" not in saved and "D_A" not in saved and "pool_A" not in saved
    # the heads learn with G: opt_G holds G's and the heads' parameters
    run = gankit.load(cut_run)
    n_params = sum(1 for _ in run.nets["G_AB"].parameters()) + \
        sum(1 for _ in run.nets["H_AB"].parameters())
    assert len(saved["opt_G"]["state"]) == n_params
    digits = load_translation("digits2mnist").a_test[:3]
    out = gankit.translate(run, digits)
    assert out.shape == (3, 1, 28, 28) and out.dtype == torch.uint8
    with pytest.raises(UserError, match="trained AtoB \\(one way\\)"):
        gankit.translate(run, digits, direction="BtoA")


def _setup(preset_name: str, **settings):
    """(a translation run's setup in this process, no run directory; its config)."""
    from gankit.config import preset
    from gankit.config.overrides import apply_overrides
    from gankit.training.distributed import Context
    from gankit.training.translation import setup

    cfg = apply_overrides(preset(preset_name), {k.replace("__", "."): v
                                                for k, v in settings.items()})
    return setup(cfg, Context(), lambda m: None), cfg


@pytest.mark.parametrize("name,translated", [("cut", 8), ("fastcut", 4)])
def test_cut_translates_the_target_too_fastcut_only_the_input(name, translated):
    """CUT's identity term: A and B through G in one pass (4 + 4), then both outputs'
    features; FastCUT only A's."""
    made, _ = _setup(name, data__name="digits2mnist", train__batch_size=4, **TINY_CUT)
    G, calls = made.state["G_AB"], []
    original = G.nce_features

    def spy(x, translate=False):
        calls.append((len(x), translate))
        return original(x, translate)

    G.nce_features = spy
    stats = made.strategy(made.state, next(made.batches.epoch(0)))
    assert calls == [(translated, True), (translated, False)]
    assert made.strategy.nce_weight == (1.0 if name == "cut" else 10.0)
    assert 0 < float(stats["nce"]) < 10


def test_semantic_consistency_takes_the_source_domain_s_classifier():
    """CycleGAN: digits-cnn reads digits -> MNIST, mnist-cnn MNIST -> digits; a CUT run
    BtoA translates MNIST, so its classifier is mnist-cnn; batches carry the labels."""
    from gankit.evaluation.semantic import attach_semantic
    from gankit.training.distributed import Context

    made, cfg = _setup("cyclegan", translation__semantic_weight=0.5, **TINY)
    a, b, labels_a, labels_b = next(made.batches.epoch(0))
    assert labels_a.dtype == torch.int64 and len(labels_a) == len(a)
    assert attach_semantic(made, cfg, Context()) == []
    semantic = made.strategy.semantic
    assert (semantic.classifier_a.name, semantic.classifier_b.name, semantic.weight) == \
        ("digits-cnn", "mnist-cnn", 0.5)
    stats = made.strategy(made.state, (a, b, labels_a, labels_b))
    assert 0 < float(stats["semantic"]) < 10
    cut, cfg = _setup("cut", data__name="digits2mnist", translation__direction="BtoA",
                      translation__semantic_weight=1.0, **TINY_CUT)
    attach_semantic(cut, cfg, Context())
    assert cut.strategy.semantic.classifier_a.name == "mnist-cnn"
