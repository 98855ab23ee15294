"""StackGAN-style text-to-image (Zhang et al. 2017) on the shared adversarial step.

Stage I draws a low-resolution image from z and a conditioning code c (conditioning
augmentation of the sentence vector); stage II redraws it 2x or 4x larger, seeing the text
again through its own code. Each stage has a matching-aware discriminator (Reed et al. 2016,
GAN-CLS): real image + matching text is real; real image + mismatched text and fake image +
matching text are fake, weighted 1, 0.5, 0.5.

``stage``: ``1`` trains stage I (+ its D); ``2`` loads stage I from ``stage1_ckpt`` (a stage-1 or
joint StackGAN checkpoint), freezes it and trains stage II (+ its D); ``joint`` trains both at
once, stage II's loss reaching stage I through its input.

Who trains the text encoder: the discriminator side. The matching-aware D loss is the one term
that directly rewards sentence vectors that tell captions apart (it must call a real image with
a mismatched caption fake); G only reads the vector (detached). Were the encoder on G's side, G
could move the vector D judges by instead of improving its images. Stage 2 keeps it frozen.

Batches: ``(images, text, lengths, labels)`` from ``gan_lightning.data.captions``; text is token
ids, or pre-computed sentence vectors (``data.embeddings_file``) for a ``precomputed`` encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import Enum
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.checkpoints import load_checkpoint
from gan_lightning.errors import UserError
from gan_lightning.losses import AdversarialLoss
from gan_lightning.models.adversarial import CHECKPOINT_KEY, AdversarialModule, TrainingOptions
from gan_lightning.nets.stackgan import draw, kl_divergence
from gan_lightning.sizes import PositiveInt
from gan_lightning.text import PAD_ID, UNK_ID, SentenceEmbeddings, encode_captions
from gan_lightning.training.checkpoint_state import variant_family
from gan_lightning.training.lightning_adapter import attached_trainer

log = logging.getLogger(__name__)


class Stage(str, Enum):
    """Which stages a run trains (``model.stage``): I alone, II on a frozen stage I, or both.

    Values are the config's spellings; a checkpoint stores ``stage.value``."""

    ONE = "1"
    TWO = "2"
    JOINT = "joint"

    @classmethod
    def parse(cls, value: int | str) -> Stage:
        try:
            return cls(str(value))
        except ValueError:
            raise ValueError(f"stage must be 1, 2 or joint, got {value!r}") from None

    @property
    def trained(self) -> tuple[int, ...]:
        """The numbers of the stages whose networks this run updates."""
        return {Stage.ONE: (1,), Stage.TWO: (2,), Stage.JOINT: (1, 2)}[self]

    @property
    def last(self) -> int:
        """The stage whose images the model outputs."""
        return self.trained[-1]


STAGE_I_NETS = ("text_encoder", "conditioning", "stage1")
GENERATOR_NETS = ("conditioning", "stage1", "conditioning2", "stage2")


def mismatched(labels: Tensor, tokens: Tensor) -> Tensor:
    """For each row, the index of another row whose caption says something else.

    The batch rolled by one, then by two, ... for rows still paired with the same digit (label)
    or, where labels are unknown (-1), the same token sequence (or sentence vector). Rows whose
    batch has nothing else keep the last try: "where possible".
    """
    n = labels.shape[0]
    if labels.ge(0).all():
        keys = labels
    else:
        keys = torch.unique(tokens, dim=0, return_inverse=True)[1]
    rows = torch.arange(n, device=labels.device)
    index = (rows + 1) % n
    for shift in range(2, n):
        same = keys[index] == keys
        if not bool(same.any()):
            break
        index = torch.where(same, (rows + shift) % n, index)
    return index


