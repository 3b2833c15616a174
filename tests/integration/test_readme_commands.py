"""Every command README.md shows in a ```sh block, and every one `trackscan dev up` prints, runs as written.

The commands are read from README.md and from `dev up`'s output (tests/integration/readme_commands.py),
then run with bash, one after another as in one terminal, from a folder laid out like the
repository root (`.venv` and song.ogg in it) against a real dev stack. Only what a reader
substitutes is substituted: song.ogg is a short Ogg Vorbis file put there under that name, and
TRACK_ID is each id an upload printed. For isolation from a developer's own stack, and from
nothing else, `dev up` gets `--free-ports` and the shell gets its own TRACKSCAN_HOME (the dev
state dir and API key), so the README's `.dev.env` and default ports stay the developer's.
Each command must exit 0 and show its promised effect (EFFECTS); a command with no known effect
fails the test until one is added here. `make` targets are too slow or too recursive to run in
a test (MAKE_TARGETS_NOT_RUN says why for each): `make -n` checks that they exist. The usage
lines of "The CLI" are checked against each command's --help.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.integration.readme_commands import (
    REPO,
    Block,
    Ran,
    Shell,
    code,
    hint_commands,
    is_synopsis,
    make_target,
    python_path,
    readme_blocks,
    runnable,
)

DEV_UP = re.compile(r"\bdev up\b")
BLOCKS = readme_blocks()
ALL_COMMANDS = [command for block in BLOCKS for command in block.commands]
MAKE_TARGETS_NOT_RUN = {
    "run": "tags the whole demo corpus (minutes); tests/e2e/test_real_music.py tags real music",
    "test": "runs the whole suite, this test included",
    "check": "lint, types and the unit and infra tests, which this suite runs itself",
    "setup": "builds .venv and the model, which this test already runs on",
    "test-faults": "the fault suite alone, about 20 minutes; `make test` runs the same modules",
    "bench": "the benchmarks, many minutes on a busy machine",
    "music": "downloads Debian packages; the e2e music_dir fixture runs its script",
    "bench-api": "load-tests a dev stack for many minutes; tests/unit/test_in_flight.py checks the refusals",
    "soak": "10,000 tracks through a dev stack, about an hour; `make test` runs the short soak",
}
SYNOPSES = [
    part if part.startswith("trackscan ") else f"trackscan {part}"
    for command in ALL_COMMANDS
    if is_synopsis(command)
    for part in command.split(" / ")
]
STACK_BLOCKS = [block for block in BLOCKS if any(DEV_UP.search(code(c)) for c in block.commands if runnable(c))]
# Blocks of commands for a running stack that do not start one themselves (the outage drill).
ON_STACK_BLOCKS = [block for block in BLOCKS if block not in STACK_BLOCKS and any(map(runnable, block.commands))]
DONE_WITHIN_S = 300  # the drill's upload waits for the sweep: 20 s old, a pass every 15 s, on a busy machine
TRACK_ID = re.compile(r"\bt[0-9a-f]{24}\b")
STATE_DONE = re.compile(r"^state\s+DONE\s*$", re.M)
CHECKOUT_LINKS = (".venv",)  # what the README's commands name relative to the repository root


def test_readme_commands_are_found_where_this_test_looks():
    # Were the blocks renamed or reformatted, the tests below would have nothing to run.
    assert STACK_BLOCKS and SYNOPSES and any(map(make_target, ALL_COMMANDS)), [b.heading for b in BLOCKS]


def test_commands_are_read_as_bash_reads_them():
    text = "## Heading\n\n```sh\n# a comment line\ncurl -H \"A: #1\" \\\n     'x #2' # said\n\nmake run  # why\n```\n"
    (block,) = readme_blocks(text)
    assert block == Block("Heading", ("curl -H \"A: #1\" 'x #2' # said", "make run  # why"))
    assert code(block.commands[0]) == "curl -H \"A: #1\" 'x #2'" and make_target(block.commands[1]) == "run"
    loads = "set -a; . ./.dev.env; set +a"
    assert hint_commands(f"Load them with:\n  {loads}\nnot  this\n") == [loads]


@pytest.mark.unit  # needs only make: the fast loop catches a target added to the README alone
@pytest.mark.parametrize("target", sorted({t for c in ALL_COMMANDS if (t := make_target(c))}))
def test_make_target_the_readme_names_exists(target: str):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    assert target in MAKE_TARGETS_NOT_RUN, f"make {target}: run it here, or say in MAKE_TARGETS_NOT_RUN why not"
    dry = subprocess.run(["make", "-n", "-C", str(REPO), target], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr


@pytest.mark.parametrize("synopsis", SYNOPSES)
def test_cli_synopsis_names_only_options_the_command_has(synopsis: str):
    path = list(itertools.takewhile(lambda word: re.fullmatch(r"[a-z]+", word), synopsis.split()[1:]))
    done = subprocess.run(
        [sys.executable, "-m", "trackscan.cli", *path, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": python_path(), "COLUMNS": "200"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for option in re.findall(r"--[a-z][a-z-]*", synopsis):
        assert re.search(rf"(^|[\s,]){option}\b", done.stdout, re.M), f"{synopsis}: {option} not in {path} --help"
    offered = [set(group.split("|")) for group in re.findall(r"\[([\w|-]+\|[\w|-]+)\]", done.stdout)]
    for choices in re.findall(r"\{([\w,-]+)\}|\b([\w-]+(?:\|[\w-]+)+)\b", synopsis):
        named = set(re.split(r"[,|]", choices[0] or choices[1]))
        assert named in offered, f"{synopsis}: {sorted(named)} are not the choices {path} --help offers"


# ---- the commands run on a dev stack ---------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path, emulator_tools: None, triton_skip_reason: str) -> Path:
    """A folder that stands for the repository root: `.venv` linked in, song.ogg beside it."""
    if triton_skip_reason:
        pytest.skip(triton_skip_reason)
    missing = [tool for tool in ("bash", "curl") if shutil.which(tool) is None]
    if missing or not (REPO / ".venv" / "bin" / "trackscan").is_file():
        pytest.skip(f"the README's commands need {', '.join(missing) or '.venv (make setup)'}")
    folder = tmp_path / "checkout"
    folder.mkdir()
    for name in CHECKOUT_LINKS:
        (folder / name).symlink_to(REPO / name)
    write_audio(folder / "song.ogg", music_like(8.0))
    return folder


@pytest.fixture
def shell(checkout: Path, tmp_path: Path) -> Iterator[Shell]:
    """A reader's terminal in the checkout, with its own dev state dir; leaves no stack behind."""
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    # Shows each answer's HTTP status on a last line and silences the progress meter (stderr);
    # the command line itself stays as written.
    (curl_home / ".curlrc").write_text('silent\nshow-error\nwrite-out = "\\n%{http_code}\\n"\n')
    terminal = Shell(checkout, dict(os.environ))
    terminal.set(TRACKSCAN_HOME=str(tmp_path / "home"), CURL_HOME=str(curl_home), PYTHONPATH=python_path())
    yield terminal
    # Whatever failed, the stack goes (a second `dev down` says none was running).
    subprocess.run(
        [sys.executable, "-m", "trackscan.cli", "dev", "down"],
        cwd=checkout,
        capture_output=True,
        env={**os.environ, "TRACKSCAN_HOME": str(tmp_path / "home"), "PYTHONPATH": python_path()},
        timeout=120,
    )


