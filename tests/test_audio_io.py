"""Audio I/O on real files generated per test: every input format, rate and error path."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from audio_files import with_libsndfile, with_pyav

from spleeter_cli.audio import codec, dsp
from spleeter_cli.errors import AudioProcessingError, OutputError, SplError, ValidationError

RATE = 44100


def music(seconds: float, rate: int = RATE, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Two sines plus band-limited noise: the sines give pitch, the noise makes alignment unambiguous."""
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal((len(t), channels))
    spectrum = np.fft.rfft(noise, axis=0)
    spectrum[np.fft.rfftfreq(len(t), 1 / rate) > 4000] = 0  # survives every lossy codec and 8 kHz
    tones = np.stack([0.3 * np.sin(2 * np.pi * (440 + 560 * (c % 2)) * t) for c in range(channels)], axis=1)
    return (tones + 0.15 * np.fft.irfft(spectrum, len(t), axis=0) / noise.std()).astype(np.float32)


def write_ffmpeg(path: Path, waveform: np.ndarray, rate: int, container: str, encoder: str) -> Path:
    """Encode with PyAV directly, independently of AudioWriter."""
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(encoder, rate=rate, layout="stereo")
        stream.bit_rate = 192000
        for start in range(0, len(waveform), 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(waveform[start : start + 4096].T), format="fltp", layout="stereo")
            frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), start
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def write_sf(path: Path, waveform: np.ndarray, rate: int, subtype: str, fmt: str | None = None) -> Path:
    # libsndfile's Vorbis encoder crashes on single huge writes, so always write in pieces.
    with sf.SoundFile(path, "w", rate, waveform.shape[1], subtype, format=fmt) as file:
        for start in range(0, len(waveform), 1 << 16):
            file.write(waveform[start : start + (1 << 16)])
    return path


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n].ravel(), b[:n].ravel())[0, 1])


def best_lag(reference: np.ndarray, estimate: np.ndarray, search: int = 4096) -> int:
    """Delay of ``estimate`` relative to ``reference`` (left channel, a 1 s window)."""
    window = reference[search : search + RATE, 0]
    scores = np.correlate(estimate[: 2 * search + RATE, 0], window, "valid")
    return int(np.argmax(scores)) - search


def peak_frequency(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[np.argmax(spectrum)])


def assert_input_error(call: Callable[[], object], path: Path, text: str, kind: type[SplError] = AudioProcessingError) -> None:
    with pytest.raises(kind) as caught:
        call()
    assert text in caught.value.message
    assert caught.value.context["path"] == str(path)
    assert caught.value.hint


# --- decoding: formats ------------------------------------------------------------------

LOSSLESS = [
    # name, file suffix, libsndfile format, subtype, tolerance, (container, codec, bit depth, sample format)
    ("wav-u8", "wav", "WAV", "PCM_U8", 1 / 127, ("wav", "pcm_u8", 8, "u8")),
    ("wav-16", "wav", "WAV", "PCM_16", 1 / 32767, ("wav", "pcm_s16le", 16, "s16")),
    ("wav-24", "wav", "WAV", "PCM_24", 2**-22, ("wav", "pcm_s24le", 24, "s32")),
    ("wav-32", "wav", "WAV", "PCM_32", 1e-7, ("wav", "pcm_s32le", 32, "s32")),
    ("wav-float", "wav", "WAV", "FLOAT", 0.0, ("wav", "pcm_f32le", 32, "flt")),
    ("wav-double", "wav", "WAV", "DOUBLE", 1e-7, ("wav", "pcm_f64le", 64, "dbl")),
    ("flac-16", "flac", "FLAC", "PCM_16", 1 / 32767, ("flac", "flac", 16, "s16")),
    ("flac-24", "flac", "FLAC", "PCM_24", 2**-22, ("flac", "flac", 24, "s32")),
    ("aiff-16", "aiff", "AIFF", "PCM_16", 1 / 32767, ("aiff", "pcm_s16be", 16, "s16")),
]


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "tolerance", "expected"), [case[1:] for case in LOSSLESS], ids=[case[0] for case in LOSSLESS]
)
def test_lossless_inputs_decode_exactly(
    tmp_path: Path, suffix: str, fmt: str, subtype: str, tolerance: float, expected: tuple[str, str, int, str]
) -> None:
    source = music(1.5)
    source[:2] = [[-1.0, 0.99]]  # full scale must map to full scale, for every integer width
    path = write_sf(tmp_path / f"in.{suffix}", source, RATE, subtype, fmt)
    info = codec.probe(path)
    assert (info.container, info.codec, info.bit_depth, info.sample_format) == expected
    assert (info.sample_rate, info.channels) == (RATE, 2) and info.duration == pytest.approx(1.5)
    decoded = codec.decode(path)
    assert decoded.shape == source.shape and decoded.dtype == np.float32 and decoded.flags.c_contiguous
    assert np.abs(decoded - source).max() <= tolerance + 1e-7


