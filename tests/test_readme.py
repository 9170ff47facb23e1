"""The README's examples run as written: its Python blocks (and those of docs/), and its quick start
on the shipped samples through the console script."""
import re
import shlex
from pathlib import Path

import pytest

from neuralcodec.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_python_blocks_run(page):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks or page != README, "README has no python example"
    for code in blocks:
        exec(compile(code, str(page.name), "exec"), {})


def test_readme_quick_start_runs(tmp_path, monkeypatch, capsys):
    section = README.read_text().split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]
    assert len(commands) >= 5 and all(c[0] == "neuralcodec" for c in commands)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    for argv in commands:
        assert main(argv[1:]) == 0, argv
    assert (tmp_path / "photo.png").stat().st_size > 0 and (tmp_path / "speech.wav").stat().st_size > 0
    assert '"codec": "mref"' in capsys.readouterr().out


def test_readme_shows_the_two_setup_commands_and_stays_short():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert len(text.splitlines()) <= 200
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / link).exists(), link
