"""The template variant, the contract of a variant on one page, trains from its config."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

from gan_lightning.models import template
from gan_lightning.models.adversarial import AdversarialModule


def test_the_template_trains_from_one_command_printing_no_known_noise(tmp_path):
    """Run as a new user would, warnings on: the known third-party noise (noise.py, and the
    pin_memory warning that LoaderOptions avoids) stays out of the output."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    command = [sys.executable, "-m", "gan_lightning", "model=template", "debug=fast_dev_run"]
    result = subprocess.run(
        [*command, f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((run_dir / "samples").glob("*.png"))  # its grid_images were rendered
    output = result.stdout + result.stderr
    for noise in ("isinstance(treespec, LeafSpec)", "litlogger", "no accelerator is found"):
        assert noise not in output


def test_the_template_writes_only_the_contract():
    """The contract's methods (and the critic the toolkit reaches D through) and a constructor:
    nothing of the step is copied."""
    own = {
        name
        for name, member in vars(template.TemplateGAN).items()
        if inspect.isfunction(member) and not name.startswith("__")
    }
    assert own == {"noise", "critic", "discriminator_loss", "generator_loss", "grid_images"}
    assert issubclass(template.TemplateGAN, AdversarialModule)
    assert len(inspect.getsource(template).splitlines()) < 80
