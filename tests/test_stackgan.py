"""StackGAN-style text-to-image: nets, captions on disk, the stages, the CLI and sample text=."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning import __version__, sample
from gan_lightning.data.captions import (
    DIGIT_WORDS,
    CaptionedImageDataModule,
    DigitCaptionsDataModule,
)
from gan_lightning.errors import UserError
from gan_lightning.losses import NonSaturatingLoss
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.models.stackgan import StackGAN, mismatched
from gan_lightning.nets.stackgan import (
    ConditioningAugmentation,
    StageDiscriminator,
    StageIGenerator,
    StageIIGenerator,
    TextEncoder,
    kl_divergence,
)
from gan_lightning.text import UNK_ID, Vocabulary, tokenize
from gan_lightning.training.options import TrainingOptions
from tests.conftest import first_batch, quiet_trainer, run_cli

NETS = (
    "text_encoder",
    "conditioning",
    "stage1",
    "discriminator1",
    "conditioning2",
    "stage2",
    "discriminator2",
)


# --- networks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gru", "bow"])
def test_text_encoder_ignores_padding(kind):
    torch.manual_seed(0)
    encoder = TextEncoder(10, embedding_dim=4, output_dim=6, kind=kind).eval()
    tokens = torch.tensor([[2, 3, 4, 0, 0], [5, 6, 0, 0, 0]])
    out = encoder(tokens, torch.tensor([3, 2]))
    assert out.shape == (2, 6)
    shorter = encoder(tokens[:, :3], torch.tensor([3, 2]))
    assert torch.allclose(out, shorter, atol=1e-6)
    other = encoder(torch.tensor([[2, 3, 7, 0, 0], [5, 6, 0, 0, 0]]), torch.tensor([3, 2]))
    assert not torch.allclose(out[0], other[0]) and torch.allclose(out[1], other[1], atol=1e-6)
    with pytest.raises(ValueError, match="outside the encoder's 10 words"):
        encoder(torch.tensor([[12]]), torch.tensor([1]))


def test_conditioning_augmentation_and_its_kl():
    torch.manual_seed(0)
    ca = ConditioningAugmentation(text_dim=6, condition_dim=3)
    text = torch.randn(5, 6)
    c, mu, logvar = ca(text, torch.zeros(5, 3))
    assert c.shape == (5, 3) and torch.equal(c, mu)  # zero noise: the mean code
    c1, _, _ = ca(text)
    c2, _, _ = ca(text)
    assert not torch.allclose(c1, c2)  # a fresh eps each call
    zero = torch.zeros(4, 3)
    assert kl_divergence(zero, zero) == 0  # N(0, I) itself
    mu, logvar = torch.full((1, 1), 2.0), torch.full((1, 1), np.log(0.5))
    expected = 0.5 * (4.0 + 0.5 - 1.0 - np.log(0.5))  # closed form for one dimension
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("scale", [2, 4])
def test_stage_shapes(scale):
    z, c, text = torch.randn(3, 8), torch.randn(3, 4), torch.randn(3, 6)
    low = StageIGenerator(8, 4, image_size=16, channels=3, base_width=4)(z, c)
    assert low.shape == (3, 3, 16, 16) and low.abs().max() <= 1
    stage2 = StageIIGenerator(4, input_size=16, scale=scale, channels=3, base_width=4)
    high = stage2(low, c)
    assert high.shape == (3, 3, 16 * scale, 16 * scale) and stage2.image_size == 16 * scale
    for image in (low, high):
        d = StageDiscriminator(6, image_size=image.shape[-1], channels=3, base_width=4)
        assert d(image, text).shape == (3,)
    with pytest.raises(ValueError, match="built for 16px"):
        stage2(torch.randn(3, 3, 8, 8), c)
    with pytest.raises(ValueError, match="scale must be 2 or 4"):
        StageIIGenerator(4, scale=3)


# --- vocabulary ----------------------------------------------------------------------------------
def test_vocabulary_unknown_words_and_empty_captions():
    vocabulary = Vocabulary.build(["a thin 7", "a thick seven", "A thin, thin one"], max_size=6)
    assert vocabulary.words == ["<pad>", "<unk>", "a", "thin", "7", "one"]  # ties alphabetical
    tokens, lengths, unknown = vocabulary.encode(["a thin eight!", "7"], max_length=8)
    assert tokens.tolist() == [[2, 3, UNK_ID], [4, 0, 0]] and lengths.tolist() == [3, 1]
    assert unknown == 1
    with pytest.raises(UserError, match=r"caption 2 \('\?!'\) has no words") as error:
        vocabulary.encode(["a 7", "?!"], max_length=8)
    assert "\n" not in str(error.value)


# --- captions on disk ----------------------------------------------------------------------------
def write_captioned(root: Path, n: int = 6, jsonl: bool = True) -> Path:
    """CUB layout: images/<class>/<stem>.jpg, text/<class>/<stem>.txt for the first 4; odd
    images and those past the fourth (only) captioned through captions.jsonl."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        folder = f"{i % 2:03d}.class"
        path = root / "images" / folder / f"bird_{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, size=(30, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        if i < 4:
            text = root / "text" / folder / f"bird_{i:03d}.txt"
            text.parent.mkdir(parents=True, exist_ok=True)
            text.write_text(f"a red bird number {i}\nthis bird has wings {i}\n\n")
        if jsonl and (i % 2 or i >= 4):
            image = f"images/{folder}/bird_{i:03d}.jpg"
            lines.append(json.dumps({"image": image, "caption": f"a small bird {i}"}))
    if jsonl:
        (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_captioned_folder_reads_text_files_and_jsonl(tmp_path):
    root = write_captioned(tmp_path / "birds")
    datamodule = CaptionedImageDataModule(
        str(root), image_size=8, max_length=6, loader={"batch_size": 2}
    )
    images, tokens, lengths, labels = first_batch(datamodule)
    assert images.shape == (2, 3, 8, 8) and images.min() >= -1 and images.max() <= 1
    assert tokens.dtype == torch.long and tokens.shape[0] == 2 and lengths.min() >= 1
    assert labels.tolist() == [-1, -1]
    stems = [path.stem for path in datamodule.files]
    captions = dict(zip(stems, datamodule.train_set.captions, strict=True))
    index = stems.index("bird_001")
    assert captions["bird_001"] == [
        "a red bird number 1",
        "this bird has wings 1",
        "a small bird 1",
    ]
    assert captions["bird_005"] == ["a small bird 5"]  # jsonl only
    assert "bird" in datamodule.vocabulary.words
    # each draw of an image brings one of its captions at random: all three show up
    draws = (datamodule.train_set.__getitems__([index])[1][0] for _ in range(60))
    drawn = {tuple(tokens.tolist()) for tokens in draws}
    assert len(drawn) == 3


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda r: (r / "text/000.class/bird_002.txt").unlink(), "1 of 4 images have no caption"),
        (
            lambda r: (r / "text/000.class/bird_000.txt").write_text("\n \n"),
            "bird_000.txt is empty",
        ),
        (
            lambda r: (r / "text/001.class/bird_001.txt").write_text("a bird\n...\n"),
            "bird_001.txt:2: the caption '...' has no words",
        ),
        (
            lambda r: (r / "captions.jsonl").write_text(
                '{"image": "bird_003.jpg", "caption": ""}\n'
            ),
            "captions.jsonl:1: the caption of bird_003.jpg is empty",
        ),
        (
            lambda r: (r / "captions.jsonl").write_text('{"img": "bird_003.jpg"}\n'),
            'captions.jsonl:1: expected {"image": "...", "caption": "..."}',
        ),
    ],
    ids=["missing", "empty-file", "no-words", "jsonl-empty", "jsonl-shape"],
)
def test_bad_captions_are_one_line_errors(tmp_path, breakage, message):
    root = write_captioned(tmp_path / "birds", n=4, jsonl=False)
    (root / "captions.jsonl").write_text("")
    breakage(root)
    datamodule = CaptionedImageDataModule(str(root), image_size=8, loader={"batch_size": 2})
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")) as error:
        datamodule.setup("fit")
    assert "\n" not in str(error.value)


