"""Keyword-spotting features: 1 s clips at 16 kHz -> MFCC frames (time x coefficients), computed by librosa.

The default is the DS-CNN front end of "Hello Edge" (Zhang et al. 2017, arXiv:1711.07128) and ARM's
ML-KWS-for-MCU: 40 ms windows every 20 ms (49 frames of a 1 s clip), 40 mel bands between 20 Hz and 4 kHz,
10 cepstral coefficients, so one clip is a 1 x 49 x 10 input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class FeatureSpec:
    """How a clip becomes features (all of it goes into the data's fingerprint and the model's metadata)."""

    sample_rate: int = 16000
    clip_ms: int = 1000
    window_ms: int = 40
    hop_ms: int = 20
    n_mels: int = 40
    n_mfcc: int = 10
    fmin: float = 20.0
    fmax: float = 4000.0
    top_db: float = 80.0  # log-mel floor below each clip's peak (librosa.power_to_db)

    @property
    def clip_samples(self) -> int:
        return self.sample_rate * self.clip_ms // 1000

    @property
    def frames(self) -> int:
        """Frames per clip (no padding: a window must fit inside the clip)."""
        window, hop = self._window(), self._hop()
        return 1 + (self.clip_samples - window) // hop

    @property
    def shape(self) -> tuple[int, int, int]:
        """One sample's input shape, channels first: (1, frames, coefficients)."""
        return (1, self.frames, self.n_mfcc)

    def _window(self) -> int:
        return self.sample_rate * self.window_ms // 1000

    def _hop(self) -> int:
        return self.sample_rate * self.hop_ms // 1000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line: ``MFCC 49x10 (librosa; 16 kHz, 40 ms window, 20 ms hop, 40 mel 20-4000 Hz)``."""
        return (
            f"MFCC {self.frames}x{self.n_mfcc} of {self.clip_ms} ms clips (librosa; {self.sample_rate} Hz,"
            f" {self.window_ms} ms window, {self.hop_ms} ms hop, {self.n_mels} mel {self.fmin:g}-{self.fmax:g} Hz,"
            f" log floor {self.top_db:g} dB)"
        )


def mfcc(clips: np.ndarray, spec: FeatureSpec = FeatureSpec()) -> np.ndarray:
    """``clips`` (N, clip_samples) float -> (N, frames, n_mfcc) float32 MFCCs.

    The mel power spectrogram is computed for the whole batch at once; the dB conversion runs per clip, since
    librosa's ``top_db`` floor is relative to the maximum of the array it is given."""
    import librosa

    clips = np.asarray(clips, dtype=np.float32)
    if clips.ndim != 2 or clips.shape[1] != spec.clip_samples:
        raise EdgepruneError(f"mfcc: clips must be (N, {spec.clip_samples}), got {clips.shape}")
    if len(clips) == 0:
        return np.zeros((0, spec.frames, spec.n_mfcc), dtype=np.float32)
    mel = librosa.feature.melspectrogram(
        y=clips, sr=spec.sample_rate, n_fft=spec._window(), hop_length=spec._hop(), win_length=spec._window(),
        center=False, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax, power=2.0,
    )  # fmt: skip
    log_mel = np.stack([librosa.power_to_db(m, top_db=spec.top_db) for m in mel])
    coeffs = librosa.feature.mfcc(S=log_mel, n_mfcc=spec.n_mfcc)  # (N, n_mfcc, frames)
    return np.ascontiguousarray(coeffs.transpose(0, 2, 1), dtype=np.float32)


def resample(wave: np.ndarray, rate: int, spec: FeatureSpec = FeatureSpec()) -> np.ndarray:
    """``wave`` at ``rate`` Hz -> float32 at the spec's sample rate (librosa / soxr)."""
    import librosa

    if rate == spec.sample_rate:
        return np.asarray(wave, dtype=np.float32)
    return librosa.resample(np.asarray(wave, dtype=np.float32), orig_sr=rate, target_sr=spec.sample_rate)


def place(wave: np.ndarray, length: int, offset: int) -> np.ndarray:
    """``wave`` written into ``length`` zeros starting at ``offset`` (negative: its head is cut; what does not fit
    at the end is cut too): a time shift inside a fixed-length clip."""
    out = np.zeros(length, dtype=np.float32)
    start, end = max(offset, 0), min(offset + len(wave), length)
    if end > start:
        out[start:end] = wave[start - offset : end - offset]
    return out
