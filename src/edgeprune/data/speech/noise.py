"""Background noise for 1 s clips: coloured noise (white, pink, brown) and babble made of other spoken words.

Coloured noise has a power spectrum falling as 1/f^k (k = 0 white, 1 pink, 2 brown), drawn as white Gaussian
noise whose spectrum is scaled by f^(-k/2); every kind is returned at unit RMS so the caller sets its level.
"""

from __future__ import annotations

import numpy as np

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
KINDS = (*COLOURS, "babble")


def coloured(length: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise of ``length`` samples whose power falls as 1/f^k (``kind`` in :data:`COLOURS`)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0  # keep the DC bin finite; it is removed below
    spectrum *= freqs ** (-COLOURS[kind] / 2.0)
    spectrum[0] = 0.0
    return unit_rms(np.fft.irfft(spectrum, n=length))


def unit_rms(wave: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(wave)))) if len(wave) else 0.0
    return (wave / rms if rms > 0 else wave).astype(np.float32)


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave)))) if len(wave) else 0.0


def mix(clip: np.ndarray, noise: np.ndarray, speech_rms: float, snr_db: float) -> np.ndarray:
    """``clip + noise``, the unit-RMS ``noise`` scaled to ``snr_db`` below ``speech_rms`` (the RMS of the word
    itself, not of the whole clip with its silence)."""
    return (clip + noise * (speech_rms / (10.0 ** (snr_db / 20.0)))).astype(np.float32)