def test_digit_captions_name_the_digit(mnist_root):
    datamodule = DigitCaptionsDataModule(str(mnist_root), image_size=16, loader={"batch_size": 8})
    images, tokens, lengths, labels = first_batch(datamodule)
    assert images.shape == (8, 1, 16, 16)
    words = datamodule.vocabulary.words
    for row, length, label in zip(tokens, lengths, labels, strict=True):
        caption = [words[i] for i in row[:length]]
        assert DIGIT_WORDS[int(label)] in caption or str(int(label)) in caption
    dataset = datamodule.train_set
    all_captions = [c for captions in dataset.captions for c in captions]
    assert {len(c) for c in dataset.captions} == {4}
    assert any("thick" in c for c in all_captions) and any("thin" in c for c in all_captions)
    assert datamodule.grid_captions(3) == [
        "a handwritten zero",
        "a handwritten one",
        "a handwritten two",
    ]


def test_mismatched_captions_name_another_digit():
    labels = torch.tensor([3, 3, 3, 5, 7, 7])
    index = mismatched(labels, torch.zeros(6, 2, dtype=torch.long))
    assert (labels[index] != labels).all()
    tokens = torch.tensor([[2, 3], [2, 3], [4, 0]])  # unlabelled: by token sequence
    index = mismatched(torch.full((3,), -1), tokens)
    assert all(not torch.equal(tokens[i], tokens[j]) for i, j in enumerate(index.tolist()))