LOSSY = [
    # name, writer, decoded length tolerance in samples, expected delay range
    ("ogg-vorbis", lambda p, x: write_sf(p.with_suffix(".ogg"), x, RATE, "VORBIS", "OGG"), 0, (0, 0)),
    ("opus", lambda p, x: write_sf(p.with_suffix(".opus"), dsp.resample(x, RATE, 48000), 48000, "OPUS", "OGG"), 1, (0, 0)),
    ("mp3", lambda p, x: write_ffmpeg(p.with_suffix(".mp3"), x, RATE, "mp3", "libmp3lame"), 0, (0, 0)),
    ("m4a-aac", lambda p, x: write_ffmpeg(p.with_suffix(".m4a"), x, RATE, "ipod", "aac"), 1024, (0, 0)),  # AAC end padding stays
    ("wma", lambda p, x: write_ffmpeg(p.with_suffix(".wma"), x, RATE, "asf", "wmav2"), 2048, (-2048, 2048)),  # ASF has ms timestamps
]


@pytest.mark.parametrize(("write", "length_tolerance", "delays"), [case[1:] for case in LOSSY], ids=[case[0] for case in LOSSY])
def test_lossy_inputs_decode_aligned(
    tmp_path: Path, write: Callable[[Path, np.ndarray], Path], length_tolerance: int, delays: tuple[int, int]
) -> None:
    source = music(3.0)
    path = write(tmp_path / "in", source)
    decoded = codec.decode(path)
    assert decoded.shape[1] == 2 and decoded.dtype == np.float32
    assert abs(len(decoded) - len(source)) <= length_tolerance
    assert codec.probe(path).duration == pytest.approx(3.0, abs=0.05)
    delay = best_lag(source, decoded)
    assert delays[0] <= delay <= delays[1]
    aligned = decoded[max(delay, 0) :] if delay >= 0 else np.concatenate([np.zeros((-delay, 2), np.float32), decoded])
    assert correlation(source, aligned) > 0.9


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000, 192000])
def test_any_rate_is_resampled_to_the_target(tmp_path: Path, rate: int) -> None:
    t = np.arange(2 * rate) / rate
    tone = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t)] * 2, axis=1).astype(np.float32)
    path = write_sf(tmp_path / "in.wav", tone, rate, "FLOAT")
    decoded = codec.decode(path)
    assert len(decoded) == 2 * RATE
    assert peak_frequency(decoded[RATE // 2 : RATE // 2 + RATE, 0], RATE) == pytest.approx(1000, abs=1.5)
    assert np.sqrt(np.mean(decoded[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_mono_is_duplicated(tmp_path: Path) -> None:
    mono = music(1.0, channels=1)
    decoded = codec.decode(write_sf(tmp_path / "mono.flac", mono, RATE, "PCM_24"))
    assert decoded.shape == (RATE, 2)
    np.testing.assert_allclose(decoded, np.repeat(mono, 2, axis=1), atol=2**-22)


def test_surround_is_downmixed(tmp_path: Path) -> None:
    six = music(1.0, channels=6)
    decoded = codec.decode(write_sf(tmp_path / "5.1.wav", six, RATE, "FLOAT"))
    fl, fr, fc, lfe, bl, br = six.T
    c = 0.7071
    expected = np.stack([fl + c * fc + c * bl, fr + c * fc + c * br], axis=1) / (1 + 2 * c)
    np.testing.assert_allclose(decoded, expected, atol=1e-6)
    assert correlation(decoded[:, :1], lfe[:, None]) < 0.1


# --- dsp ---------------------------------------------------------------------------------


def test_to_stereo_layouts() -> None:
    stereo = music(0.1)
    assert dsp.to_stereo(stereo) is stereo
    for channels in (3, 4, 5, 6, 7, 8, 10):
        loud = np.ones((16, channels), np.float32)
        mixed = dsp.to_stereo(loud)
        assert mixed.shape == (16, 2) and mixed.dtype == np.float32 and np.abs(mixed).max() <= 1.0 + 1e-6
    ten = np.tile(np.arange(10, dtype=np.float32), (4, 1))
    np.testing.assert_allclose(dsp.to_stereo(ten), [[4.0, 5.0]] * 4)  # unknown layout: even/odd means


def test_stream_resampler_matches_whole_array_and_passes_through() -> None:
    source = music(2.0, rate=48000)
    whole = dsp.resample(source, 48000, RATE)
    stream = dsp.StreamResampler(48000, RATE)
    pieces = [stream.process(source[i : i + 5000]) for i in range(0, len(source), 5000)]
    pieces.append(stream.process(np.zeros((0, 2), np.float32), last=True))
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-6)
    assert len(whole) == 2 * RATE
    assert dsp.StreamResampler(RATE, RATE).process(source) is source


# --- ranges and streaming ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Eight-second files whose excerpts are compared with their whole decodes."""
    directory = tmp_path_factory.mktemp("sources")
    source = music(8.0, seed=1)
    return {
        "wav": write_sf(directory / "in.wav", source, RATE, "PCM_16"),
        "flac-48k": write_sf(directory / "in.flac", dsp.resample(source, RATE, 48000), 48000, "PCM_24"),
        "ogg": write_sf(directory / "in.ogg", source, RATE, "VORBIS", "OGG"),
        "mp3": write_ffmpeg(directory / "in.mp3", source, RATE, "mp3", "libmp3lame"),
        "m4a": write_ffmpeg(directory / "in.m4a", source, RATE, "ipod", "aac"),
    }


@pytest.mark.parametrize("name", ["wav", "flac-48k", "ogg", "mp3", "m4a"])
@pytest.mark.parametrize(("offset", "duration"), [(0.25, 1.5), (3.3, 2.0), (6.1, None), (7.5, 5.0)])
def test_offset_and_duration_are_sample_accurate(sources: dict[str, Path], name: str, offset: float, duration: float | None) -> None:
    whole = codec.decode(sources[name])
    excerpt = codec.decode(sources[name], offset=offset, duration=duration)
    first = round(offset * RATE)
    expected = whole[first:] if duration is None else whole[first : first + round(duration * RATE)]
    assert excerpt.shape == expected.shape
    if name == "m4a":  # FFmpeg's AAC decoder reseeds its noise substitution after a seek
        assert correlation(excerpt, expected) > 0.95
    else:
        np.testing.assert_allclose(excerpt, expected, atol=1e-5)


def test_blocks_equal_whole_decode(sources: dict[str, Path]) -> None:
    with codec.AudioReader(sources["flac-48k"]) as reader:
        assert reader.info.sample_rate == 48000
        blocks = list(reader.blocks(10000))
    assert all(block.shape == (10000, 2) and block.flags.c_contiguous and block.dtype == np.float32 for block in blocks[:-1])
    assert 0 < len(blocks[-1]) <= 10000
    np.testing.assert_array_equal(np.concatenate(blocks), codec.decode(sources["flac-48k"]))


def test_long_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "ten-minutes.wav"
    chunk = music(10.0)
    with sf.SoundFile(path, "w", RATE, 2, "PCM_16") as file:
        for _ in range(60):
            file.write(chunk)
    decoded_bytes = 600 * RATE * 2 * 4
    tracemalloc.start()
    try:
        with codec.AudioReader(path) as reader:
            frames = sum(len(block) for block in reader.blocks(2**16))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames == 600 * RATE
    assert peak < decoded_bytes / 20


# --- decoding errors -----------------------------------------------------------------------


def test_missing_directory_and_empty_inputs(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing.wav", tmp_path / "empty.mp3"
    empty.touch()
    for call in (codec.probe, codec.decode, codec.AudioReader):
        assert_input_error(lambda call=call: call(missing), missing, "no such file")
        assert_input_error(lambda call=call: call(tmp_path), tmp_path, "is a directory")
        assert_input_error(lambda call=call: call(empty), empty, "file is empty")


@pytest.mark.parametrize("size", [2000, 100_000])
def test_random_bytes_are_not_audio(tmp_path: Path, size: int) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    assert_input_error(lambda: codec.probe(path), path, "not a readable audio file")
    with pytest.raises(AudioProcessingError):
        codec.decode(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent-film.mkv"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        output.mux(stream.encode(None))
    for call in (codec.probe, codec.decode):
        assert_input_error(lambda call=call: call(path), path, "no audio stream found")


def cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    damaged = path.with_name(f"cut-{path.name}")
    damaged.write_bytes(data[: int(len(data) * fraction)])
    return damaged


def scramble_middle(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20000] = np.random.default_rng(7).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    damaged = path.with_name(f"scrambled-{path.name}")
    damaged.write_bytes(bytes(data))
    return damaged


def test_truncated_flac(sources: dict[str, Path]) -> None:
    path = cut(sources["flac-48k"], 0.3)
    assert codec.probe(path).duration == pytest.approx(8.0)  # the header still promises everything
    assert_input_error(lambda: codec.decode(path), path, "truncated")


def test_truncated_wav(sources: dict[str, Path]) -> None:
    path = cut(sources["wav"], 0.3)
    assert_input_error(lambda: codec.decode(path), path, "truncated or corrupt (decoded 2.4 s of 8.0 s)")
    assert len(codec.decode(path, duration=1.0)) == RATE  # a range inside the intact part still decodes


# Files whose length the container counts (a header field, an MP3's Xing frame count, an Ogg page
# cut short) and one writer of each, with the cut length's shortfall each must report.
CUTTABLE = {
    "mp3-xing": with_pyav(".mp3", "mp3", "libmp3lame", 44100, bit_rate=128000),
    "mp3-vbr-22k-mono": with_pyav(".mp3", "mp3", "libmp3lame", 22050, 1, vbr_quality=4),
    "vorbis": with_libsndfile(".ogg", "OGG", "VORBIS", 44100),
    "opus": with_pyav(".opus", "opus", "libopus", 48000, bit_rate=64000),
    "aiff": with_libsndfile(".aiff", "AIFF", "PCM_16", 32000),
    "m4a-faststart": with_pyav(".m4a", "ipod", "aac", 44100, bit_rate=128000, options={"movflags": "+faststart"}),
}


@pytest.mark.parametrize("name", CUTTABLE)
def test_cut_files_are_refused(tmp_path: Path, name: str) -> None:
    whole = CUTTABLE[name](tmp_path / name, 10.0)
    for share in (0.1, 0.5, 0.9):
        path = cut(whole, share)
        with pytest.raises(AudioProcessingError) as caught:
            codec.decode(path)
        if name == "m4a-faststart":  # FFmpeg itself fails on the missing samples the moov lists
            assert "corrupt or truncated" in caught.value.message
        elif caught.value.message != "cannot be opened (End of file)":  # or on a cut inside the first pages, before any audio
            assert re.fullmatch(
                r"truncated or corrupt \(decoded \d+\.\d s (of \d+\.\d s|; it ends inside an Ogg page)\)", caught.value.message
            ), caught.value.message


GOOD_MATRIX = {
    # family: (writers over rates and channels); every file at every length must decode whole
    "mp3": [
        with_pyav(".mp3", "mp3", "libmp3lame", rate, channels, **options)
        for rate in (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
        for channels in (1, 2)
        for options in (
            {"bit_rate": 64000},
            {"vbr_quality": 0},
            {"vbr_quality": 4},
            {"bit_rate": 64000, "options": {"write_xing": "0"}},
            {"vbr_quality": 2, "options": {"write_xing": "0"}},
        )
    ],
    "m4a": [
        with_pyav(".m4a", "ipod", "aac", rate, channels, bit_rate=64000, options=options)
        for rate in (8000, 16000, 22050, 44100, 48000)
        for channels in (1, 2)
        for options in ({}, {"movflags": "+faststart"})
    ],
    "ogg": [with_libsndfile(".ogg", "OGG", "VORBIS", rate, channels) for rate in (8000, 22050, 44100, 48000) for channels in (1, 2)]
    + [
        with_pyav(suffix, container, "libopus", 48000, channels, bit_rate=64000)
        for suffix, container in ((".opus", "opus"), (".ogg", "ogg"))
        for channels in (1, 2)
    ],
    "aiff": [
        with_libsndfile(".aiff", "AIFF", subtype, rate, channels)
        for subtype in ("PCM_16", "PCM_24")
        for rate in (8000, 44100, 96000)
        for channels in (1, 2)
    ],
    "wma": [
        with_pyav(".wma", "asf", encoder, rate, channels, bit_rate=64000)
        for encoder in ("wmav1", "wmav2")
        for rate in (8000, 22050, 44100, 48000)
        for channels in (1, 2)
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", GOOD_MATRIX)
def test_complete_files_are_never_called_truncated(tmp_path: Path, family: str) -> None:
    """The truncation check must not refuse a good file: encoder priming and padding, VBR, low rates, tiny files."""
    for index, write in enumerate(GOOD_MATRIX[family]):
        for seconds in (0.03, 0.7, 2.5):
            path = write(tmp_path / f"{family}-{index}-{seconds}", seconds)
            assert abs(len(codec.decode(path)) / RATE - seconds) < 0.25, path


def test_the_bundled_songs_are_not_called_truncated() -> None:
    root = Path(__file__).resolve().parent
    for path in [root.parent / "examples" / "audio_example.mp3", *sorted((root / "data").rglob("*.flac"))]:
        assert len(codec.decode(path)) == pytest.approx(codec.probe(path).duration * RATE, abs=RATE * 0.05), path


@pytest.mark.parametrize("name", ["flac-48k", "mp3"])
def test_corrupt_data_mid_stream(sources: dict[str, Path], name: str) -> None:
    path = scramble_middle(sources[name])
    codec.probe(path)
    assert_input_error(lambda: codec.decode(path), path, "corrupt")


def test_offset_past_the_end_and_invalid_ranges(sources: dict[str, Path]) -> None:
    path = sources["wav"]
    assert_input_error(lambda: codec.decode(path, offset=8.0), path, "past the end: the audio is only 8.0 s long")
    assert_input_error(lambda: codec.AudioReader(path, offset=-1.0), path, "offset", ValidationError)
    assert_input_error(lambda: codec.AudioReader(path, duration=0.0), path, "duration", ValidationError)


# --- encoding ------------------------------------------------------------------------------

ROUND_TRIPS = [
    # codec, bit depth, libsndfile subtype or FFmpeg codec, minimum SNR in dB
    ("wav", 16, "PCM_16", 70.0),
    ("wav", 24, "PCM_24", 110.0),
    ("wav", 32, "FLOAT", 140.0),
    ("flac", 16, "PCM_16", 70.0),
    ("flac", 24, "PCM_24", 110.0),
    ("ogg", 16, "VORBIS", 10.0),
    ("mp3", 16, "mp3float", 10.0),
    ("m4a", 16, "aac", 10.0),
]


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    n = min(len(reference), len(estimate))
    error = np.sum((reference[:n].astype(np.float64) - estimate[:n]) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(np.sum(reference[:n].astype(np.float64) ** 2) / error))


@pytest.mark.parametrize(("name", "bit_depth", "kind", "min_snr"), ROUND_TRIPS, ids=[f"{c[0]}-{c[1]}" for c in ROUND_TRIPS])
def test_encode_round_trips(tmp_path: Path, name: str, bit_depth: int, kind: str, min_snr: float) -> None:
    source = music(2.0)
    path = tmp_path / f".vocals.wav.part-{name}"  # the format follows the codec, never the name
    with codec.AudioWriter(path, RATE, name, bit_depth=bit_depth) as writer:
        for start in range(0, len(source), 7000):  # blocks unrelated to any encoder frame size
            writer.write(source[start : start + 7000])
    if name in ("wav", "flac", "ogg"):
        assert sf.info(str(path)).subtype == kind
    else:
        assert codec.probe(path).codec == kind
    decoded = codec.decode(path)
    assert 0 <= len(decoded) - len(source) <= (1024 if name == "m4a" else 0)  # AAC keeps its end padding
    assert snr(source, decoded) >= min_snr


def test_bitrate_sets_lossy_size(tmp_path: Path) -> None:
    source = music(3.0)
    for name in ("mp3", "m4a", "ogg"):
        sizes = {}
        for bitrate in ("96k", "320k"):
            codec.encode(tmp_path / f"{bitrate}.{name}", source, RATE, name, bitrate)
            sizes[bitrate] = (tmp_path / f"{bitrate}.{name}").stat().st_size
        assert sizes["320k"] > 1.5 * sizes["96k"], name


def test_integer_outputs_clip_and_float_keeps_overs(tmp_path: Path) -> None:
    loud = np.full((1000, 2), 1.5, np.float32)
    loud[:, 1] = -1.5
    codec.encode(tmp_path / "int.wav", loud, RATE, "wav", bit_depth=16)
    codec.encode(tmp_path / "float.wav", loud, RATE, "wav", bit_depth=32)
    np.testing.assert_allclose(codec.decode(tmp_path / "int.wav")[0], [1.0, -1.0], atol=1e-4)
    np.testing.assert_array_equal(codec.decode(tmp_path / "float.wav")[0], [1.5, -1.5])


def test_mono_output(tmp_path: Path) -> None:
    mono = music(0.5, channels=1)
    codec.encode(tmp_path / "mono.flac", mono, RATE, "flac", bit_depth=24)
    assert sf.info(str(tmp_path / "mono.flac")).channels == 1


def test_exception_inside_writer_leaves_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.mp3"
    with pytest.raises(KeyboardInterrupt), codec.AudioWriter(path, RATE, "mp3") as writer:
        writer.write(music(1.0))
        raise KeyboardInterrupt
    assert len(codec.decode(path)) == RATE


def test_writer_validation(tmp_path: Path) -> None:
    path = tmp_path / "out"
    for arguments in (
        {"codec": "aiff"},
        {"codec": "flac", "bit_depth": 32},
        {"bit_depth": 20},
        {"codec": "mp3", "bitrate": "fast"},
        {"codec": "mp3", "bitrate": "1000k"},
    ):
        with pytest.raises(ValidationError):
            codec.AudioWriter(path, RATE, **arguments)
    assert not path.exists()
    assert [codec.parse_bitrate(b) for b in ("128k", "320K", "192000", "96kbps")] == [128000, 320000, 192000, 96000]
    assert codec.check_output_options("mp3", None, 16) == 192000
    for bad in ("", "k", "10k", "-128k", "1e3k"):
        with pytest.raises(ValidationError):
            codec.parse_bitrate(bad)


@pytest.mark.parametrize("name", ["wav", "mp3"])
def test_unwritable_output(tmp_path: Path, name: str) -> None:
    path = tmp_path / "no-such-dir" / f"out.{name}"
    with pytest.raises(OutputError) as caught:
        codec.encode(path, music(0.1), RATE, name)
    assert caught.value.context["path"] == str(path) and caught.value.hint


def test_extensions_and_codecs_are_consistent() -> None:
    from spleeter_cli.inputs import AUDIO_EXTENSIONS

    assert set(codec.SUPPORTED_CODECS) <= AUDIO_EXTENSIONS
    assert {"wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "m4a", "aac", "mp4", "wma", "aif", "aiff"} <= AUDIO_EXTENSIONS
