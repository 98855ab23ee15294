"""Every config key with its default and its comment, composed from conf/ when the site is built,
so the reference page cannot fall behind the YAML files (docs/hooks.py inserts it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
KEY_LINE = re.compile(r"^(\s*)([\w.-]+):(.*)$")
# (heading, the group whose options get a table each, the subtree that group fills, the root
# options every table of that group is composed with)
SECTIONS = [
    ("Models", "model", "model", []),
    ("Losses", "model/loss", "model.loss", []),
    ("Augmentation of D's images", "model/training/augment", "model.training.augment", []),
    ("Data sets", "data", "data", []),
    ("Trainers", "trainer", "trainer", []),
    ("Loggers", "logger", "logger", []),
    ("Callbacks", "callbacks", "callbacks", []),
]
TOP_LEVEL = ["seed", "ckpt_path", "optimized_metric", "metrics", "paths"]
COMMANDS = ["sample", "evaluate", "translate"]  # conf/<name>.yaml: the keys of each command


def file_comments(path: Path) -> dict[str, str]:
    """Key path -> the comment that explains it: on the key's line, or the comment lines just
    above it at the same indent (not the file's opening comment, which is about the file)."""
    package = ".".join(path.relative_to(CONF).parent.parts)
    lines = path.read_text().splitlines()
    header = lines[0].strip() if lines else ""
    if header.startswith("# @package"):
        package = header.split()[-1].replace("_global_", "")
    comments: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    above_indent = -1
    seen_key = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            indent = len(line) - len(line.lstrip())
            if not above or indent != above_indent:
                above, above_indent = [], indent
            above.append(stripped.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if not match or stripped.startswith("- "):
            above = []
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        path_key = ".".join(filter(None, [package, *(k for _, k in stack)]))
        inline = rest.split(" #", 1)[1].strip() if " #" in rest else ""
        if inline:
            comments[path_key] = inline
        elif above and above_indent == indent and seen_key and "@package" not in above[0]:
            comments[path_key] = " ".join(above)
        above = []
        seen_key = True
    return comments


def flatten(node: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf; a list stays one value."""
    if isinstance(node, dict) and node:
        leaves = [(k, v) for k, v in node.items() if not (isinstance(v, dict) and v)]
        nested = [(k, v) for k, v in node.items() if isinstance(v, dict) and v]
        pairs = []
        for key, value in leaves + nested:  # a node's own values before its sub-nodes'
            pairs += flatten(value, f"{prefix}.{key}")
        return pairs
    return [(prefix, node)]


def shown(value: Any) -> str:
    if isinstance(value, str) and value:
        text = value
    else:
        text = json.dumps(value)
    return f"`{text}`".replace("|", "\\|")


def documented_objects() -> list[str]:
    """What the API reference page renders (its ``::: name`` lines)."""
    api = Path(__file__).resolve().parent / "pages" / "api.md"
    return [line[4:].strip() for line in api.read_text().splitlines() if line.startswith("::: ")]


def target_link(target: str, documented: list[str]) -> str:
    """A class's value linked to its entry in the API reference, when the page renders it."""
    if any(target == name or target.startswith(f"{name}.") for name in documented):
        return f"[`{target}`](api.md#{target})"
    return f"`{target}`"


def table(config: Any, subtree: str, comments: dict[str, str]) -> list[str]:
    values: Any = OmegaConf.to_container(config, resolve=False)
    for key in subtree.split("."):
        if not isinstance(values, dict) or key not in values:
            return ["(no keys)", ""]
        values = values[key]
    lines = ["| key | default | what it is |", "|---|---|---|"]
    documented = documented_objects()
    for key, value in flatten(values, subtree):
        note = comments.get(key, "").replace("|", "\\|")
        default = shown(value)
        if key.endswith("._target_") or key == "_target_":
            default = target_link(value, documented)
        lines.append(f"| `{key}` | {default} | {note} |")
    return lines + [""]


def comments_for(choices: dict[str, str]) -> dict[str, str]:
    """The comments of the root config and of every file the composition chose."""
    comments = file_comments(CONF / "train.yaml")
    for group, option in choices.items():
        path = CONF / group / f"{option}.yaml"
        if option and path.is_file() and not group.startswith("hydra"):
            comments.update(file_comments(path))
            if group == "callbacks":  # default.yaml lists its callbacks, each in its own file
                for other in sorted((CONF / "callbacks").glob("*.yaml")):
                    comments.update(file_comments(other))
    return comments


def markdown() -> str:
    """The reference page's body: one table per option of each group, then the root keys."""
    out: list[str] = []
    with initialize_config_module(version_base="1.3", config_module="gan_lightning.conf"):
        for heading, group, subtree, extra in SECTIONS:
            out += [f"## {heading}", ""]
            for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
                config = compose("train", [*extra, f"{group}={option}"], return_hydra_config=True)
                choices = dict(config.hydra.runtime.choices)
                out += [f"### `{group}={option}`", ""]
                out += table(config, subtree, comments_for(choices))
        config = compose("train", return_hydra_config=True)
        comments = comments_for(dict(config.hydra.runtime.choices))
        out += ["## Root keys", ""]
        rows = table(config, TOP_LEVEL[0], comments)
        for key in TOP_LEVEL[1:]:
            rows += table(config, key, comments)[2:]
        out += [line for line in rows if line]
        out += ["", "## Commands on a checkpoint", ""]
        for name in COMMANDS:
            config = compose(name)
            comments = file_comments(CONF / f"{name}.yaml")
            out += [f"### `python -m gan_lightning.{name}`", ""]
            rows = ["| key | default | what it is |", "|---|---|---|"]
            for key in config:
                if key != "data":  # evaluate's data group: a `data=` option, as in training
                    rows += table(config, str(key), comments)[2:-1]
            out += [*rows, ""]
    return "\n".join(out) + "\n"
