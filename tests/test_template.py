"""The template variant, the contract of a variant on one page, trains from its config."""

from __future__ import annotations

import inspect

from gan_lightning.models import template
from gan_lightning.models.adversarial import AdversarialModule
from tests.conftest import run_cli


def test_the_template_trains_from_one_command(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("model=template", "debug=fast_dev_run", run_dir=run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((run_dir / "samples").glob("*.png"))  # its grid_images were rendered


def test_the_template_writes_only_the_contract():
    """The contract's three methods and a constructor: nothing of the step is copied."""
    own = {
        name
        for name, member in vars(template.TemplateGAN).items()
        if inspect.isfunction(member) and not name.startswith("__")
    }
    assert own == {"noise", "discriminator_loss", "generator_loss", "grid_images"}
    assert issubclass(template.TemplateGAN, AdversarialModule)
    assert len(inspect.getsource(template).splitlines()) < 80
