"""Song tags (title, artist, album, ...) read from an input and written to its stems, with mutagen.

A folder of stems named ``vocals.flac`` is hard to use in a music library unless each
file still says which song it came from. Tags are read through mutagen's "easy" key
names, which every supported container maps to its own frames (ID3 for MP3 and WAV,
Vorbis comments for FLAC and Ogg, atoms for M4A). Each stem's title gets the
instrument appended, so "Song" becomes "Song (vocals)".

Tags are a convenience: an input whose tag block mutagen cannot parse just gives none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TAG_KEYS = ("title", "artist", "album", "albumartist", "date", "genre", "tracknumber", "discnumber", "composer", "comment")


def read_tags(path: Path) -> dict[str, list[str]]:
    """The input's common tags by easy key; empty when it has none or mutagen cannot read them."""
    import mutagen
    from mutagen.easyid3 import EasyID3
    from mutagen.id3 import ID3

    try:
        tagged = mutagen.File(path, easy=True)
    except Exception:  # noqa: BLE001 (mutagen raises MutagenError, struct.error, ValueError, ... on damaged tags)
        return {}
    if tagged is None or tagged.tags is None:
        return {}
    found: dict[str, list[str]] = {}
    for key in TAG_KEYS:
        try:
            # WAV and AIFF carry plain ID3 (no easy wrapper): read it through EasyID3's key mapping
            values = EasyID3.Get[key](tagged.tags, key) if isinstance(tagged.tags, ID3) else tagged.tags.get(key)
        except Exception:  # noqa: BLE001 (a missing frame raises KeyError; a format without this key raises others)
            continue
        if values is None:
            continue
        texts = [str(value) for value in (values if isinstance(values, list) else [values]) if str(value).strip()]
        if texts:
            found[key] = texts
    return found


def stem_tags(tags: dict[str, list[str]], instrument: str) -> dict[str, list[str]]:
    """The input's tags for one stem: its title names the instrument."""
    if not tags:
        return {}
    stem = dict(tags)
    stem["title"] = [f"{tags['title'][0]} ({instrument})" if "title" in tags else instrument]
    return stem


def write_tags(path: Path, codec: str, tags: dict[str, list[str]]) -> None:
    """Write ``tags`` into the freshly encoded file ``path`` (whatever its name; the codec decides the container)."""
    if not tags:
        return
    handle = _open(path, codec)
    if handle.tags is None:
        handle.add_tags()
    for key, values in tags.items():
        if codec in ("mp3", "wav"):
            from mutagen.easyid3 import EasyID3

            if key in EasyID3.Set:  # ID3's easy mapping has no "comment"
                EasyID3.Set[key](handle.tags, key, values)
        elif codec != "m4a" or key in type(handle.tags).Set:  # nor has MP4's every key
            handle.tags[key] = values
    handle.save()


def _open(path: Path, codec: str) -> Any:
    """mutagen's class for the container ``codec`` writes; named, because temporary names have no extension."""
    if codec == "mp3":
        from mutagen.mp3 import MP3

        return MP3(path)
    if codec == "wav":
        from mutagen.wave import WAVE

        return WAVE(path)
    if codec == "flac":
        from mutagen.flac import FLAC

        return FLAC(path)
    if codec == "ogg":
        from mutagen.oggvorbis import OggVorbis

        return OggVorbis(path)
    if codec == "m4a":
        from mutagen.easymp4 import EasyMP4

        return EasyMP4(path)
    raise ValueError(f"no tag writer for codec {codec!r}")
