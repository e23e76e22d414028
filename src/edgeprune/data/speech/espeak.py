"""eSpeak NG through ctypes: speak a word with a given voice, rate and pitch into a float waveform.

The ``espeakng-loader`` wheel carries the shared library and its data (voices, dictionaries); this module drives
the library's C API (``speak_lib.h``: ``espeak_Initialize`` in synchronous mode, a synth callback that collects
16-bit samples, ``espeak_SetVoiceByName`` with ``language+variant``, ``espeak_SetParameter`` for rate, pitch and
pitch range). The library keeps global state, so one process-wide :class:`Speaker` exists; calls are serialized.
Breathy and whispered variants draw noise from the library's own random generator, whose start differs between
processes: every utterance first sets it (``espeak_ng_SetRandSeed``) from the caller's seed.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
VARIANTS_DIR = ("voices", "!v")

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """One way of speaking: an eSpeak NG language (an English accent) and a voice variant (the speaker)."""

    language: str  # e.g. "en-us", "en-gb-scotland"
    variant: str  # a file name under espeak-ng-data/voices/!v, e.g. "m3", "klatt2"

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}"


class Speaker:
    """The loaded library; :meth:`say` returns the waveform of one utterance at :attr:`sample_rate` Hz."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise EdgepruneError(
                "kws-synth needs the espeakng-loader package (eSpeak NG); install edgeprune's dependencies"
            ) from None
        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path.parent).encode(), INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise EdgepruneError(f"eSpeak NG could not start with its data at {self.data_path}")
        self.sample_rate = int(rate)
        self.version = lib.espeak_Info(None).decode()
        self._lib = lib
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        folder = self.data_path.joinpath(*VARIANTS_DIR)
        self._variants = sorted(p.name for p in folder.iterdir() if p.is_file())

    def _collect(self, wav: ctypes.Array, count: int, events: int) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: go on synthesizing

    def variants(self) -> list[str]:
        """The voice variants shipped with the data, sorted."""
        return list(self._variants)

    def say(
        self, text: str, voice: Voice, rate: int = 175, pitch: int = 50, pitch_range: int = 50, seed: int = 0
    ) -> np.ndarray:
        """``text`` spoken by ``voice`` at ``rate`` words per minute (80-450), ``pitch`` and ``pitch_range``
        (0-100), the library's noise generator seeded with ``seed``; float32 samples in [-1, 1] at
        :attr:`sample_rate` Hz."""
        if voice.variant not in self._variants:
            raise EdgepruneError(f"eSpeak NG has no voice variant '{voice.variant}' in {self.data_path}")
        with self._lock:
            lib = self._lib
            if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise EdgepruneError(f"eSpeak NG has no voice '{voice.name}'")
            for parameter, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range), (VOLUME, 100)):
                lib.espeak_SetParameter(parameter, int(value), 0)
            lib.espeak_ng_SetRandSeed(int(seed))
            self._chunks = []
            raw = text.encode()
            lib.espeak_Synth(raw, len(raw) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return samples.astype(np.float32) / 32768.0


_SPEAKER: Speaker | None = None


def speaker() -> Speaker:
    """The process-wide :class:`Speaker` (loaded on first use)."""
    global _SPEAKER
    if _SPEAKER is None:
        _SPEAKER = Speaker()
    return _SPEAKER
