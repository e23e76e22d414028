"""``kws-synth``: a keyword-spotting corpus spoken by eSpeak NG, built offline, once, and cached by content.

Synthesized speech, not recordings: ten Speech Commands keywords (Warden 2018, arXiv:1804.03209) plus "unknown"
(other words of that corpus) and "silence" (background noise only), 12 classes as MLPerf Tiny's keyword spotting.
Every eSpeak NG voice variant is a speaker; each clip draws an English accent, a speaking rate, a pitch and a pitch
range, is trimmed, scaled, shifted in time by up to 100 ms (Speech Commands' ``time_shift_ms``) and mixed with
background noise (white, pink, brown, or babble of reversed words) at a random SNR. Speakers are split
train / select / val, and variants sharing a name stem (``klatt``, ``klatt2`` ...: one voice with other synthesis
settings) stay in one split, so no voice is heard in two splits. Each clip's draws are seeded by (seed, speaker,
class, index), eSpeak NG's own noise generator (breathy and whispered voices) included; eSpeak NG also carries its
pitch-flutter phase from one utterance to the next (not reset by re-initializing it), so a clip's samples depend
slightly on what was spoken before it: the corpus is built in one fixed order, and a build in a fresh process
reproduces it exactly (then it is cached and read back).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeprune.data.speech import noise
from edgeprune.data.speech.corpus import SPLITS, Corpus, cache_path, load, save
from edgeprune.data.speech.espeak import Speaker, Voice, speaker
from edgeprune.data.speech.features import FeatureSpec, mfcc, place, resample
from edgeprune.errors import SpecError
from edgeprune.progress import progress_bar

VERSION = 3  # bump when the synthesis changes what a recipe produces
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "unknown"
SILENCE = "silence"
# Speech Commands v2's auxiliary words (Warden 2018), spoken as the "unknown" class
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero", "one", "two", "three",
    "four", "five", "six", "seven", "eight", "nine", "backward", "forward", "follow", "learn", "visual",
)  # fmt: skip
# eSpeak NG's English accents (en-Shaw is a spelling system, not an accent)
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
CHUNK = 256  # clips synthesized before their features are computed together


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the corpus (its cache key, with the library versions)."""

    clips_per_class: int = 8  # per speaker and class
    variants: tuple[str, ...] = ()  # speakers (eSpeak NG voice variants); empty: every variant shipped
    keywords: tuple[str, ...] = KEYWORDS
    unknown_words: tuple[str, ...] = UNKNOWN_WORDS
    accents: tuple[str, ...] = ACCENTS
    rate: tuple[int, int] = (110, 240)  # words per minute
    pitch: tuple[int, int] = (20, 80)  # eSpeak NG pitch, 0-100
    pitch_range: tuple[int, int] = (20, 90)
    peak_db: tuple[float, float] = (-20.0, -1.0)  # the word's peak level
    shift_ms: int = 100
    noise_probability: float = 0.8
    snr_db: tuple[float, float] = (0.0, 25.0)
    silence_db: tuple[float, float] = (-55.0, -20.0)  # RMS level of a silence clip's noise
    val_fraction: float = 0.2  # of the speakers
    select_fraction: float = 0.1
    seed: int = 0
    features: FeatureSpec = field(default_factory=FeatureSpec)

    @property
    def classes(self) -> tuple[str, ...]:
        return (*self.keywords, UNKNOWN, SILENCE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stem(variant: str) -> str:
    """A variant's family: its name without trailing digits, lower-cased (``klatt3`` -> ``klatt``, ``iven2`` ->
    ``iven``); eSpeak NG's numbered voices ``m1``-``m8`` and ``f1``-``f5`` are distinct speakers, each its own."""
    base = variant.rstrip("0123456789").lower()
    return base if len(base) > 1 else variant


def split_speakers(variants: list[str], recipe: Recipe) -> dict[str, int]:
    """Each variant's split (index into :data:`SPLITS`): whole families, in a seeded order, go to val until it
    holds ``val_fraction`` of the speakers, then to select until ``select_fraction``, then to train."""
    families: dict[str, list[str]] = {}
    for v in variants:
        families.setdefault(stem(v), []).append(v)
    order = sorted(families)
    np.random.default_rng(recipe.seed).shuffle(order)
    quota = {2: recipe.val_fraction * len(variants), 1: recipe.select_fraction * len(variants)}
    filled = {2: 0, 1: 0}
    where: dict[str, int] = {}
    for fam in order:
        part = next((p for p in (2, 1) if filled[p] < quota[p]), 0)
        if part:
            filled[part] += len(families[fam])
        where.update({m: part for m in families[fam]})
    return where


def _rng(recipe: Recipe, variant: str, label: int, index: int) -> np.random.Generator:
    return np.random.default_rng([recipe.seed, zlib.crc32(variant.encode()), label, index])


def _spoken(sp: Speaker, word: str, variant: str, rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
    """One word in a random accent, rate, pitch and range, at the feature sample rate, silence trimmed."""
    import librosa

    voice = Voice(str(rng.choice(recipe.accents)), variant)
    rate = int(rng.integers(recipe.rate[0], recipe.rate[1] + 1))
    pitch = int(rng.integers(recipe.pitch[0], recipe.pitch[1] + 1))
    spread = int(rng.integers(recipe.pitch_range[0], recipe.pitch_range[1] + 1))
    seed = int(rng.integers(2**31 - 1))
    wave = resample(sp.say(word, voice, rate, pitch, spread, seed), sp.sample_rate, recipe.features)
    trimmed, _ = librosa.effects.trim(wave, top_db=40)
    if len(trimmed) == 0:
        raise SpecError(f"kws-synth: eSpeak NG produced no sound for '{word}' with voice {voice.name}")
    return trimmed


def _background(sp: Speaker, variants: list[str], rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
    """Unit-RMS noise of one clip: coloured noise or babble (reversed words, unintelligible, by ``variants``: the
    speakers of the clip's own split, so no voice is heard in two splits, not even as babble)."""
    length = recipe.features.clip_samples
    kind = str(rng.choice(noise.KINDS))
    if kind != "babble":
        return noise.coloured(length, kind, rng)
    babble = np.zeros(length, dtype=np.float32)
    for _ in range(int(rng.integers(3, 7))):
        word = _spoken(sp, str(rng.choice(recipe.unknown_words)), str(rng.choice(variants)), rng, recipe)[::-1]
        babble += place(word, length, int(rng.integers(-len(word) // 2, length - len(word) // 2)))
    return noise.unit_rms(babble)


def render(sp: Speaker, variant: str, label: int, index: int, variants: list[str], recipe: Recipe) -> np.ndarray:
    """Clip ``index`` of class ``label`` spoken by ``variant``: 1 s of float32 samples (babble by ``variants``)."""
    rng = _rng(recipe, variant, label, index)
    length = recipe.features.clip_samples
    name = recipe.classes[label]
    if name == SILENCE:
        level = 10.0 ** (rng.uniform(*recipe.silence_db) / 20.0)
        return (_background(sp, variants, rng, recipe) * level).astype(np.float32)
    word = name if name != UNKNOWN else str(rng.choice(recipe.unknown_words))
    wave = _spoken(sp, word, variant, rng, recipe)
    wave = wave * (10.0 ** (rng.uniform(*recipe.peak_db) / 20.0) / max(float(np.abs(wave).max()), 1e-6))
    max_shift = recipe.features.sample_rate * recipe.shift_ms // 1000
    offset = (length - len(wave)) // 2 + int(rng.integers(-max_shift, max_shift + 1))
    if len(wave) <= length:
        offset = min(max(offset, 0), length - len(wave))
    clip = place(wave, length, offset)
    if rng.random() < recipe.noise_probability:
        clip = noise.mix(clip, _background(sp, variants, rng, recipe), noise.rms(wave), rng.uniform(*recipe.snr_db))
    return clip


def build(recipe: Recipe) -> Corpus:
    """Synthesize every clip of ``recipe`` and compute its features (a progress bar while it runs)."""
    import librosa

    start = time.perf_counter()
    sp = speaker()
    shipped = sp.variants()
    variants = list(recipe.variants) or shipped
    unknown = sorted(set(variants) - set(shipped))
    if unknown:
        raise SpecError(f"kws-synth: eSpeak NG ships no voice variant(s) {unknown} (it has {len(shipped)})")
    where = split_speakers(variants, recipe)
    pools = {part: sorted(v for v in variants if where[v] == part) for part in range(len(SPLITS))}
    items = [(s, c, i) for s in range(len(variants)) for c in range(len(recipe.classes))
             for i in range(recipe.clips_per_class)]  # fmt: skip
    feats: list[np.ndarray] = []
    with progress_bar(f"synthesize kws-synth ({len(items):,} clips, eSpeak NG)", total=len(items)) as bar:
        for begin in range(0, len(items), CHUNK):
            chunk = items[begin : begin + CHUNK]
            clips = np.stack([render(sp, variants[s], c, i, pools[where[variants[s]]], recipe) for s, c, i in chunk])
            feats.append(mfcc(clips, recipe.features))
            bar.advance(len(chunk))
    speakers = np.array([s for s, _, _ in items], dtype=np.int32)
    return Corpus(
        x=np.concatenate(feats),
        y=np.array([c for _, c, _ in items], dtype=np.int64),
        speaker=speakers,
        split=np.array([where[variants[s]] for s in speakers], dtype=np.int8),
        classes=recipe.classes,
        speakers=tuple(variants),
        seconds=round(time.perf_counter() - start, 2),
        info=f"kws-synth v{VERSION}: eSpeak NG {sp.version}, librosa {librosa.__version__}, seed {recipe.seed}",
    )


def cache_key(recipe: Recipe) -> list[Any]:
    """What decides the corpus: the recipe, the voices shipped and the versions of eSpeak NG and librosa."""
    import librosa

    sp = speaker()
    return [VERSION, recipe.to_dict(), list(recipe.variants) or sp.variants(), sp.version, librosa.__version__]


def load_or_build(recipe: Recipe, log: bool = True) -> tuple[Corpus, list[Any], str]:
    """The cached corpus of ``recipe``, or a new one (then cached); also its key and where it came from."""
    key = cache_key(recipe)
    path = cache_path("kws-synth", key)
    corpus = load(path) if path is not None else None
    if corpus is not None:
        return corpus, key, "cache"
    if log:
        print("[edgeprune] building kws-synth once (synthesized speech, eSpeak NG); later runs read the cache",
              flush=True)  # fmt: skip
    corpus = build(recipe)
    if path is not None:
        save(corpus, path)
    if log:
        counts = ", ".join(f"{s} {corpus.counts()[s]:,}" for s in SPLITS)
        print(
            f"[edgeprune] kws-synth built in {corpus.seconds:.0f} s ({counts} clips; {len(corpus.speakers)} voices)"
            + (f", cached: {path}" if path is not None else ""),
            flush=True,
        )
    return corpus, key, "built"