# --- the module ----------------------------------------------------------------------------------
def small_nets(vocab_size: int = 40) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "text_encoder": TextEncoder(vocab_size, embedding_dim=8, output_dim=12),
        "conditioning": ConditioningAugmentation(12, 4),
        "stage1": StageIGenerator(8, 4, image_size=8, channels=1, base_width=4),
        "discriminator1": StageDiscriminator(12, image_size=8, channels=1, base_width=4),
        "conditioning2": ConditioningAugmentation(12, 4),
        "stage2": StageIIGenerator(4, input_size=8, scale=2, channels=1, base_width=4),
        "discriminator2": StageDiscriminator(12, image_size=16, channels=1, base_width=4),
    }


def make_stackgan(stage="joint", nets: dict | None = None, **kwargs) -> StackGAN:
    return StackGAN(
        **(small_nets() if nets is None else nets),
        loss=NonSaturatingLoss(),
        training=TrainingOptions(optimizer=partial(torch.optim.Adam, lr=1e-3)),
        stage=stage,
        latent_dim=8,
        grid_rows=2,
        samples_per_caption=2,
        **kwargs,
    )


class RecordingStackGAN(StackGAN):
    """Records which networks moved during each D update and each G update, and any gradient
    left behind on a network the update's optimizer does not own (a leak)."""

    def snapshot(self):
        self.leaks += [n for n in NETS if any(p.grad is not None for p in self.net(n))]
        self._before = {n: [p.clone() for p in getattr(self, n).parameters()] for n in NETS}

    def moved(self):
        return {
            n
            for n in NETS
            for b, p in zip(self._before[n], getattr(self, n).parameters(), strict=True)
            if not torch.equal(b, p)
        }

    def net(self, name):
        return list(getattr(self, name).parameters())

    def on_fit_start(self):
        self.events, self.leaks = [], []

    def discriminator_loss(self, batch):
        self.snapshot()
        return super().discriminator_loss(batch)

    def generator_loss(self, batch):
        self.events.append(("D", self.moved()))
        self.snapshot()
        return super().generator_loss(batch)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.events.append(("G", self.moved()))
        self.snapshot()


def digit_datamodule(mnist_root: Path) -> DigitCaptionsDataModule:
    return DigitCaptionsDataModule(
        str(mnist_root), image_size=16, vocab_size=40, loader={"batch_size": 8}
    )


def save_stage(model: StackGAN, datamodule, path: Path, steps: int = 2) -> Path:
    trainer = quiet_trainer(max_steps=steps)
    model.run_config = {"model": {}}
    trainer.fit(model, datamodule=datamodule)
    trainer.save_checkpoint(path)
    return path


STAGE_NETS = {
    "1": ({"text_encoder", "discriminator1"}, {"conditioning", "stage1"}),
    "joint": (
        {"text_encoder", "discriminator1", "discriminator2"},
        {"conditioning", "stage1", "conditioning2", "stage2"},
    ),
    "2": ({"discriminator2"}, {"conditioning2", "stage2"}),
}


