"""Input expansion for `spl batch` on real trees: folders, globs, braces, @lists, stdin, dedupe, errors."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spleeter_cli.errors import AudioProcessingError, ExitCode, ValidationError
from spleeter_cli.inputs import InputFile, expand_inputs

AUDIO = [
    "rock/a.mp3",
    "rock/B.MP3",
    "rock/live/c.flac",
    "jazz/d.wav",
    "jazz/e.ogg",
    "jazz/my song.m4a",
    "ünïcødé/ø.opus",
    "top.aiff",
]
OTHER = ["rock/cover.jpg", "rock/notes.txt", "rock/._a.mp3", ".hidden/h.wav", "jazz/README"]


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    """A music folder with non-audio files, hidden files, a file symlink and a folder loop."""
    root = tmp_path / "lib"
    names = AUDIO + OTHER
    random.Random(1).shuffle(names)  # creation order must not leak into the result
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    (root / "z-link.mp3").symlink_to(root / "rock" / "a.mp3")
    (root / "rock" / "loop").symlink_to("..", target_is_directory=True)
    (root / "rock" / "live" / "loop").symlink_to("../..", target_is_directory=True)
    return root


def expand(args: list[str], cwd: Path, stdin: str = "") -> tuple[list[InputFile], list]:
    return expand_inputs(args, stdin=io.StringIO(stdin), cwd=cwd)


def names(inputs: list[InputFile], base: Path) -> list[str]:
    return [str(item.path.relative_to(base)) for item in inputs]


def test_folder_recurses_into_audio_files_only_sorted_and_deduped(lib: Path) -> None:
    inputs, errors = expand(["lib"], lib.parent)
    assert errors == []
    assert names(inputs, lib) == [
        "jazz/d.wav",
        "jazz/e.ogg",
        "jazz/my song.m4a",
        "rock/B.MP3",
        "rock/a.mp3",
        "rock/live/c.flac",
        "top.aiff",
        "ünïcødé/ø.opus",
    ]  # z-link.mp3 is rock/a.mp3 again; loops, hidden and non-audio files are left out
    assert all(item.path.is_absolute() and item.root == lib for item in inputs)
    assert [str(item.relative_parent) for item in inputs] == ["jazz", "jazz", "jazz", "rock", "rock", "rock/live", ".", "ünïcødé"]


def test_symlinked_file_named_first_keeps_its_own_name(lib: Path) -> None:
    inputs, _ = expand(["lib/z-link.mp3", "lib/rock"], lib.parent)
    assert names(inputs, lib) == ["z-link.mp3", "rock/B.MP3", "rock/live/c.flac"]
    assert inputs[0].path == lib / "z-link.mp3"  # not resolved to rock/a.mp3


def test_named_files_are_kept_whatever_their_extension(lib: Path) -> None:
    inputs, errors = expand(["lib/rock/notes.txt", str(lib / "jazz" / "README"), "lib/top.aiff"], lib.parent)
    assert errors == []
    assert names(inputs, lib) == ["rock/notes.txt", "jazz/README", "top.aiff"]
    assert all(item.root is None and item.relative_parent == Path(".") for item in inputs)


def test_missing_file_is_an_error_entry_and_expansion_goes_on(lib: Path) -> None:
    inputs, errors = expand(["lib/nope.mp3", "lib/top.aiff"], lib.parent)
    assert names(inputs, lib) == ["top.aiff"]
    [error] = errors
    assert isinstance(error, AudioProcessingError) and error.exit_code == ExitCode.INPUT
    assert error.message == "no such file" and error.context["path"] == str(lib / "nope.mp3") and error.hint


def test_existing_name_with_pattern_characters_is_taken_literally(tmp_path: Path) -> None:
    for name in ("odd [1].wav", "odd 1.wav", "x{a,b}.wav", "xa.wav"):
        (tmp_path / name).touch()
    inputs, errors = expand(["odd [1].wav", "x{a,b}.wav"], tmp_path)
    assert errors == [] and names(inputs, tmp_path) == ["odd [1].wav", "x{a,b}.wav"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("lib/*/*.mp3", ["rock/a.mp3"]),  # matching is case-sensitive, like the shell's
        ("lib/**/*.mp3", ["rock/a.mp3"]),  # z-link.mp3 is the same file, found later
        ("lib/**/*.[mM][pP]3", ["rock/B.MP3", "rock/a.mp3"]),
        ("lib/j?zz/*", ["jazz/d.wav", "jazz/e.ogg", "jazz/my song.m4a"]),
        (
            "lib/*",
            ["jazz/d.wav", "jazz/e.ogg", "jazz/my song.m4a", "rock/B.MP3", "rock/a.mp3", "rock/live/c.flac", "top.aiff", "ünïcødé/ø.opus"],
        ),
        ("lib/jazz/[!d]*", ["jazz/e.ogg", "jazz/my song.m4a"]),
        (
            "lib/**",
            ["jazz/d.wav", "jazz/e.ogg", "jazz/my song.m4a", "rock/B.MP3", "rock/a.mp3", "rock/live/c.flac", "top.aiff", "ünïcødé/ø.opus"],
        ),
        ("lib/*.aiff", ["top.aiff"]),
        ("lib/ü*/*", ["ünïcødé/ø.opus"]),
        ("lib/.hidden/*", [".hidden/h.wav"]),  # hidden only when named
        (str(Path("lib", "rock", "..", "jazz", "*.wav")), ["rock/../jazz/d.wav"]),
    ],
)
def test_globs(lib: Path, pattern: str, expected: list[str]) -> None:
    inputs, errors = expand([pattern], lib.parent)
    assert errors == []
    assert names(inputs, lib) == expected


def test_glob_root_is_its_literal_prefix(lib: Path) -> None:
    inputs, _ = expand(["lib/**/*.flac", "lib/rock/*.mp3", "*/jazz/d.wav"], lib.parent)
    assert [(item.root, str(item.relative_parent)) for item in inputs] == [
        (lib, "rock/live"),
        (lib / "rock", "."),
        (lib.parent, "lib/jazz"),
    ]


def test_absolute_glob(lib: Path, tmp_path: Path) -> None:
    inputs, errors = expand([f"{lib}/jazz/*.wav"], tmp_path / "elsewhere")
    assert errors == [] and inputs == [InputFile(lib / "jazz" / "d.wav", lib / "jazz")]


def test_symlink_loops_do_not_hang_recursion(lib: Path) -> None:
    # glob.glob would follow these two loops until the kernel's 40-link limit, in every combination
    started = time.perf_counter()
    inputs, errors = expand(["lib/**/*.flac", "lib/**/loop/*.aiff", "lib"], lib.parent)
    assert time.perf_counter() - started < 1
    assert errors == []
    assert names(inputs, lib) == [
        "rock/live/c.flac",
        "rock/live/loop/top.aiff",  # a folder named in the pattern is entered even when it is a link
        "jazz/d.wav",
        "jazz/e.ogg",
        "jazz/my song.m4a",
        "rock/B.MP3",
        "rock/a.mp3",
        "ünïcødé/ø.opus",
    ]


def test_a_single_wildcard_follows_a_symlinked_folder(lib: Path) -> None:
    inputs, errors = expand(["lib/rock/loop/*.aiff"], lib.parent)
    assert errors == [] and names(inputs, lib) == ["rock/loop/top.aiff"]


def test_braces_expand_in_order_nested_and_across_folders(tmp_path: Path) -> None:
    for name in ("a/x.wav", "a/y.wav", "b/x.wav", "b/y.wav", "b/z.mp3", "c/w.flac"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    inputs, errors = expand(["{b,a}/{y,x}.wav"], tmp_path)
    assert errors == [] and names(inputs, tmp_path) == ["b/y.wav", "b/x.wav", "a/y.wav", "a/x.wav"]  # bash order
    assert [str(item.relative_parent) for item in inputs] == ["b", "b", "a", "a"]  # root: before the first brace
    inputs, errors = expand(["{c/*,b/{z,q}.*}", "**/*.{mp3,fl{ac,x}}"], tmp_path)
    assert errors == [] and names(inputs, tmp_path) == ["c/w.flac", "b/z.mp3"]
    inputs, errors = expand(["{a}/x.wav", "{a,}/x.wav"], tmp_path)  # no comma: literal, as in bash
    assert names(inputs, tmp_path) == ["a/x.wav"] and len(errors) == 1


def test_brace_alternatives_that_match_nothing_are_fine_if_one_matches(lib: Path) -> None:
    inputs, errors = expand(["lib/**/*.{mp3,wma,flac}", "lib/{rock,classical}"], lib.parent)
    assert errors == [] and names(inputs, lib) == ["rock/a.mp3", "rock/live/c.flac", "rock/B.MP3"]


@pytest.mark.parametrize("pattern", ["lib/{a,b", "lib/a,b}/*.wav", "lib/}{", "{{a}"])
def test_unbalanced_braces_are_a_usage_error(lib: Path, pattern: str) -> None:
    inputs, errors = expand([pattern, "lib/top.aiff"], lib.parent)
    assert names(inputs, lib) == ["top.aiff"]
    [error] = errors
    assert isinstance(error, ValidationError) and error.exit_code == ExitCode.USAGE
    assert "unbalanced" in error.message and error.context["path"] == str(lib.parent / pattern)


@pytest.mark.parametrize("pattern", ["lib/*.flac", "lib/rock/*.jpg", "lib/nowhere/**/*.wav", "lib/**/*.{wma,aac}", "lib/.hidden/*.mp3"])
def test_pattern_or_folder_matching_nothing_is_an_error(lib: Path, pattern: str) -> None:
    inputs, errors = expand([pattern], lib.parent)
    [error] = errors
    assert inputs == [] and isinstance(error, AudioProcessingError)
    assert error.message == "matches no audio files" and ".flac" in error.hint and error.context["path"].endswith(pattern)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _, [error] = expand(["empty"], tmp_path)
    assert error.message == "matches no audio files" and error.context["path"] == str(tmp_path / "empty")


def test_unreadable_folder_is_reported_once_per_argument(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scandir = os.scandir

    def refuse_jazz(path: str) -> Iterator[os.DirEntry[str]]:
        if Path(path).name == "jazz":
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_jazz)  # chmod 0 does not stop root, who runs CI
    inputs, errors = expand(["lib/jazz", "lib"], lib.parent)
    assert [(error.message, error.context["path"]) for error in errors] == [
        ("cannot read folder: permission denied", str(lib / "jazz"))
    ] * 2
    assert "rock/a.mp3" in names(inputs, lib)


def test_list_file_entries_are_relative_to_the_list(lib: Path, tmp_path: Path) -> None:
    listing = lib / "jazz" / "songs.txt"
    listing.write_text("# my picks\n\nd.wav\n  ../rock/*.mp3  \r\n../ünïcødé\n@nested.txt\n-\n" + str(lib / "top.aiff") + "\n")
    inputs, errors = expand(["@lib/jazz/songs.txt"], tmp_path)
    assert names(inputs, lib) == ["jazz/d.wav", "jazz/../rock/a.mp3", "jazz/../ünïcødé/ø.opus", "top.aiff"]
    assert inputs[1].root == lib / "jazz" / ".." / "rock" and inputs[2].relative_parent == Path(".")
    assert [(error.message, error.context["path"]) for error in errors] == [
        ("no such file", str(lib / "jazz" / "@nested.txt")),  # lists do not nest
        ("no such file", str(lib / "jazz" / "-")),
    ]


def test_missing_list_file_is_an_error(tmp_path: Path) -> None:
    inputs, [error] = expand(["@missing.txt"], tmp_path)
    assert inputs == [] and isinstance(error, AudioProcessingError)
    assert error.message.startswith("cannot read input list") and error.context["path"] == str(tmp_path / "missing.txt")


def test_stdin_entries_are_relative_to_cwd(lib: Path) -> None:
    inputs, errors = expand(["-"], lib, stdin="# from find\njazz/d.wav\n\nrock/**/*.flac\n" + str(lib / "top.aiff") + "\n")
    assert errors == [] and names(inputs, lib) == ["jazz/d.wav", "rock/live/c.flac", "top.aiff"]


def test_same_file_through_every_kind_appears_once_at_its_first_position(lib: Path, tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("lib/rock/live/c.flac\nlib/jazz/*.wav\n")
    args = ["lib/jazz/d.wav", "lib/rock", "lib/**/*.flac", "@list.txt", "-", "lib/rock/loop/rock/live/c.flac"]
    inputs, errors = expand(args, tmp_path, stdin="lib/jazz/d.wav\nlib/rock/live/c.flac\nlib/top.aiff\n")
    assert errors == []
    assert names(inputs, lib) == ["jazz/d.wav", "rock/B.MP3", "rock/a.mp3", "rock/live/c.flac", "top.aiff"]
    assert [item.root for item in inputs] == [None, lib / "rock", lib / "rock", lib / "rock", None]


def test_order_follows_the_arguments_and_is_repeatable(lib: Path) -> None:
    first, _ = expand(["lib/jazz", "lib/rock/live/c.flac", "lib/top.aiff", "lib/rock"], lib.parent)
    assert names(first, lib) == ["jazz/d.wav", "jazz/e.ogg", "jazz/my song.m4a", "rock/live/c.flac", "top.aiff", "rock/B.MP3", "rock/a.mp3"]
    assert all(expand(["lib/jazz", "lib/rock/live/c.flac", "lib/top.aiff", "lib/rock"], lib.parent)[0] == first for _ in range(3))


def test_cwd_whose_name_looks_like_a_pattern(tmp_path: Path) -> None:
    base = tmp_path / "music [2020] {live}"
    (base / "cd1").mkdir(parents=True)
    (base / "cd1" / "a.wav").touch()
    inputs, errors = expand(["*/*.wav", "**/*.wav"], base)
    assert errors == [] and names(inputs, base) == ["cd1/a.wav"]


def test_empty_argument_is_a_usage_error(tmp_path: Path) -> None:
    _, [error] = expand([""], tmp_path)
    assert isinstance(error, ValidationError)


def test_five_thousand_files_expand_fast(tmp_path: Path) -> None:
    for album in range(50):
        folder = tmp_path / "big" / f"artist {album % 7}" / f"album {album}"
        folder.mkdir(parents=True)
        for track in range(100):
            (folder / f"{track:02d} track.{'flac' if track % 2 else 'mp3'}").touch()
    started = time.perf_counter()
    inputs, errors = expand(["big", "big/**/*.{mp3,flac}", "@" + str(tmp_path / "none.txt")], tmp_path)
    assert time.perf_counter() - started < 2
    assert len(inputs) == 5000 and len(errors) == 1


def test_module_stays_light() -> None:
    code = "import sys, spleeter_cli.inputs; print(sorted({'numpy', 'av', 'tensorflow'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
