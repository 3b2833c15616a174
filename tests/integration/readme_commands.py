"""The commands README.md and the docs/ pages show in their ```sh blocks and those `trackscan dev
up` prints, and a shell that runs them one at a time the way a person at a terminal does.

Read from the texts themselves, so a command added to the README or to `dev up`'s output is
run (or has to be listed as not run, with the reason) without anyone editing a list.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# The pages whose ```sh blocks are read, in the order a reader meets them (README links the rest).
PAGES = (README, *(REPO / "docs" / name for name in ("results.md", "cloud.md", "api.md", "model.md")))
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
HEADING = re.compile(r"^#{1,3} (.+)$", re.M)
# dev up prints each command on a line of its own, indented two spaces (trackscan.dev.cli._summary).
HINT = re.compile(r"^  (\S.*)$", re.M)
# What the shell a README reader opens has not got: variables of a dev stack loaded earlier
# (a developer running the tests with .dev.env loaded) or of their own trackscan settings.
_INHERITED = re.compile(r"TRACKSCAN_\w+|\w+_EMULATOR_HOST|GOOGLE_CLOUD_PROJECT|TRITON_GRPC_URL")
# Set by bash itself; carrying them from one command to the next would only confuse it.
_SHELL_OWN = {"_", "SHLVL", "OLDPWD", "PWD"}


@dataclass(frozen=True)
class Block:
    """One ```sh block: the heading it stands under and its commands (continuations joined)."""

    heading: str
    commands: tuple[str, ...]


def readme_blocks(text: str | None = None) -> list[Block]:
    """The pages' ```sh blocks in order (or those of ``text``); blank and comment-only lines are not commands."""
    blocks = []
    for page in [text] if text is not None else [path.read_text() for path in PAGES]:
        for match in SH_BLOCK.finditer(page):
            headings = HEADING.findall(page, 0, match.start())
            joined = re.sub(r"\\\n\s*", "", match.group(1))
            commands = tuple(
                line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
            )
            blocks.append(Block(headings[-1] if headings else "", commands))
    return blocks


def hint_commands(dev_up_stdout: str) -> list[str]:
    """The commands `trackscan dev up` printed, in order."""
    return [line.rstrip() for line in HINT.findall(dev_up_stdout)]


def code(command: str) -> str:
    """The command without its trailing comment (a `#` after a blank, outside quotes)."""
    quote = ""
    for i, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip()
    return command


def make_target(command: str) -> str | None:
    """The target of a `make TARGET` command, else None."""
    words = code(command).split()
    return words[1] if len(words) == 2 and words[0] == "make" else None


def is_synopsis(command: str) -> bool:
    """A usage line of "The CLI" (`trackscan run PATH... [--json]`), not a command to run."""
    return command.startswith("trackscan ")


def runnable(command: str) -> bool:
    """A command the stack tests run (not a `make` target, not a usage line)."""
    return not make_target(command) and not is_synopsis(command)


@dataclass(frozen=True)
class Ran:
    """One command as it ran."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def report(self) -> str:
        """The command and what it printed, for an assertion message."""
        return f"$ {self.command}\nexit {self.returncode}\nstdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}"


class Shell:
    """Runs commands with bash in one folder, carrying exported variables from one to the next.

    Each command runs in its own bash, so it can be timed out and its output told apart, but
    what it exports (`set -a; . ./.dev.env; set +a`) is there for the next, as in one terminal.
    """

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder = folder
        self.env = {name: value for name, value in env.items() if not _INHERITED.fullmatch(name)}
        self._exported = folder.parent / f"{folder.name}.exported"

    def set(self, **variables: str) -> None:
        """Sets variables the way the person's own environment would (TRACKSCAN_HOME, CURL_HOME)."""
        self.env.update(variables)

    def run(self, command: str, timeout_s: float = 120) -> Ran:
        """Runs one command line as written; its exported variables are kept for the next."""
        script = f"{command}\n__rc=$?\nenv -0 > {shlex.quote(str(self._exported))}\nexit $__rc\n"
        self._exported.unlink(missing_ok=True)
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout_s
        )
        if self._exported.is_file():
            pairs = (item.split("=", 1) for item in self._exported.read_text().split("\0") if "=" in item)
            self.env = {name: value for name, value in pairs if name not in _SHELL_OWN}
        return Ran(command, done.returncode, done.stdout, done.stderr)


def python_path() -> str:
    """PYTHONPATH that makes the commands run this checkout's code (as the editable install does)."""
    return os.pathsep.join([str(REPO / "shared"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
