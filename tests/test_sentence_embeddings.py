"""Pre-computed sentence embeddings for the text-to-image model: the file, the data, the
``precomputed`` text encoder, training, checkpoints and ``sample text= embeddings=``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning import sample
from gan_lightning.data.captions import (
    DIGIT_WORDS,
    PLAIN_TEMPLATES,
    THICK_TEMPLATES,
    THIN_TEMPLATES,
    DigitCaptionsDataModule,
)
from gan_lightning.data.loading import LoaderOptions
from gan_lightning.errors import UserError
from gan_lightning.models.adversarial import CHECKPOINT_KEY
from gan_lightning.models.stackgan import StackGAN
from gan_lightning.nets.stackgan import TextEncoder
from gan_lightning.text import SentenceEmbeddings, save_sentence_embeddings
from tests.conftest import first_batch, quiet_trainer, run_cli
from tests.test_stackgan import TINY, make_stackgan, small_nets

DIM = 6


def every_digit_caption() -> list[str]:
    templates = PLAIN_TEMPLATES + THICK_TEMPLATES + THIN_TEMPLATES
    return [t.format(w=DIGIT_WORDS[d], n=d) for d in range(10) for t in templates]


def write_digit_embeddings(path: Path, captions: list[str] | None = None) -> Path:
    """Random (seeded) vectors for the digit captions: any fixed encoder's output would do."""
    captions = every_digit_caption() if captions is None else captions
    vectors = torch.randn(len(captions), DIM, generator=torch.Generator().manual_seed(0))
    return save_sentence_embeddings(path, captions, vectors)


# --- the file ------------------------------------------------------------------------------------
def test_pt_and_npz_files_read_back_the_same_vectors(tmp_path):
    captions = ["a thin 7", "The digit 3.", "a bird"]
    vectors = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    pt = save_sentence_embeddings(tmp_path / "e.pt", captions, vectors)
    npz = tmp_path / "e.npz"
    np.savez(npz, captions=np.array(captions), embeddings=vectors.numpy())
    for path in (pt, npz):
        table = SentenceEmbeddings.load(path)
        assert table.dim == 4 and len(table) == 3
        # looked up by their words: case, spacing and punctuation do not matter
        found = table.lookup(["the digit 3", "A   thin 7!", "a bird"])
        assert torch.equal(found, vectors[[1, 0, 2]])
        assert table.missing(["a thin 8", "a bird"]) == ["a thin 8"]
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.with_suffix(".pt"), "not found; write one with"),
        (lambda p: _write(p.with_suffix(".txt"), b"x"), "are read from .pt or .npz files"),
        (lambda p: _write(p, b"not a zip"), "is not a readable embeddings file"),
        (lambda p: _save(p, {"embeddings": torch.zeros(1, 2)}), "must hold 'captions'"),
        (lambda p: _save(p, {"captions": ["a"], "embeddings": torch.zeros(2, 2)}), "one vector"),
        (lambda p: _save(p, {"captions": ["a"], "embeddings": torch.ones(1, 2) / 0}), "finite"),
        (
            lambda p: _save(p, {"captions": ["a b", " a b "], "embeddings": torch.eye(2)}),
            "appears twice with different vectors",
        ),
        (lambda p: _save(p, {"captions": ["?!"], "embeddings": torch.eye(1)}), "has no words"),
    ],
)
def test_bad_embedding_files_are_one_line_errors(tmp_path, write, message):
    path = write(tmp_path / "e.pt")
    with pytest.raises(UserError, match=message) as error:
        SentenceEmbeddings.load(path)
    assert "\n" not in str(error.value)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _save(path: Path, content: dict) -> Path:
    torch.save(content, path)
    return path


def test_captions_as_written_keep_their_own_vectors():
    """An encoder that reads case and punctuation gives "Red." and "red" different vectors;
    other spellings of the same words fall back to the first of them."""
    table = SentenceEmbeddings(["A red bird.", "a red bird"], torch.eye(2), "e.pt")
    assert len(table) == 2
    assert table.lookup(["a red bird", "A red bird.", "A RED bird"]).tolist() == [
        [0.0, 1.0],
        [1.0, 0.0],
        [1.0, 0.0],
    ]


def test_a_caption_without_a_vector_is_named():
    table = SentenceEmbeddings(["a seven"], torch.ones(1, 3), "e.pt")
    with pytest.raises(
        UserError, match=r"1 caption\(s\) have no vector in e.pt \(first: 'a six'\)"
    ):
        table.lookup(["a seven", "a six"])