def test_each_step_moves_only_its_own_networks_in_every_stage(mnist_root, tmp_path):
    datamodule = digit_datamodule(mnist_root)
    stage1_ckpt = save_stage(make_stackgan("1"), datamodule, tmp_path / "stage1.ckpt")
    frozen = make_stackgan("1")
    frozen.load_state_dict(torch.load(stage1_ckpt, weights_only=True)["state_dict"])
    for stage, (d_nets, g_nets) in STAGE_NETS.items():
        extra = {"stage1_ckpt": str(stage1_ckpt)} if stage == "2" else {}
        model = RecordingStackGAN(
            **small_nets(),
            loss=NonSaturatingLoss(),
            training=TrainingOptions(optimizer=partial(torch.optim.Adam, lr=1e-3)),
            stage=stage,
            latent_dim=8,
            grid_rows=2,
            samples_per_caption=2,
            **extra,
        )
        quiet_trainer(max_steps=4).fit(model, datamodule=datamodule)
        assert model.events == [("D", d_nets), ("G", g_nets)] * 2, stage
        assert model.leaks == [], stage
        if stage == "2":  # stage I is the checkpoint's, untouched, with its BatchNorm statistics
            for name in ("text_encoder", "conditioning", "stage1"):
                saved, now = getattr(frozen, name).state_dict(), getattr(model, name).state_dict()
                assert all(torch.equal(saved[k], now[k]) for k in saved), name


def test_losses_are_the_matching_aware_sums(mnist_root):
    model = make_stackgan("1").eval()
    batch = first_batch(digit_datamodule(mnist_root))
    loss, logs = model.discriminator_loss(batch)
    assert set(logs) >= {"d1_real", "d1_wrong", "d1_fake", "d_real", "d_fake"}
    assert torch.allclose(loss, logs["d1_loss"])
    g_loss, g_logs = model.generator_loss(batch)
    assert torch.allclose(g_loss, g_logs["g1_adv"] + 1.0 * g_logs["kl"], rtol=1e-5)


def test_word_dropout_reads_training_words_as_unknown():
    model = make_stackgan("1", word_dropout=0.5)
    tokens = torch.randint(2, 40, (64, 6))
    tokens[:, 4:] = 0  # padding
    batch = (torch.zeros(64, 1, 16, 16), tokens, torch.full((64,), 4), torch.zeros(64))
    dropped = model._unpack(batch)[1]
    assert (dropped[:, 4:] == 0).all()  # padding stays padding
    share = (dropped[:, :4] == UNK_ID).float().mean()
    assert 0.35 < share < 0.65 and ((dropped == tokens) | (dropped == UNK_ID)).all()
    assert torch.equal(model.eval()._unpack(batch)[1], tokens)  # never when sampling


def test_vocabulary_and_grid_captions_are_checkpointed(mnist_root, tmp_path):
    datamodule = digit_datamodule(mnist_root)
    model = make_stackgan("1")
    path = save_stage(model, datamodule, tmp_path / "s.ckpt")
    extras = torch.load(path, weights_only=True)[CHECKPOINT_KEY]
    assert extras["vocabulary"] == datamodule.vocabulary.words and extras["stage"] == "1"
    assert extras["grid_captions"] == ["a handwritten zero", "a handwritten one"]
    images, per_row = model.grid_images()["samples"]
    assert images.shape == (4, 1, 8, 8) and per_row == 2
    low, high = model.generate(["a handwritten seven", "a purple seven"])
    assert low.shape == (2, 1, 8, 8) and high is None  # stage-1 model: stage I only
    # resuming on data whose own vocabulary differs: the checkpoint's words keep their ids
    other = DigitCaptionsDataModule(
        str(mnist_root), image_size=16, vocab_size=10, loader={"batch_size": 8}
    )
    resumed = make_stackgan("1")
    quiet_trainer(max_steps=6).fit(resumed, datamodule=other, ckpt_path=path, weights_only=True)
    assert resumed.vocabulary == extras["vocabulary"] == other.vocabulary.words


def _fake_checkpoint(
    path: Path, variant: str, stage: str | None = None, bases: tuple[str, ...] = ()
) -> Path:
    extras = {"version": __version__, "variant": variant, "config": {"model": {}}}
    extras["variant_bases"] = list(bases)
    if stage is not None:
        extras.update(stage=stage, vocabulary=["<pad>", "<unk>"])
    torch.save({"state_dict": {}, CHECKPOINT_KEY: extras}, path)
    return path


@pytest.mark.parametrize(
    "variant, stage, bases, message",
    [
        ("GAN", None, (), "is a GAN checkpoint, not a StackGAN stage-I one"),
        ("StackGAN", "2", (), "is a stage-2 StackGAN checkpoint, not a StackGAN stage-I one"),
        # a subclass of StackGAN is judged by its stage, as StackGAN is
        ("MyStackGAN", "2", ("StackGAN",), "is a stage-2 MyStackGAN checkpoint, not a StackGAN"),
    ],
)
def test_stage_two_refuses_a_checkpoint_that_is_not_stage_one(
    tmp_path, variant, stage, bases, message
):
    path = _fake_checkpoint(tmp_path / "other.ckpt", variant, stage, bases)
    model = make_stackgan("2", stage1_ckpt=str(path))
    with pytest.raises(UserError, match=message) as error:
        model.load_stage_one()
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="model.stage=2 trains stage II on a trained stage I"):
        make_stackgan("2")


