"""The README's Scripting section, run as written, top to bottom, on a fresh database:
every command in it must work for a new user who types it."""
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

README = Path(__file__).resolve().parent.parent / "README.md"


def scripting_commands() -> list[str]:
    """The shell lines of the first ```sh block under "## Scripting", continuations joined
    and comment lines dropped."""
    text = README.read_text()
    section = text[text.index("## Scripting\n"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines, pending = [], ""
    for raw in block.splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        lines.append(pending)
        pending = ""
    return lines


def test_the_readme_has_a_scripting_walkthrough():
    commands = scripting_commands()
    assert len(commands) > 40 and all("[" not in shlex.split(c, comments=True)[-1] for c in commands)


def run_line(line: str, cwd: Path, monkeypatch) -> str:
    """A `python manage.py …` line in process (the test database), fed by the shell
    command piped into it if any; any other line in a shell."""
    shell_part, piped, manage = line.rpartition("| python manage.py ")
    if not piped:
        shell_part, manage = "", line.removeprefix("python manage.py ") if line.startswith("python ") else ""
    if not manage:
        subprocess.run(["bash", "-ec", line], cwd=cwd, check=True, capture_output=True, timeout=120)
        return ""
    stdin = ""
    if shell_part:
        stdin = subprocess.run(["bash", "-ec", shell_part], cwd=cwd, check=True, capture_output=True,
                               text=True, timeout=60).stdout
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    call_command(*shlex.split(manage, comments=True), stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # a fresh database: ids from 1
def test_the_scripting_section_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for line in scripting_commands():
        try:
            run_line(line, tmp_path, monkeypatch)
        except Exception as exc:
            detail = getattr(exc, "stderr", "") or ""
            pytest.fail(f"README line failed:\n  {line}\n{type(exc).__name__}: {exc}\n{detail}")
