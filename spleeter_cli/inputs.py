"""Which audio files a batch run covers, from the paths, folders, patterns and lists the user named.

Shells expand unquoted globs themselves, but quoted patterns, ``**``, ``{a,b}``
braces, ``@list.txt`` files and ``-`` (stdin) reach us as text. Expanding them
here makes ``spl batch 'lib/**/*.flac'`` behave the same in every shell and
avoids "argument list too long" on big libraries. Expansion never stops at a
bad input: each problem becomes an error entry that the batch command reports
next to the inputs that were found.

Recursion (folders and ``**``) follows no symlinked folders, so a link such as
``loop -> ..`` cannot make it endless, and skips hidden names, such as macOS
``._song.mp3`` resource forks and our own ``.part-`` temporaries.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from .errors import AudioProcessingError, SplError, ValidationError, path_error

AUDIO_EXTENSIONS = frozenset(
    {
        "wav",
        "wave",
        "flac",
        "mp3",
        "mp2",
        "ogg",
        "oga",
        "opus",
        "m4a",
        "m4b",
        "aac",
        "mp4",
        "wma",
        "aif",
        "aiff",
        "aifc",
        "caf",
        "mka",
        "webm",
        "wv",
        "ac3",
        "au",
    }
)
_EXTENSIONS_HINT = "audio files end in " + ", ".join(f".{extension}" for extension in sorted(AUDIO_EXTENSIONS))


@dataclass(frozen=True)
class InputFile:
    """One file to separate, and the folder it was found under (for --keep-tree).

    ``path`` is absolute but keeps the name the user gave (symlinks are not
    resolved), so messages and output names match what they typed.
    """

    path: Path
    root: Path | None  # the folder given, or a pattern's literal prefix; None for files named directly

    @property
    def relative_parent(self) -> Path:
        """The file's folder below ``root``: the part of the tree --keep-tree reproduces."""
        return self.path.parent.relative_to(self.root) if self.root is not None else Path(".")


def expand_inputs(args: Sequence[str], stdin: TextIO | None = None, cwd: Path | None = None) -> tuple[list[InputFile], list[SplError]]:
    """Every input in the order named, each real file once, plus the problems found on the way."""
    base = (cwd or Path.cwd()).absolute()
    expander = _Expander()
    for arg in args:
        if arg == "-":
            expander.add_lines(stdin or sys.stdin, base)
        elif arg.startswith("@"):
            expander.add_list(base / arg[1:])
        else:
            expander.add(arg, base)
    return expander.inputs, expander.errors