def test_a_resumed_stage_two_run_needs_no_stage_one_file(mnist_root, tmp_path):
    datamodule = digit_datamodule(mnist_root)
    stage1 = save_stage(make_stackgan("1"), datamodule, tmp_path / "stage1.ckpt")
    stage2 = save_stage(make_stackgan("2", stage1_ckpt=str(stage1)), datamodule, tmp_path / "s2")
    saved = torch.load(stage2, weights_only=True)["state_dict"]
    stage1.rename(tmp_path / "moved.ckpt")
    fresh = make_stackgan("2", stage1_ckpt=str(stage1))
    with pytest.raises(UserError, match=r"model.stage1_ckpt=\S+stage1.ckpt not found; give"):
        quiet_trainer(max_steps=2).fit(fresh, datamodule=datamodule)
    resumed = make_stackgan("2", stage1_ckpt=str(stage1))
    quiet_trainer(max_steps=4, max_epochs=9).fit(resumed, datamodule=datamodule, ckpt_path=stage2)
    assert resumed.global_step == 4  # one more batch (a D and a G step) after the saved one
    for name, value in resumed.stage1.state_dict().items():  # frozen: still the checkpoint's
        assert torch.equal(value, saved[f"stage1.{name}"]), name


# --- command line --------------------------------------------------------------------------------
TINY = (
    "model=stackgan",
    "model.stage1.image_size=8",
    "model.stage1.base_width=4",
    "model.stage2.base_width=4",
    "model.discriminator1.base_width=4",
    "model.discriminator2.base_width=4",
    "model.grid_rows=2",
    "model.samples_per_caption=2",
    "data.image_size=16",
    "data.loader.batch_size=8",
    "callbacks.sample_grid.min_image_size=8",
)


@pytest.mark.parametrize("data", ["digit_captions", "captions", "experiment"])
def test_fast_dev_run_every_data(data, tmp_path, mnist_root):
    run_dir = tmp_path / "run"
    if data == "captions":
        root = write_captioned(tmp_path / "birds", n=8)
        pair = ("data=captions", f"data.root={root}")
    elif data == "experiment":
        pair = ("experiment=digits_text2image",)
    else:
        pair = ("data=digit_captions",)
    args = (*pair, *TINY) if data != "experiment" else (*pair, "data.loader.batch_size=8")
    result = run_cli(*args, "debug=fast_dev_run", f"paths.data_dir={mnist_root}", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert names == ["epoch_000.png", "stage1_epoch_000.png"]


@pytest.fixture(scope="module")
def stage_runs(tmp_path_factory):
    """Checkpoints of a 2-batch stage-1 CLI run and a 2-batch stage-2 run on top of it."""
    from tests.conftest import write_mnist

    root = write_mnist(tmp_path_factory.mktemp("data"))
    runs = tmp_path_factory.mktemp("runs")
    common = (
        *TINY,
        "data=digit_captions",
        f"paths.data_dir={root}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "callbacks.evaluation=null",
    )
    first = run_cli(*common, "model.stage=1", run_dir=runs / "one")
    assert first.returncode == 0, first.stderr[-3000:]
    stage1 = runs / "one" / "checkpoints" / "last.ckpt"
    second = run_cli(*common, "model.stage=2", f"model.stage1_ckpt={stage1}", run_dir=runs / "two")
    assert second.returncode == 0, second.stderr[-3000:]
    return stage1, runs / "two" / "checkpoints" / "last.ckpt", common


def test_sample_text_writes_stage_two_images(stage_runs, tmp_path):
    _, stage2, _ = stage_runs
    out = tmp_path / "out"
    result = run_cli(
        f"ckpt={stage2}",
        "text=a handwritten three|the digit 7 written purple",
        "n=3",
        f"out={out}",
        run_dir=tmp_path / "x",
        module="gan_lightning.sample",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "read as <unk>: purple" in result.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["grid.png", *(f"sample_{i:04d}.png" for i in range(6))]
    with Image.open(out / "sample_0000.png") as image:
        assert image.size == (16, 16)  # stage II: twice stage I's 8 px
    with Image.open(out / "grid.png") as grid:
        assert grid.size == (2 + 3 * 18, 2 + 2 * 18)  # one row of 3 per caption
    sample.main([f"ckpt={stage2}", "text=a thin 7", "stage=1", "n=2", f"out={tmp_path / 'o1'}"])
    with Image.open(tmp_path / "o1" / "sample_0000.png") as image:
        assert image.size == (8, 8)
    sample.main([f"ckpt={stage2}", "n=1", f"out={tmp_path / 'o2'}"])  # the run's grid captions
    assert len(list((tmp_path / "o2").glob("sample_*.png"))) == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("text= | a seven",), "has an empty caption"),
        (("text=a seven", "stage=2"), "trained stage I only; sample it with stage=1"),
        (("text=a seven", "labels=3"), "labels= does not apply to a text-to-image checkpoint"),
        (("text=a seven", "stage=3"), "stage must be 1 or 2, got 3"),
    ],
)
def test_sample_text_refuses_bad_input(stage_runs, tmp_path, arguments, message):
    stage1, _, _ = stage_runs
    with pytest.raises(UserError, match=message) as error:
        sample.main([f"ckpt={stage1}", f"out={tmp_path / 'o'}", *arguments])
    assert "\n" not in str(error.value)


