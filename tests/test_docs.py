"""The docs cannot drift: the "add your own GAN" page is run as written, and every config group
option and every command has its place in the docs pages."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PAGES = REPO_ROOT / "docs" / "pages"
FENCE = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```\n', re.S | re.M)


def code_blocks(page: Path) -> list[tuple[str, str | None, str]]:
    """(language, title, code) of every fenced block of a page, in order."""
    return FENCE.findall(page.read_text())


def test_the_add_your_own_gan_page_runs_as_written(tmp_path):
    """Its files written where their titles say, then its shell lines run in that folder: the
    variant's own tests pass and it trains, logging its extra loss term."""
    blocks = code_blocks(PAGES / "add-your-own-gan.md")
    files = [(title, code) for _, title, code in blocks if title]
    assert [Path(title).name for title, _ in files] == [
        "mode_seeking.py",
        "mode_seeking.yaml",
        "test_mode_seeking.py",
    ]
    for title, code in files:
        (tmp_path / title).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / title).write_text(code)
    commands = [code for language, _, code in blocks if language == "bash"]
    assert len(commands) == 1
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONWARNINGS": "ignore",
    }
    for line in commands[0].strip().splitlines():
        result = subprocess.run(
            line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    with open(tmp_path / "outputs" / "mode_seeking" / "csv" / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("train/mode_seeking_step")]
    assert rows and all(float(row["train/mode_seeking_step"]) > 0 for row in rows)
    assert (tmp_path / "outputs" / "mode_seeking" / "checkpoints" / "last.ckpt").is_file()
    # sample runs the variant as its packaged base class
    assert len(list((tmp_path / "outputs" / "mode_seeking_samples").glob("sample_*.png"))) == 64


GROUPS = [
    "model",
    "model/nets",
    "model/loss",
    "model/training/augment",
    "data",
    "trainer",
    "logger",
    "callbacks",
    "experiment",
    "hparams_search",
    "debug",
    "hydra/launcher",
]


def test_every_config_group_option_is_documented():
    """Each option of each group named in the configuration page (``conf/<group>/<option>``)."""
    page = (PAGES / "configuration.md").read_text()
    missing = []
    for group in GROUPS:
        for option in sorted((REPO_ROOT / "conf" / group).glob("*.yaml")):
            if f"`{option.stem}`" not in page:
                missing.append(f"{group}={option.stem}")
    assert not missing, f"not in docs/pages/configuration.md: {', '.join(missing)}"


def test_every_command_has_its_page():
    pages = {path.name: path.read_text() for path in PAGES.rglob("*.md")}
    for command, page in {
        "python -m gan_lightning.sample": "evaluation.md",
        "python -m gan_lightning.evaluate": "evaluation.md",
        "python -m gan_lightning.translate": "cyclegan.md",
        "hparams_search=optuna": "scaling.md",
        "hydra/launcher=slurm": "scaling.md",
        "make bench": "performance.md",
    }.items():
        assert command in pages[page], f"{command} is not in {page}"


def written_docs() -> list[Path]:
    """The pages, the README and the experiments' reports: every text a user copies from."""
    return [
        *PAGES.rglob("*.md"),
        REPO_ROOT / "README.md",
        *REPO_ROOT.glob("experiments/*/README.md"),
    ]


@pytest.fixture(scope="module")
def reference_page() -> str:
    """The generated config reference page (composing every model takes seconds: made once)."""
    sys.path.insert(0, str(REPO_ROOT / "docs"))
    from config_reference import markdown

    return markdown()


def test_the_config_reference_lists_every_key_with_its_default_and_comment(reference_page):
    """Every leaf key a run composes is a row of the generated reference page, with the comment
    its YAML file gives it; a file's opening comment describes the file, not its first key."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    sys.path.insert(0, str(REPO_ROOT / "docs"))
    from config_reference import file_comments, flatten

    page = reference_page
    assert "| `model.training.r1_every` | `1` | lazy R1: every k-th D update" in page
    assert "| `data.limit` | `null` | train on a fixed subset of this many images" in page
    assert "| `seed` | `42` | seed for torch" in page
    assert "`data._target_`" not in file_comments(REPO_ROOT / "conf" / "data" / "mnist.yaml")
    assert "model.training.optimizer.lr" not in file_comments(
        REPO_ROOT / "conf" / "model" / "training" / "default.yaml"
    )
    with initialize_config_module(version_base="1.3", config_module="gan_lightning.conf"):
        config = compose("train", ["model=dcgan", "data=mnist", "model/loss=hinge"])
    values = OmegaConf.to_container(config, resolve=False)
    for group in ("model", "data", "trainer", "callbacks", "logger"):
        for key, _ in flatten(values[group], group):
            assert f"| `{key}` |" in page, f"{key} is not in the config reference"


def test_every_key_the_docs_set_is_a_key_of_the_config(reference_page):
    """A ``key=value`` written in the docs, the README or a report names a key some run composes
    (or a short name for one): renaming a key without its docs fails here."""
    from gan_lightning.aliases import full_key

    known = set(re.findall(r"\| `([^`]+)` \|", reference_page))
    setting = re.compile(
        r"(?<![\w.+~/$-])((?:model|data|trainer|callbacks|logger|metrics|paths)\.[A-Za-z_][\w.]*)="
    )
    deliberately_wrong = {"model.lrr"}  # the bad-input page's example of a key that does not exist
    unknown, checked = set(), set()
    for text in written_docs():
        for key in setting.findall(text.read_text()):
            checked.add(key)
            full = full_key(key) or key
            if full in known or any(k.startswith(full + ".") for k in known):
                continue
            if key not in deliberately_wrong:
                unknown.add(f"{key} ({text.relative_to(REPO_ROOT)})")
    assert len(checked) > 50, (
        f"only {len(checked)} keys found: has the pattern or the layout changed?"
    )
    assert not unknown, f"keys the docs set that no config has: {', '.join(sorted(unknown))}"


def test_every_config_choice_the_docs_make_is_a_config_file():
    """``experiment=...``, ``model/loss=...`` and the like written in the docs, the README or a
    report name a file under conf/ (short group names expanded): renaming an experiment or an
    option without its docs fails here."""
    from gan_lightning.aliases import SHORT_GROUPS, full_key

    groups = sorted(
        {
            str(p.parent.relative_to(REPO_ROOT / "conf"))
            for p in (REPO_ROOT / "conf").rglob("*/**/*.yaml")
        }
        | set(SHORT_GROUPS),
        key=len,
        reverse=True,
    )
    names = "|".join(re.escape(g) for g in groups)
    choice = re.compile(rf"(?<![\w.+~/$-])({names})=([A-Za-z_]\w*)(?![\w<])")
    not_ours = {
        "hydra/launcher=submitit_local",  # the submitit plugin's own launcher config
        "model=foo",  # the bad-input page's example of an option that does not exist
        "model=mode_seeking",  # the add-your-own-gan page's variant, in the reader's folder
    }
    unknown, checked = set(), set()
    for text in written_docs():
        for group, option in choice.findall(text.read_text()):
            checked.add(f"{group}={option}")
            path = REPO_ROOT / "conf" / (full_key(group) or group) / f"{option}.yaml"
            if option != "null" and not path.exists() and f"{group}={option}" not in not_ours:
                unknown.add(f"{group}={option} ({text.relative_to(REPO_ROOT)})")
    assert len(checked) > 40, f"only {len(checked)} choices found: has the pattern changed?"
    assert not unknown, (
        f"config choices the docs make that conf/ lacks: {', '.join(sorted(unknown))}"
    )


MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)")


def test_the_pages_links_resolve_on_a_forge_without_the_experiments_link():
    """A forge shows docs/pages/*.md and the reports from where they lie and does not follow
    the folder link docs/pages/experiments: every relative link must reach its file without it."""
    broken = []
    pages = [
        Path(folder) / name
        for folder, _dirs, names in os.walk(PAGES)  # os.walk does not enter the folder link
        for name in names
        if name.endswith(".md")
    ]
    for page in [*pages, *REPO_ROOT.glob("experiments/*/README.md")]:
        for target in MARKDOWN_LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            on_disk = Path(os.path.normpath(page.parent / target))
            if on_disk.is_relative_to(PAGES / "experiments") or not on_disk.exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert not broken, "links a forge cannot follow:\n" + "\n".join(broken)


def test_the_site_reaches_experiments_through_the_pages_link():
    sys.path.insert(0, str(REPO_ROOT / "docs"))
    from hooks import site_link

    report = "../../experiments/toolkit/README.md"
    assert site_link(report, "") == "experiments/toolkit/README.md"
    assert site_link("../" + report, "models") == "../experiments/toolkit/README.md"
    assert site_link("toolkit.md", "") == "toolkit.md"
    assert site_link("../toolkit.md", "models") == "../toolkit.md"
    assert site_link("https://example.org/a.md", "") == "https://example.org/a.md"
    # from a report, served at experiments/NAME/ on the site, back to the pages
    assert site_link("../../docs/pages/toolkit.md", "experiments/toolkit") == "../../toolkit.md"
    assert site_link("../mode_collapse/README.md", "experiments/toolkit") == (
        "../mode_collapse/README.md"
    )
    assert site_link("grids/a.jpg", "experiments/toolkit") == "grids/a.jpg"