# --- the encoder ---------------------------------------------------------------------------------
def test_precomputed_encoder_projects_vectors_and_refuses_token_ids():
    encoder = TextEncoder(vocab_size=3, embedding_dim=DIM, output_dim=5, kind="precomputed")
    assert not hasattr(encoder, "embedding")  # no word table to train
    vectors = torch.randn(4, DIM)
    out = encoder(vectors, torch.ones(4, dtype=torch.long))
    assert out.shape == (4, 5)
    assert torch.allclose(out[1], encoder(vectors[1:2], torch.ones(1, dtype=torch.long))[0])
    with pytest.raises(ValueError, match="set model.text_encoder.embedding_dim=7"):
        encoder(torch.randn(4, 7), torch.ones(4))
    with pytest.raises(ValueError, match="set data.embeddings_file"):
        encoder(torch.ones(4, 3, dtype=torch.long), torch.ones(4))
    words = TextEncoder(vocab_size=10, embedding_dim=4, output_dim=5)
    with pytest.raises(ValueError, match="set model.text_encoder.kind=precomputed"):
        words(vectors, torch.ones(4, dtype=torch.long))


# --- data ----------------------------------------------------------------------------------------
def test_digit_captions_come_as_their_vectors(mnist_root, tmp_path):
    path = write_digit_embeddings(tmp_path / "digits.pt")
    datamodule = DigitCaptionsDataModule(
        str(mnist_root),
        image_size=16,
        embeddings_file=str(path),
        loader=LoaderOptions(batch_size=8),
    )
    images, text, lengths, labels = first_batch(datamodule)
    assert images.shape == (8, 1, 16, 16)
    assert text.dtype == torch.float32 and text.shape == (8, DIM)
    assert torch.equal(lengths, torch.ones(8, dtype=torch.long))
    assert datamodule.vocabulary is None and datamodule.embeddings.dim == DIM
    table = SentenceEmbeddings.load(path)
    # each row is the vector of a caption that names the row's digit
    for row in range(8):
        own = [c for c in every_digit_caption() if str(int(labels[row])) in c.split()]
        own += [c for c in every_digit_caption() if DIGIT_WORDS[int(labels[row])] in c.split()]
        assert any(torch.equal(text[row], table.lookup([c])[0]) for c in own), row


def test_training_captions_missing_from_the_file_are_one_line(mnist_root, tmp_path):
    path = write_digit_embeddings(tmp_path / "few.pt", every_digit_caption()[:30])
    datamodule = DigitCaptionsDataModule(
        str(mnist_root),
        image_size=16,
        embeddings_file=str(path),
        loader=LoaderOptions(batch_size=8),
    )
    with pytest.raises(UserError, match=r"of \d+ training captions have no vector in") as error:
        datamodule.setup("fit")
    assert "\n" not in str(error.value)
    missing = DigitCaptionsDataModule(str(mnist_root), embeddings_file=str(tmp_path / "absent.pt"))
    with pytest.raises(UserError, match="data.embeddings_file=.*absent.pt not found"):
        missing.validate()


# --- the model -----------------------------------------------------------------------------------
def precomputed_nets(dim: int = DIM) -> dict[str, torch.nn.Module]:
    nets = small_nets()
    nets["text_encoder"] = TextEncoder(2, embedding_dim=dim, output_dim=12, kind="precomputed")
    return nets


def make_model(nets: dict, stage: str = "joint", **kwargs) -> StackGAN:
    return make_stackgan(stage, nets, **kwargs)


def test_word_dropout_has_no_words_to_drop():
    with pytest.raises(ValueError, match="set model.word_dropout=0"):
        make_model(precomputed_nets(), word_dropout=0.1)


@pytest.mark.parametrize(
    "nets, with_file, message",
    [
        (precomputed_nets, False, "give their file, data.embeddings_file=PATH"),
        (small_nets, True, "set model.text_encoder.kind=precomputed"),
        (partial(precomputed_nets, DIM + 1), True, f"set model.text_encoder.embedding_dim={DIM}"),
    ],
)
def test_encoder_and_data_must_agree_on_the_text(mnist_root, tmp_path, nets, with_file, message):
    path = str(write_digit_embeddings(tmp_path / "e.pt")) if with_file else None
    datamodule = DigitCaptionsDataModule(
        str(mnist_root),
        image_size=16,
        vocab_size=40,
        embeddings_file=path,
        loader=LoaderOptions(batch_size=8),
    )
    with pytest.raises(UserError, match=message) as error:
        quiet_trainer(max_steps=1).fit(make_model(nets()), datamodule=datamodule)
    assert "\n" not in str(error.value)