class StackGAN(AdversarialModule):
    """Text encoder, two conditioning augmentations, two generators, two discriminators.

    G's loss per trained stage: adversarial(D_s(fake_s, text)) + kl_weight * KL(CA_s || N(0, I)).
    Real images are resized (area) to each discriminator's size, so the data are at the final
    size (``data.image_size`` = stage II's) and stage I sees them downsampled.

    ``word_dropout``: the share of training words read as ``<unk>``, so the encoder learns what
    ``<unk>`` means before a caption with unseen words brings it (otherwise its embedding row
    is never trained).
    """

    data_kind = "captioned"  # checked against the data module before anything is built

    def __init__(
        self,
        text_encoder: nn.Module,
        conditioning: nn.Module,
        stage1: nn.Module,
        discriminator1: nn.Module,
        conditioning2: nn.Module,
        stage2: nn.Module,
        discriminator2: nn.Module,
        loss: AdversarialLoss,
        training: TrainingOptions,
        stage: int | str = 1,
        stage1_ckpt: str | None = None,
        latent_dim: PositiveInt = 32,
        kl_weight: float = 1.0,
        word_dropout: float = 0.0,
        grid_rows: PositiveInt = 10,
        samples_per_caption: PositiveInt = 8,
    ) -> None:
        super().__init__(loss, training)
        self.training_stage = Stage.parse(stage)
        _check_settings(text_encoder, kl_weight, word_dropout, min(grid_rows, samples_per_caption))
        self.text_encoder = text_encoder
        self.conditioning = conditioning
        self.stage1 = stage1
        self.discriminator1 = discriminator1
        self.conditioning2 = conditioning2
        self.stage2 = stage2
        self.discriminator2 = discriminator2
        _check_fit(self.nets(), latent_dim, self.training_stage)
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.word_dropout = word_dropout
        self.grid_rows = grid_rows
        self.samples_per_caption = samples_per_caption
        self.stage1_ckpt = stage1_ckpt
        self.save_settings()
        self.register_buffer(
            "fixed_noise", torch.randn(grid_rows * samples_per_caption, latent_dim)
        )
        self.vocabulary: list[str] | None = None  # from the data module, or stage I's
        self.grid_captions: list[str] | None = None
        # precomputed encoder: the sentence vectors of the data set (while attached to it), and
        # of the grid captions (kept in the checkpoint, so grids and sampling work without it)
        self.embeddings: SentenceEmbeddings | None = None
        self.grid_vectors: Tensor | None = None
        # model.stage1_ckpt's file, when a fit starts without it (a resumed run does not need it)
        self.stage_one_missing: str | None = None
        if self.training_stage is Stage.TWO:
            if not stage1_ckpt:
                raise UserError(
                    "model.stage=2 trains stage II on a trained stage I: give its checkpoint, "
                    "model.stage1_ckpt=PATH (from a model.stage=1 or joint run)"
                )
            for name in STAGE_I_NETS:
                getattr(self, name).requires_grad_(False)
            self.train()
        elif stage1_ckpt is not None:
            raise ValueError(
                f"stage1_ckpt is for model.stage=2; stage={self.training_stage.value} trains "
                "stage I itself (set model.stage1_ckpt=null)"
            )

    def nets(self) -> dict[str, nn.Module]:
        names = ("text_encoder", "conditioning", "stage1", "discriminator1")
        names += ("conditioning2", "stage2", "discriminator2")
        return {name: getattr(self, name) for name in names}

    # --- stage II on a trained stage I ---------------------------------------------------------
    def load_stage_one(self) -> None:
        """Stage I's networks and vocabulary from ``stage1_ckpt``, frozen.

        Called when a stage-2 fit is set up, before G's average copies stage I. A resumed run
        finds stage I in its own checkpoint, so a ``stage1_ckpt`` moved away since is only an
        error when nothing is restored (checked at ``on_train_start``)."""
        path = self.stage1_ckpt
        if not Path(path).exists():
            self.stage_one_missing = path
            return
        self.stage_one_missing = None
        checkpoint = load_checkpoint(path)
        extras = checkpoint[CHECKPOINT_KEY]
        family = variant_family(extras)
        if StackGAN.__name__ not in family or extras.get("stage") not in (
            Stage.ONE,
            Stage.JOINT,
        ):
            kind = extras.get("variant")
            if StackGAN.__name__ in family:
                kind = f"stage-{extras.get('stage')} {kind}"
            raise UserError(
                f"model.stage1_ckpt={path} is a {kind} checkpoint, not a StackGAN stage-I one; "
                "give the last.ckpt of a model=stackgan model.stage=1 (or joint) run"
            )
        state = checkpoint["state_dict"]
        for name in STAGE_I_NETS:
            prefix = f"{name}."
            part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            try:
                getattr(self, name).load_state_dict(part)
            except RuntimeError:
                hint = f"use the model.{name} settings of the run that wrote it"
                if name == "text_encoder" and not extras.get("vocabulary"):
                    hint = (
                        "it read pre-computed sentence vectors: set model.text_encoder.kind="
                        "precomputed, its embedding_dim and data.embeddings_file"
                    )
                raise UserError(
                    f"model.stage1_ckpt={path}: its {name} differs from the one this run builds; "
                    f"{hint}"
                ) from None
        words = extras.get("vocabulary")
        self.vocabulary = list(words) if words else None  # None: stage I read sentence vectors
        log.info("stage II trains on the frozen stage I of %s", path)

    def train(self, mode: bool = True) -> StackGAN:
        """A frozen stage I stays in eval mode: its BatchNorm statistics are the trained ones."""
        super().train(mode)
        if self.training_stage is Stage.TWO:
            for name in STAGE_I_NETS:
                getattr(self, name).eval()
        return self

    def on_train_start(self) -> None:
        # after any checkpoint is restored, whatever the strategy's restore order
        if self.stage_one_missing is not None and self.trainer.ckpt_path is None:
            raise UserError(
                f"model.stage1_ckpt={self.stage_one_missing} not found; give the last.ckpt of "
                "the model=stackgan model.stage=1 (or joint) run that stage II builds on"
            )

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.train(self.training)  # Lightning does not call train() itself; modes may drift

    # --- parameter groups ----------------------------------------------------------------------
    def generators(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in GENERATOR_NETS}

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        stage_one = chain(self.conditioning.parameters(), self.stage1.parameters())
        stage_two = chain(self.conditioning2.parameters(), self.stage2.parameters())
        return self._of_trained_stages(stage_one, stage_two)

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        stage_one = chain(self.text_encoder.parameters(), self.discriminator1.parameters())
        stage_two = self.discriminator2.parameters()
        return self._of_trained_stages(stage_one, stage_two)

    def _of_trained_stages(
        self, stage_one: Iterator[nn.Parameter], stage_two: Iterator[nn.Parameter]
    ) -> Iterator[nn.Parameter]:
        trained = self.training_stage.trained
        return chain(stage_one if 1 in trained else (), stage_two if 2 in trained else ())

    # --- data and vocabulary -------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit" and self.training_stage is Stage.TWO:
            self.load_stage_one()
        datamodule = self.trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "vocabulary"):
            return
        embeddings = getattr(datamodule, "embeddings", None)
        self._check_text_input(embeddings)
        if embeddings is not None:
            self.embeddings = embeddings
        elif self.vocabulary is None:
            self.vocabulary = list(datamodule.vocabulary.words)
        else:  # stage I's words keep their ids
            datamodule.use_vocabulary(self.vocabulary)
        self._check_vocabulary()
        final = self.stage2.image_size if 2 in self.training_stage.trained else None
        if final is not None and datamodule.image_size != final:
            raise UserError(
                f"data.image_size={datamodule.image_size} but stage II makes {final}px images; "
                f"set data.image_size={final} (stage I sees the real images downsampled)"
            )
        self.grid_captions = datamodule.grid_captions(self.grid_rows)
        if embeddings is not None:
            self.grid_vectors = embeddings.lookup(self.grid_captions)

    def _check_text_input(self, embeddings: SentenceEmbeddings | None) -> None:
        """Token ids for a word encoder, sentence vectors of its width for a precomputed one."""
        encoder = self.text_encoder
        if encoder.reads_vectors and embeddings is None:
            raise UserError(
                "model.text_encoder.kind=precomputed reads sentence vectors: give their file, "
                "data.embeddings_file=PATH, or use kind=gru / bow to learn from the words"
            )
        if embeddings is not None and not encoder.reads_vectors:
            raise UserError(
                f"data.embeddings_file gives sentence vectors but model.text_encoder.kind="
                f"{encoder.kind} reads words; set model.text_encoder.kind=precomputed"
            )
        if embeddings is not None and embeddings.dim != encoder.embedding_dim:
            raise UserError(
                f"{embeddings.source} holds {embeddings.dim}-d vectors but the text encoder "
                f"reads {encoder.embedding_dim}; set model.text_encoder.embedding_dim="
                f"{embeddings.dim}"
            )

    def _check_vocabulary(self) -> None:
        if self.text_encoder.reads_vectors:
            return
        rows = self.text_encoder.embedding.num_embeddings
        if self.vocabulary is not None and len(self.vocabulary) > rows:
            raise UserError(
                f"the vocabulary has {len(self.vocabulary)} words but the text encoder embeds "
                f"{rows}; set model.text_encoder.vocab_size: ${{data.vocab_size}}"
            )

    def encode_captions(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """Token ids and lengths in this model's vocabulary (unknown words: ``<unk>``), or the
        captions' sentence vectors (lengths 1) for a precomputed encoder."""
        table = None
        if self.text_encoder.reads_vectors:
            table = self.embeddings
            if table is None and self.grid_vectors is not None and self.grid_captions:
                table = SentenceEmbeddings(self.grid_captions, self.grid_vectors.cpu(), "grids")
            if table is None:
                raise UserError("the model has no sentence vectors yet: train it on a data set")
        elif self.vocabulary is None:
            raise UserError("the model has no vocabulary yet: train it on a captioned data set")
        text, lengths = encode_captions(captions, self.vocabulary, table, on_unknown=_say_unknown)
        return text.to(self.device), lengths.to(self.device)

    # --- the two losses ------------------------------------------------------------------------
    def _unpack(self, batch: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(images, text, lengths, labels), the text with ``word_dropout`` applied."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 4:
            raise UserError(
                "StackGAN needs batches of (images, tokens, lengths, labels); use a captioned "
                "data set: data=digit_captions or data=captions data.root=DIR"
            )
        images, tokens, lengths, labels = batch
        return images, self._drop_words(tokens), lengths, labels

    def _drop_words(self, tokens: Tensor) -> Tensor:
        """While training, ``word_dropout`` of the words read as ``<unk>`` (never with sentence
        vectors: refused in ``__init__``)."""
        if not (self.training and self.word_dropout > 0):
            return tokens
        drop = (torch.rand(tokens.shape, device=tokens.device) < self.word_dropout) & (
            tokens != PAD_ID
        )
        return tokens.masked_fill(drop, UNK_ID)

    @staticmethod
    def _resized(images: Tensor, size: int) -> Tensor:
        if images.shape[-1] == size and images.shape[-2] == size:
            return images
        return F.interpolate(images, size=(size, size), mode="area")

    def _fakes(self, text: Tensor, z: Tensor) -> tuple[dict[int, Tensor], Tensor]:
        """Stage images (only those needed) and the summed KL of the codes that are trained."""
        kl = text.new_zeros(())
        c1, mu1, logvar1 = self.conditioning(text)
        fakes = {1: self.stage1(z, c1)}
        if 1 in self.training_stage.trained:
            kl = kl + kl_divergence(mu1, logvar1)
        if 2 in self.training_stage.trained:
            c2, mu2, logvar2 = self.conditioning2(text)
            low = fakes[1] if self.training_stage is Stage.JOINT else fakes[1].detach()
            fakes[2] = self.stage2(low, c2)
            kl = kl + kl_divergence(mu2, logvar2)
        return fakes, kl

    def discriminator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real, tokens, lengths, labels = self._unpack(batch)
        text = self.text_encoder(tokens, lengths)  # trained here (stages 1 and joint)
        wrong = text[mismatched(labels, tokens)]
        with torch.no_grad():
            fakes, _ = self._fakes(text.detach(), self._latent(real.shape[0]))
        loss = real.new_zeros(())
        logs: dict[str, Tensor] = {}
        for s in self.training_stage.trained:
            d = self.discriminator1 if s == 1 else self.discriminator2
            real_s = self._resized(real, d.image_size)
            match, fake = self.judge(partial(self.critic, d, text), real_s, fakes[s])
            mismatch = self.critic(d, wrong, real_s)
            term = 0.5 * (
                self.loss.discriminator(match, mismatch) + self.loss.discriminator(match, fake)
            )
            loss = loss + term
            for name, logits in (("real", match), ("wrong", mismatch), ("fake", fake)):
                logs[f"d{s}_{name}"] = self.loss.score(logits.detach()).mean()
            logs[f"d{s}_loss"] = term.detach()
        last = self.training_stage.trained[-1]
        logs["d_real"], logs["d_fake"] = logs[f"d{last}_real"], logs[f"d{last}_fake"]
        return loss, logs

    def generator_loss(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        real, tokens, lengths, _ = self._unpack(batch)
        text = self.text_encoder(tokens, lengths).detach()
        fakes, kl = self._fakes(text, self._latent(real.shape[0]))
        loss = self.kl_weight * kl
        logs = {"kl": kl.detach()}
        for s in self.training_stage.trained:
            d = self.discriminator1 if s == 1 else self.discriminator2
            adversarial = self.loss.generator(self.critic(d, text, fakes[s]))
            loss = loss + adversarial
            logs[f"g{s}_adv"] = adversarial.detach()
        return loss, logs

    def critic(self, discriminator: nn.Module, text: Tensor, images: Tensor) -> Tensor:
        """A stage's D on what it sees of the images, given the text."""
        return discriminator(self.augmented(images), text)

    def _latent(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    # --- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, captions: list[str], z: Tensor | None = None, mean_code: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """(stage-I images, stage-II images; None for a stage-1 model), networks in eval mode.

        ``mean_code``: c = mu (no conditioning noise), as the grids use.
        """
        tokens, lengths = self.encode_captions(captions)
        n = len(captions)
        z = self._latent(n) if z is None else z.to(self.device)
        noise = None
        if mean_code:
            noise = (
                z.new_zeros(n, self.conditioning.condition_dim),
                z.new_zeros(n, self.conditioning2.condition_dim),
            )
        was_training = self.training
        self.eval()
        try:
            return draw(self.nets(), tokens, lengths, z, self.training_stage.last, noise)
        finally:
            self.train(was_training)

    def grid_images(self) -> dict[str, tuple[Tensor, int]]:
        """One row per grid caption; stage II's images, and stage I's beside them."""
        if self.grid_captions is None:
            raise UserError("no grid captions: the model was not set up on a captioned data set")
        captions = [c for c in self.grid_captions for _ in range(self.samples_per_caption)]
        low, high = self.generate(captions, self.fixed_noise, mean_code=True)
        if high is None:
            return {"samples": (low, self.samples_per_caption)}
        return {
            "samples": (high, self.samples_per_caption),
            "stage1": (low, self.samples_per_caption),
        }

    # --- checkpoint extras ---------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        vectors = None if self.grid_vectors is None else self.grid_vectors.detach().cpu()
        checkpoint[CHECKPOINT_KEY].update(
            stage=self.training_stage.value,
            vocabulary=self.vocabulary,
            grid_captions=self.grid_captions,
            grid_vectors=vectors,
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        extras = checkpoint.get(CHECKPOINT_KEY, {})
        if extras.get("vocabulary"):
            self.vocabulary = list(extras["vocabulary"])
            self._check_vocabulary()
            datamodule = getattr(attached_trainer(self), "datamodule", None)
            if datamodule is not None and hasattr(datamodule, "use_vocabulary"):
                datamodule.use_vocabulary(self.vocabulary)
        if extras.get("grid_captions"):
            self.grid_captions = list(extras["grid_captions"])
        if extras.get("grid_vectors") is not None:
            self.grid_vectors = extras["grid_vectors"]


def _say_unknown(words: list[str]) -> None:
    log.warning("not in the vocabulary, read as <unk>: %s", ", ".join(words))


def _check_settings(
    text_encoder: nn.Module, kl_weight: float, word_dropout: float, smallest_grid_side: int
) -> None:
    if kl_weight < 0:
        raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    if not 0.0 <= word_dropout < 1.0:
        raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
    if word_dropout > 0 and getattr(text_encoder, "reads_vectors", False):
        raise ValueError(
            "word_dropout reads words as <unk>, but a precomputed text encoder reads "
            "sentence vectors, not words: set model.word_dropout=0"
        )
    if smallest_grid_side < 1:
        raise ValueError("grid_rows and samples_per_caption must be >= 1")


def _check_fit(nets: dict[str, nn.Module], latent_dim: int, stage: Stage) -> None:
    """The networks must agree on sizes; a ValueError names the config key to set."""
    text_dim = nets["text_encoder"].output_dim
    pairs = [
        ("conditioning.text_dim", nets["conditioning"].text_dim, text_dim),
        ("conditioning2.text_dim", nets["conditioning2"].text_dim, text_dim),
        ("discriminator1.text_dim", nets["discriminator1"].text_dim, text_dim),
        ("discriminator2.text_dim", nets["discriminator2"].text_dim, text_dim),
        ("stage1.latent_dim", nets["stage1"].latent_dim, latent_dim),
        ("stage1.condition_dim", nets["stage1"].condition_dim, nets["conditioning"].condition_dim),
        (
            "stage2.condition_dim",
            nets["stage2"].condition_dim,
            nets["conditioning2"].condition_dim,
        ),
        ("discriminator1.image_size", nets["discriminator1"].image_size, nets["stage1"].image_size),
        ("stage2.input_size", nets["stage2"].input_size, nets["stage1"].image_size),
        ("stage2.channels", nets["stage2"].channels, nets["stage1"].channels),
    ]
    if 2 in stage.trained:
        pairs.append(
            (
                "discriminator2.image_size",
                nets["discriminator2"].image_size,
                nets["stage2"].image_size,
            )
        )
    for key, have, want in pairs:
        if have != want:
            raise ValueError(f"model.{key} is {have} but must be {want} to fit the other networks")