class Reader:
    """Runs commands as written and checks each one's promised effect (EFFECTS)."""

    def __init__(self, shell: Shell):
        self.shell = shell
        self.track_ids: list[str] = []  # every id an upload printed, in order
        self.done: set[str] = set()  # those `status` has shown DONE
        self.dev_up_stdout = ""

    def step(self, command: str) -> None:
        """Runs the command (once per track id printed so far where it says TRACK_ID)."""
        if "TRACK_ID" in command:
            assert self.track_ids, f"{command}: no upload before it printed a track id"
        for concrete in (
            [command.replace("TRACK_ID", t) for t in self.track_ids] if "TRACK_ID" in command else [command]
        ):
            effect = next((check for pattern, check in EFFECTS if re.search(pattern, code(concrete))), None)
            assert effect is not None, f"{concrete}: add its promised effect to EFFECTS in this test"
            effect(self, concrete)

    def run(self, command: str, timeout_s: float = 120) -> Ran:
        ran = self.shell.run(command, timeout_s)
        assert ran.returncode == 0, ran.report()
        return ran

    def dev_up(self, command: str) -> None:
        # Only the ports change: the defaults may be a developer's running stack.
        ran = self.run(DEV_UP.sub("dev up --free-ports", command, count=1), timeout_s=600)
        assert (self.shell.folder / _env_file(command)).is_file(), ran.report()
        self.dev_up_stdout = ran.stdout

    def load_env(self, command: str) -> None:
        ran = self.run(command)
        for name in ("TRACKSCAN_API_URL", "TRACKSCAN_DEV_API_KEY", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
            assert self.shell.env.get(name), f"{name} not exported\n{ran.report()}"

    def upload(self, command: str) -> None:
        ran = self.run(command)
        found = TRACK_ID.findall(ran.stdout)
        assert found, f"no track id printed\n{ran.report()}"
        self.track_ids.append(found[0])

    def status_until_done(self, command: str) -> None:
        # Run again, as a reader would, until DONE: before the first step the track is not known yet.
        deadline, ran = time.monotonic() + DONE_WITHIN_S, None
        while time.monotonic() < deadline:
            ran = self.shell.run(command)
            if ran.returncode == 0 and STATE_DONE.search(ran.stdout):
                shown = TRACK_ID.findall(ran.stdout)[:1]
                assert shown and shown[0] in self.track_ids, f"not a track an upload printed\n{ran.report()}"
                self.done.add(shown[0])
                return
            time.sleep(3)
        pytest.fail(f"not DONE within {DONE_WITHIN_S} s\n{ran.report() if ran else command}")

    def api(self, command: str) -> tuple[int, dict]:
        ran = self.run(command)
        body, _, status = ran.stdout.rstrip("\n").rpartition("\n")
        assert status.isdigit() and 200 <= int(status) < 300, ran.report()
        return int(status), json.loads(body)

    def api_upload(self, command: str) -> None:
        status, answer = self.api(command)
        assert status in (201, 202) and TRACK_ID.fullmatch(answer.get("track_id", "")), answer
        self.track_ids.append(answer["track_id"])

    def api_listing(self, command: str) -> None:
        _, answer = self.api(command)
        listed = {track["track_id"] for track in answer["tracks"]}
        assert self.done and self.done <= listed, (self.done, listed)

    def drill(self, command: str) -> None:
        ran = self.run(command)
        assert re.match(r"(Stopped|Started) \w+", ran.stdout), ran.report()

    def dev_down(self, command: str) -> None:
        ran = self.run(command)
        assert ran.stdout.startswith("Stopped: "), ran.report()
        assert not (self.shell.folder / _env_file(command)).exists(), "dev down left the env file"


def _env_file(command: str) -> str:
    found = re.search(r"--env-file\s+(\S+)", code(command))
    return found.group(1) if found else ".dev.env"


# The first pattern that matches a command says what it must show.
EFFECTS: list[tuple[str, Callable[[Reader, str], None]]] = [
    (r"\bdev up\b", Reader.dev_up),
    (r"\bdev down\b", Reader.dev_down),
    (r"\bdev (stop|start) ", Reader.drill),
    (r"\bdev upload\b|upload_from_filename", Reader.upload),
    (r"\bstatus --cloud\b", Reader.status_until_done),
    (r"^set -a; \. \S+; set \+a$", Reader.load_env),
    (r"^curl\b.*--data-binary", Reader.api_upload),
    (r"^curl\b.*[?&]state=DONE", Reader.api_listing),
]


def _setup_and_teardown(block: Block) -> tuple[list[str], list[str]]:
    """A stack block's commands up to loading the env file, and its `dev down`."""
    loads = next(i for i, c in enumerate(block.commands) if re.search(r"\. \S*\.dev\.env", c))
    return list(block.commands[: loads + 1]), [c for c in block.commands if " dev down" in code(c)]


@pytest.mark.integration
@pytest.mark.parametrize("block", STACK_BLOCKS, ids=lambda b: b.heading)
def test_readme_stack_commands_run_as_written(shell: Shell, block: Block):
    reader = Reader(shell)
    for command in filter(runnable, block.commands):
        reader.step(command)
    assert reader.done, "no command showed a track DONE"


@pytest.mark.integration
def test_dev_up_hints_run_as_printed(shell: Shell):
    reader = Reader(shell)
    setup, _ = _setup_and_teardown(STACK_BLOCKS[0])
    reader.step(setup[0])
    hints = hint_commands(reader.dev_up_stdout)
    assert any(" dev down" in h for h in hints) and any("upload" in h for h in hints), reader.dev_up_stdout
    for hint in hints:
        reader.step(hint)
    assert reader.done >= set(reader.track_ids), "an upload the hints made did not reach DONE"


@pytest.mark.integration
@pytest.mark.parametrize("block", ON_STACK_BLOCKS, ids=lambda b: b.heading)
def test_readme_commands_for_a_running_stack_run_as_written(shell: Shell, block: Block):
    # "with the stack up and .dev.env loaded": started and stopped as the cloud path block does.
    setup, teardown = _setup_and_teardown(STACK_BLOCKS[0])
    reader = Reader(shell)
    for command in [*setup, *filter(runnable, block.commands), *teardown]:
        reader.step(command)
    assert reader.done, "no command showed a track DONE"
