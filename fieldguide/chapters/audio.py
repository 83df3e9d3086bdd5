"""Audio helpers for the speech chapter: Piper synthesis at 16 kHz, Silero VAD on ONNX, noise at a set SNR.

Nothing here downloads anything: the Piper voice and the Silero model come from the model kit
(``python -m fieldguide models install rhasspy/piper-voices snakers4/silero-vad``).
"""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Any, Iterable

import numpy as np

RATE = 16_000  # the sample rate Whisper and Silero VAD expect
VAD_FRAME = 512  # Silero VAD reads 512 samples (32 ms at 16 kHz) at a time
VAD_CONTEXT = 64  # ... plus the last 64 samples of the frame before
PIPER_VOICE_FILE = "en/en_US/joe/medium/en_US-joe-medium.onnx"

# The script of data/audio/script.wav, one sentence per line, with a pause between sentences.
SCRIPT = (
    "Welcome to the audio chapter of the field guide.",
    "A microphone measures the air pressure sixteen thousand times every second.",
    "A speech recognizer turns those numbers back into words.",
)
PAUSE_S = 0.8


def resample(audio: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    """Resample ``audio`` from ``rate`` to ``to`` Hz (polyphase filter), as float32."""
    step = gcd(rate, to)
    from scipy.signal import resample_poly

    return resample_poly(audio, to // step, rate // step).astype(np.float32)


def load_voice(revision: str | None = None) -> Any:
    """The Piper voice en_US-joe-medium from the Hugging Face cache (``rhasspy/piper-voices``)."""
    from huggingface_hub import hf_hub_download
    from piper import PiperVoice

    onnx = hf_hub_download("rhasspy/piper-voices", PIPER_VOICE_FILE, revision=revision)
    return PiperVoice.load(onnx, config_path=onnx + ".json")


def synthesize(voice: Any, text: str, rate: int = RATE, length_scale: float | None = None) -> np.ndarray:
    """Speak ``text`` with a Piper voice; mono float32 at ``rate`` Hz, the same samples on every run.

    Piper adds random noise to its VITS decoder by default; both noise scales are set to 0 here so
    that the output is reproducible (the speech is a little flatter).
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(text, config)])
    return resample(audio, voice.config.sample_rate, rate)


def speak_script(voice: Any, sentences: Iterable[str] = SCRIPT, pause_s: float = PAUSE_S) -> np.ndarray:
    """Each sentence spoken, with ``pause_s`` of silence before, between and after them (16 kHz)."""
    silence = np.zeros(int(pause_s * RATE), dtype=np.float32)
    parts = [silence]
    for sentence in sentences:
        parts += [synthesize(voice, sentence), silence]
    return np.concatenate(parts)


def write_course_clips(folder: Path | str = "data/audio", revision: str | None = None) -> list[Path]:
    """Make the chapter's WAV files (16 kHz mono, 16-bit) in ``folder``; see data/audio/README.md."""
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    voice = load_voice(revision)
    path = folder / "script.wav"
    sf.write(path, speak_script(voice), RATE, subtype="PCM_16")
    (folder / "script.txt").write_text("\n".join(SCRIPT) + "\n", encoding="utf-8")
    return [path]


def speech_probabilities(model_path: Path | str, audio: np.ndarray) -> np.ndarray:
    """Silero VAD's speech probability for each 512-sample frame of 16 kHz ``audio``.

    Runs the ONNX model with onnxruntime: every frame goes in with the 64 samples before it and the
    recurrent state the previous frame left behind, as the silero-vad package does.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    audio = np.pad(audio.astype(np.float32), (0, -len(audio) % VAD_FRAME))
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(VAD_CONTEXT, dtype=np.float32)
    rate = np.array(RATE, dtype=np.int64)
    probabilities = []
    for start in range(0, len(audio), VAD_FRAME):
        frame = np.concatenate([context, audio[start:start + VAD_FRAME]])
        out, state = session.run(None, {"input": frame[None], "state": state, "sr": rate})
        probabilities.append(float(out[0, 0]))
        context = frame[-VAD_CONTEXT:]
    return np.array(probabilities, dtype=np.float32)


def speech_segments(
    probabilities: np.ndarray,
    threshold: float = 0.5,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.1,
    pad_s: float = 0.03,
) -> list[tuple[float, float]]:
    """Turn per-frame speech probabilities into (start, end) times in seconds.

    Speech starts when a frame's probability reaches ``threshold`` and ends after ``min_silence_s``
    below ``threshold - 0.15`` (hysteresis, so one unsure frame does not cut a word in two).
    Segments shorter than ``min_speech_s`` are dropped; the rest are padded by ``pad_s``.
    A simplified form of ``silero_vad.get_speech_timestamps``.
    """
    frame_s = VAD_FRAME / RATE
    low = threshold - 0.15
    segments, start, quiet_from = [], None, None
    for index, p in enumerate(probabilities):
        if p >= threshold:
            start, quiet_from = index if start is None else start, None
        elif start is not None and p < low:
            quiet_from = index if quiet_from is None else quiet_from
            if (index + 1 - quiet_from) * frame_s >= min_silence_s:
                segments.append((start, quiet_from))
                start, quiet_from = None, None
    if start is not None:
        segments.append((start, len(probabilities)))
    duration = len(probabilities) * frame_s
    return [
        (round(max(0.0, a * frame_s - pad_s), 3), round(min(duration, b * frame_s + pad_s), 3))
        for a, b in segments
        if (b - a) * frame_s >= min_speech_s
    ]


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``audio`` plus white Gaussian noise scaled to a signal-to-noise ratio of ``snr_db`` decibels.

    The ratio compares mean powers: SNR = 10 log10(P_speech / P_noise).
    """
    noise = np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(np.mean(audio**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (audio + noise).astype(np.float32)
