"""The inference commands' typed arguments, the variant table they dispatch on, the one caption
encoder, and the shared pieces of the translation metrics (no training run needed)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf
from torch import nn

import gan_lightning.models
from gan_lightning.commands import command_args
from gan_lightning.errors import UserError
from gan_lightning.inference import VARIANTS, inference_kind, variant_kind
from gan_lightning.metrics.distances import InceptionDistance
from gan_lightning.metrics.paired import PairedDistance
from gan_lightning.metrics.translation import CycleReconstruction, TranslationDistance
from gan_lightning.models.adversarial import TrainingOptions
from gan_lightning.models.template import TemplateGAN
from gan_lightning.sample import SampleArgs
from gan_lightning.sampling import Sampler, latent_settings
from gan_lightning.text import SentenceEmbeddings, encode_captions
from gan_lightning.training.checkpoint_state import variant_bases
from gan_lightning.translate import TranslateArgs
from tests.conftest import REPO_ROOT

SAMPLE_KEYS = (
    "ckpt, n, out, labels, grid, truncation, seed, interpolate, seeds, batch_size, text, stage, "
    "embeddings, ema"
)


@pytest.mark.parametrize(("kind", "name"), [(SampleArgs, "sample"), (TranslateArgs, "translate")])
def test_each_key_has_a_default_in_the_config_file(kind, name):
    defaults = yaml.safe_load((REPO_ROOT / "conf" / f"{name}.yaml").read_text())
    assert list(defaults) == [field.name for field in dataclasses.fields(kind)]


def test_values_are_typed_and_reach_the_command_as_written():
    awkward = "a thin, handwritten 7!|it's ${seven} \\'q\\"
    args = command_args(
        SampleArgs,
        "sample",
        [
            "ckpt=C:\\runs\\last.ckpt",
            "n=3",
            "n=5",
            "grid=False",
            "truncation=0.5",
            f"text={awkward}",
        ],
    )
    assert args.ckpt == "C:\\runs\\last.ckpt" and args.n == 5 and args.grid is False
    assert args.truncation == 0.5 and args.text == awkward
    assert (args.labels, args.seed, args.batch_size, args.stage) == (None, 0, 256, None)
    assert command_args(SampleArgs, "sample", ["ckpt=x", "labels=3,7"]).labels == "3,7"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["ckpt=x", "colour=red"],
            f"bad argument 'colour=red'; use key=value with keys: {SAMPLE_KEYS}",
        ),
        (["ckpt"], f"bad argument 'ckpt'; use key=value with keys: {SAMPLE_KEYS}"),
        (["ckpt=x", "n=zero"], "n='zero': expected int"),
        (["ckpt=x", "grid=yes"], "grid='yes': expected bool"),
        (["ckpt=x", "truncation=abc"], "truncation='abc': expected float"),
        (["n=3"], "give a checkpoint: ckpt=PATH"),
        (["ckpt=x", "n=0"], "n must be positive, got 0"),
        (["ckpt=x", "batch_size=0"], "batch_size must be positive, got 0"),
    ],
)
def test_sample_argument_mistakes_are_one_line(argv, message):
    with pytest.raises(UserError) as error:
        command_args(SampleArgs, "sample", argv)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["input=i", "output=o"], "give ckpt=...: ckpt=PATH input=DIR output=DIR"),
        (["ckpt=c", "input=i", "output=o", "direction=AtoC"], "direction='AtoC': use AtoB or BtoA"),
        (["ckpt=c", "input=i", "output=o", "size=huge"], "size='huge': use train or native"),
        (["ckpt=c", "input=i", "output=o", "paired=1"], "paired='1': expected bool"),
    ],
)
def test_translate_argument_mistakes_are_one_line(argv, message):
    with pytest.raises(UserError) as error:
        command_args(TranslateArgs, "translate", argv)
    assert str(error.value) == message


def test_translate_defaults():
    args = command_args(TranslateArgs, "translate", ["ckpt=c", "input=i", "output=o"])
    assert (args.direction, args.size, args.batch_size, args.paired) == (None, "train", 8, False)


def _model_classes() -> set[str]:
    """Every LightningModule the models package defines, but their shared base."""
    import pytorch_lightning as pl

    names = set()
    for info in pkgutil.iter_modules(gan_lightning.models.__path__):
        module = importlib.import_module(f"gan_lightning.models.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, pl.LightningModule):
                names.add(name)
    return {name for name in names if not name.startswith("Adversarial")}


def test_every_model_variant_has_a_command():
    assert set(VARIANTS) == _model_classes()


def test_a_checkpoint_of_another_command_or_an_unknown_variant_is_one_line():
    path = Path("run.ckpt")
    assert inference_kind("sample", path, {"variant": "StackGAN"}) == "text"
    with pytest.raises(UserError, match=r"^run.ckpt is an image-to-image model: use python -m "):
        inference_kind("sample", path, {"variant": "CycleGAN"})
    with pytest.raises(UserError, match=r"^run.ckpt is not an image-to-image model; draw sampl"):
        inference_kind("translate", path, {"variant": "ConditionalGAN"})
    with pytest.raises(UserError, match=r"^run.ckpt is a WGAN checkpoint; sample, translate and"):
        inference_kind("translate", path, {"variant": "WGAN"})
    assert variant_kind({"variant": "Pix2Pix"}) == "paired" and variant_kind({}) is None


def test_a_variant_of_the_users_own_runs_as_its_nearest_base_class_in_the_package():
    path = Path("run.ckpt")
    subclass = {"variant": "ModeSeekingGAN", "variant_bases": ["TemplateGAN", "AdversarialModule"]}
    assert inference_kind("sample", path, subclass) == "latent"
    paired = {"variant": "MyPix2Pix", "variant_bases": ["Pix2Pix", "AdversarialModule"]}
    assert variant_kind(paired) == "paired"
    with pytest.raises(UserError, match=r"is a MyPix2Pix checkpoint; sample, translate and"):
        inference_kind("sample", path, {**paired, "variant_bases": ["AdversarialModule"]})


def test_checkpoints_record_a_variants_bases_and_what_its_generator_takes():
    class UniformTemplateGAN(TemplateGAN):
        latent_distribution = "uniform"  # a class attribute, in no config

    assert variant_bases(UniformTemplateGAN) == ["TemplateGAN", "AdversarialModule"]
    nets = {"generator": nn.Linear(4, 4), "discriminator": nn.Linear(4, 1)}
    training = TrainingOptions(optimizer=torch.optim.Adam)
    module = UniformTemplateGAN(**nets, loss=None, training=training, latent_dim=4)
    settings = latent_settings(module)
    assert settings == {"latent_dim": 4, "latent_distribution": "uniform", "num_classes": 0}
    config = OmegaConf.create({"model": {"latent_dim": 4}})  # the run config says only this
    recorded = Sampler.from_config(nets["generator"], config, settings)
    assert recorded.latent_distribution == "uniform"
    older = Sampler.from_config(nets["generator"], config)  # a checkpoint without settings
    assert (older.latent_dim, older.latent_distribution) == (4, "normal")
    assert latent_settings(nn.Linear(2, 2)) == {}


def test_captions_become_token_ids_or_sentence_vectors():
    words = ["<pad>", "<unk>", "a", "seven"]
    unknown = []
    tokens, lengths = encode_captions(
        ["a seven", "A purple seven, thin"], words, None, 3, unknown.append
    )
    assert tokens.tolist() == [[2, 3, 0], [2, 1, 3]] and lengths.tolist() == [2, 3]
    assert unknown == [["purple"]]  # "thin" is past max_length: cut, not unknown
    table = SentenceEmbeddings(["a seven"], torch.ones(1, 4))
    vectors, lengths = encode_captions(["A seven."], None, table)
    assert vectors.shape == (1, 4) and lengths.tolist() == [1]
    with pytest.raises(UserError, match="neither a vocabulary nor sentence vectors"):
        encode_captions(["a seven"], None, None)


def test_translation_metrics_refuse_the_inputs_of_other_models():
    for metric, models in [
        (PairedDistance(), "paired translation (Pix2Pix checkpoints)"),
        (TranslationDistance(), "image-to-image models (CycleGAN checkpoints)"),
        (CycleReconstruction(), "image-to-image models (CycleGAN checkpoints)"),
    ]:
        with pytest.raises(UserError) as error:
            metric.check(object())
        assert str(error.value) == f"{metric.name} scores {models}"


def test_a_feature_network_is_built_once_and_follows_the_generator():
    built = []

    class Counting(InceptionDistance):
        def build_network(self, inputs):
            built.append(inputs)
            return nn.Linear(1, 1)

    metric = Counting()
    inputs = type("Inputs", (), {"device": torch.device("cpu")})()
    assert metric.load(inputs) is metric.load(inputs) and len(built) == 1