def test_cli_stage_two_on_a_stage_two_checkpoint_is_one_line(stage_runs, tmp_path):
    _, stage2, common = stage_runs
    result = run_cli(
        *common, "model.stage=2", f"model.stage1_ckpt={stage2}", run_dir=tmp_path / "run"
    )
    assert result.returncode == 2
    message = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert "is a stage-2 StackGAN checkpoint, not a StackGAN stage-I one" in message
    assert "Traceback" not in result.stderr


def test_text_on_a_checkpoint_of_another_kind_is_one_line(tmp_path):
    path = _fake_checkpoint(tmp_path / "gan.ckpt", "GAN")
    result = run_cli(
        f"ckpt={path}", "text=a seven", run_dir=tmp_path / "x", module="gan_lightning.sample"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: text= is for text-to-image checkpoints (model=stackgan); {path} is a GAN "
        "checkpoint"
    ]


def test_tokenize_drops_punctuation():
    assert tokenize("A thin, handwritten 7!") == ["a", "thin", "handwritten", "7"]


@pytest.mark.slow
def test_text_to_digits_meets_the_quality_bar(shared_data, tmp_path):
    """experiment=digits_text2image, scored by experiments/text2image/run.py (13 min, 2 cores)."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    out = tmp_path / "scores"
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "experiments" / "text2image" / "run.py"),
            f"--data-dir={shared_data}",
            f"--run-dir={tmp_path / 'run'}",
            f"--out={out}",
            "--per-caption=5",
        ],
        check=True,
        capture_output=True,
        timeout=3000,
    )
    results = json.loads((out / "results.json").read_text())
    assert results["images"]["stage2"][-1] == 2 * results["images"]["stage1"][-1]
    assert results["caption_accuracy"]["stage2_seen_words"] >= 0.8, results
    assert results["stage2_keeps_stage1_class"] >= 0.8, results


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("model=stackgan", "data=mnist"), "StackGAN trains on captioned, but MNISTDataModule"),
        (("data=digit_captions",), "GAN trains on images, but DigitCaptionsDataModule yields"),
        (("model=stackgan", "data=captions"), "data.root: a value is required"),
    ],
)
def test_model_and_data_must_both_be_captioned(overrides, message):
    from gan_lightning.commands import compose
    from gan_lightning.config_check import check_config

    with pytest.raises(UserError, match=message):
        check_config(compose("train", [*overrides, "hydra.run.dir=unused"]))


def test_data_at_another_size_than_stage_two_is_one_line(mnist_root):
    datamodule = DigitCaptionsDataModule(str(mnist_root), image_size=32, loader={"batch_size": 8})
    with pytest.raises(UserError, match="data.image_size=32 but stage II makes 16px images"):
        quiet_trainer(max_steps=2).fit(make_stackgan("joint"), datamodule=datamodule)


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(UserError, match="image folder .*/nothing/images/ not found"):
        CaptionedImageDataModule(str(tmp_path / "nothing")).validate()
    (tmp_path / "bare" / "images").mkdir(parents=True)
    with pytest.raises(UserError, match="no captions found: neither .*/bare/text/ or"):
        CaptionedImageDataModule(str(tmp_path / "bare")).validate()