def test_trains_both_stages_on_vectors_and_keeps_the_grid_vectors(mnist_root, tmp_path):
    path = write_digit_embeddings(tmp_path / "e.pt")
    datamodule = DigitCaptionsDataModule(
        str(mnist_root),
        image_size=16,
        embeddings_file=str(path),
        loader=LoaderOptions(batch_size=8),
    )
    model = make_model(precomputed_nets(), stage="1")
    model.run_config = {"model": {}}
    project = model.text_encoder.project[0].weight.clone()
    trainer = quiet_trainer(max_steps=3)
    trainer.fit(model, datamodule=datamodule)
    assert not torch.equal(project, model.text_encoder.project[0].weight)  # D's side trains it
    stage1 = tmp_path / "stage1.ckpt"
    trainer.save_checkpoint(stage1)
    extras = torch.load(stage1, weights_only=True)[CHECKPOINT_KEY]
    assert extras["vocabulary"] is None
    assert extras["grid_captions"] == ["a handwritten zero", "a handwritten one"]
    table = SentenceEmbeddings.load(path)
    assert torch.equal(extras["grid_vectors"], table.lookup(extras["grid_captions"]))
    # stage II on the frozen stage I of a precomputed run, then its grids without the data
    second = make_model(precomputed_nets(), stage="2", stage1_ckpt=str(stage1))
    assert second.vocabulary is None
    quiet_trainer(max_steps=2).fit(second, datamodule=datamodule)
    second.embeddings = None  # detached from the data set: the checkpointed vectors serve
    high, per_row = second.grid_images()["samples"]
    assert high.shape == (4, 1, 16, 16) and per_row == 2
    with pytest.raises(UserError, match="have no vector in grids"):
        second.generate(["a purple seven"])
    # stage II set up for words on a stage I that read vectors: the keys to set, in one line
    words = make_model(small_nets(), stage="2", stage1_ckpt=str(stage1))
    with pytest.raises(UserError, match="set model.text_encoder.kind=precomputed, its embedd"):
        words.load_stage_one()


# --- command line --------------------------------------------------------------------------------
def test_cli_trains_on_an_embeddings_file_and_samples_from_it(mnist_root, tmp_path):
    path = write_digit_embeddings(tmp_path / "digits.pt")
    run_dir = tmp_path / "run"
    result = run_cli(
        *TINY,
        "data=digit_captions",
        f"data.embeddings_file={path}",
        "model.text_encoder.kind=precomputed",
        f"model.text_encoder.embedding_dim={DIM}",
        f"paths.data_dir={mnist_root}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "callbacks.evaluation=null",
        run_dir=run_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    out = tmp_path / "out"
    sample.main(
        [f"ckpt={ckpt}", "text=a thin 7|The digit 3.", "n=2", f"out={out}", f"embeddings={path}"]
    )
    assert sorted(p.name for p in out.glob("sample_*.png")) == [
        f"sample_{i:04d}.png" for i in range(4)
    ]
    with Image.open(out / "sample_0000.png") as image:
        assert image.size == (16, 16)
    sample.main([f"ckpt={ckpt}", "n=1", f"out={tmp_path / 'grid'}"])  # stored grid vectors
    wider = save_sentence_embeddings(tmp_path / "wider.pt", ["a thin 7"], torch.ones(1, DIM + 1))
    assert len(list((tmp_path / "grid").glob("sample_*.png"))) == 2
    for arguments, message in [
        (("text=a thin 7",), "give the file that holds the captions' vectors, embeddings=FILE"),
        (("text=a purple 7", f"embeddings={path}"), "have no vector in"),
        (("text=a thin 7", f"embeddings={wider}"), f"holds 7-d vectors but this model reads {DIM}"),
    ]:
        result = run_cli(
            f"ckpt={ckpt}",
            f"out={tmp_path / 'bad'}",
            *arguments,
            run_dir=tmp_path / "x",
            module="gan_lightning.sample",
        )
        assert result.returncode == 2 and not (tmp_path / "bad").exists()
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr


def test_embeddings_argument_on_a_word_model_is_refused(tmp_path):
    extras = {"vocabulary": ["<pad>", "<unk>", "seven"], "grid_captions": ["seven"]}
    with pytest.raises(UserError, match="this one reads words, drop embeddings="):
        sample.caption_input(extras, ["a seven"], str(tmp_path / "e.pt"), given=True)
    tokens, lengths = sample.caption_input(extras, ["a seven"], None, given=True)
    assert tokens.tolist() == [[1, 2]] and lengths.tolist() == [2]