class _Expander:
    """Collects inputs in order, dropping a file already seen under any name (first one wins)."""

    def __init__(self) -> None:
        self.inputs: list[InputFile] = []
        self.errors: list[SplError] = []
        self._seen: set[str] = set()

    def add_list(self, listing: Path) -> None:
        # surrogateescape: list entries name files the way os.listdir does, whatever their bytes
        try:
            text = listing.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            self.errors.append(
                AudioProcessingError(
                    f"cannot read input list: {error.strerror or error}", path=str(listing), hint="check the path after '@'"
                )
            )
            return
        self.add_lines(text.splitlines(), listing.parent)

    def add_lines(self, lines: Iterable[str], base: Path) -> None:
        """Entries of a list or stdin; '@' and '-' inside are plain names, lists do not nest."""
        for line in lines:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                self.add(entry, base)

    def add(self, spec: str, base: Path) -> None:
        """A file, folder or pattern; an existing name is taken literally even if it looks like a pattern.

        A file-system error on the way (a name too long, a symlink loop, no permission) is
        this entry's error, reported with the others; the rest of the batch goes on.
        """
        named = base / spec
        try:
            self._add(spec, named, base)
        except OSError as error:
            self.errors.append(path_error(AudioProcessingError, named, error))

    def _add(self, spec: str, named: Path, base: Path) -> None:
        if not spec:
            self.errors.append(ValidationError("empty input path", hint="name a file, folder or pattern"))
        elif os.path.isdir(named):
            self._search([(named, ())], named, named)
        elif os.path.lexists(named):
            self._keep([str(named)], root=None)  # named directly: the decoder judges its format (and a broken link's cause)
        elif glob.has_magic(spec) or "{" in spec or "}" in spec:
            self._add_pattern(spec, base)
        else:
            try:
                os.stat(named)  # why it is not there; ENAMETOOLONG, or EACCES on a folder above, go to add()
            except FileNotFoundError:
                self.errors.append(AudioProcessingError("no such file", path=str(named), hint="check the path"))
            else:
                self._keep([str(named)], root=None)  # it appeared meanwhile

    def _add_pattern(self, pattern: str, base: Path) -> None:
        if not _balanced(pattern):
            hint = "close every '{' with '}', or match a literal brace with '?'"
            self.errors.append(ValidationError("unbalanced braces in pattern", path=str(base / pattern), hint=hint))
            return
        # split before joining: the base folder's own name may hold '[' or '{'
        alternatives = [_split_at_magic(alternative) for alternative in _expand_braces(pattern)]
        root, _ = _split_at_magic(pattern, braces=True)
        self._search([(base / literal, segments) for literal, segments in alternatives], base / root, base / pattern)

    def _search(self, patterns: list[tuple[Path, tuple[str, ...]]], root: Path, named: Path) -> None:
        """Keep the audio files a folder or pattern matches, each brace alternative in path order.

        Matching nothing is an error, unless an unreadable folder explains it already.
        """
        errors_before = len(self.errors)
        found = [path for literal, segments in patterns for path in self._sorted(self._files(str(literal), segments))]
        if found:
            self._keep(found, root)
        elif len(self.errors) == errors_before:
            self.errors.append(AudioProcessingError("matches no audio files", path=str(named), hint=_EXTENSIONS_HINT))

    def _keep(self, paths: Iterable[str], root: Path | None) -> None:
        for path in paths:
            real = os.path.realpath(path)
            if real not in self._seen:
                self._seen.add(real)
                self.inputs.append(InputFile(Path(path), root))

    @staticmethod
    def _sorted(paths: Iterable[str]) -> list[str]:
        """Folder by folder (``a/x`` before ``a b/x``), case-sensitive, so runs are repeatable."""
        return sorted(paths, key=lambda path: path.split(os.sep))

    def _files(self, directory: str, segments: tuple[str, ...]) -> Iterator[str]:
        """Audio files matching ``segments`` below ``directory``; matched folders are searched whole."""
        for path, is_dir in self._match(directory, segments):
            if is_dir:
                yield from self._walk(path)
            elif _is_audio(path):
                yield path

    def _match(self, directory: str, segments: tuple[str, ...]) -> Iterator[tuple[str, bool]]:
        """Entries below ``directory`` matching glob ``segments``, as (path, is a folder).

        Unlike ``glob.glob``, ``**`` does not descend into symlinked folders, so a
        link loop cannot make it endless; a plain ``*`` does follow them, as the
        pattern's length bounds how deep that goes.
        """
        if not segments:
            if os.path.exists(directory):
                yield directory, os.path.isdir(directory)
            return
        head, rest = segments[0], segments[1:]
        if head == "**" and not rest:
            yield from ((path, False) for path in self._walk(directory))
        elif head == "**":
            yield from self._match(directory, rest)
            for entry in self._scan(directory):
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    yield from self._match(entry.path, segments)
        else:
            for entry in self._scan(directory):
                if not _name_matches(entry.name, head):
                    continue
                if not rest:
                    yield entry.path, _is_dir(entry)
                elif _is_dir(entry):
                    yield from self._match(entry.path, rest)

    def _walk(self, directory: str) -> Iterator[str]:
        """Audio files below ``directory``, not following symlinked folders."""
        for entry in self._scan(directory):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(entry.path)
            elif _is_file(entry) and _is_audio(entry.name):
                yield entry.path

    def _scan(self, directory: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []  # a pattern's literal part that does not exist just matches nothing
        except OSError as error:
            self.errors.append(path_error(AudioProcessingError, directory, error, "cannot read folder"))
            return []


def _is_file(entry: os.DirEntry[str]) -> bool:
    """A file, or a name whose kind cannot be told (a symlink loop): the input's own check then names the cause."""
    try:
        return entry.is_file()
    except OSError:
        return True


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A folder to descend into; a symlink loop is not one (it is reported as an input, see ``_is_file``)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1][1:].lower() in AUDIO_EXTENSIONS


def _name_matches(name: str, segment: str) -> bool:
    """Wildcards skip hidden names, as in the shell; a segment starting with '.' may match them."""
    return (segment.startswith(".") or not name.startswith(".")) and fnmatch.fnmatchcase(name, segment)


def _split_at_magic(pattern: str, braces: bool = False) -> tuple[Path, tuple[str, ...]]:
    """A pattern's leading folders without wildcards (nor braces, if asked), and the segments from there on."""
    parts = Path(pattern).parts
    magic = (index for index, part in enumerate(parts) if glob.has_magic(part) or (braces and ("{" in part or "}" in part)))
    first = next(magic, len(parts))
    return Path(*parts[:first]), parts[first:]


def _balanced(pattern: str) -> bool:
    depth = 0
    for char in pattern:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _expand_braces(pattern: str) -> list[str]:
    """Bash-style ``{a,b}`` alternatives, nested, in order; a group without a comma stays literal, as in bash.

    ``pattern`` must be balanced.
    """
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth, cuts = 0, [start]
    for end in range(start, len(pattern)):
        char = pattern[end]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                break
        elif char == "," and depth == 1:
            cuts.append(end)
    cuts.append(end)
    choices = [pattern[left + 1 : right] for left, right in pairwise(cuts)]
    if len(choices) == 1:
        alternatives = ["{" + choice + "}" for choice in _expand_braces(choices[0])]
    else:
        alternatives = [alternative for choice in choices for alternative in _expand_braces(choice)]
    return [pattern[:start] + alternative + rest for alternative in alternatives for rest in _expand_braces(pattern[end + 1 :])]
