"""``speechcommands:DIR``: a folder of wav files laid out like Google Speech Commands (Warden 2018), read into the
same 12 classes and MFCC front end as ``kws-synth``.

Layout: ``DIR/<word>/<speaker>_nohash_<n>.wav`` (16-bit mono; other rates are resampled to 16 kHz, clips padded
or cut to 1 s), optional ``DIR/_background_noise_/*.wav`` and optional ``validation_list.txt`` /
``testing_list.txt`` (paths relative to DIR, one a line). The ten keywords that have a folder are classes; every
other word folder is "unknown" (subsampled per split to the mean keyword count); "silence" clips are 1 s windows
of the background files at a random volume (digital silence without them). Splits: the lists' files go to select
(validation) and val (testing), the rest to train; without lists, whole speakers are assigned by a hash of their
in a seeded order (20% val, 10% select), so no speaker is in two splits either way.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgeprune.data.record import Data
from edgeprune.data.speech.corpus import SPLITS, Corpus, cache_path, load, save, to_data
from edgeprune.data.speech.features import FeatureSpec, mfcc, resample
from edgeprune.data.speech.synth import KEYWORDS, SILENCE, UNKNOWN
from edgeprune.errors import SpecError
from edgeprune.progress import progress_bar

VERSION = 1
BACKGROUND = "_background_noise_"
LISTS = {"validation_list.txt": 1, "testing_list.txt": 2}  # -> index into SPLITS
SEED = 0


def _read(path: Path, spec: FeatureSpec) -> np.ndarray:
    """One wav as float32 mono at the spec's rate, padded with zeros or cut to one clip."""
    import soundfile

    try:
        wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types for unreadable files
        raise SpecError(f"wav file {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    mono = resample(wave.mean(axis=1), int(rate), spec)
    if not np.isfinite(mono).all():
        raise SpecError(f"wav file {path}: holds NaN or infinity")
    out = np.zeros(spec.clip_samples, dtype=np.float32)
    out[: min(len(mono), spec.clip_samples)] = mono[: spec.clip_samples]
    return out


def _speaker(path: Path) -> str:
    return path.name.split("_nohash_")[0] if "_nohash_" in path.name else path.stem


def speaker_splits(speakers: list[str]) -> dict[str, int]:
    """Without lists: whole speakers in a seeded order, the first 20% (at least one) to val, the next 10% (at least
    one) to select, the rest to train."""
    order = sorted(set(speakers))
    np.random.default_rng(SEED).shuffle(order)
    n_val = max(1, round(0.2 * len(order))) if len(order) >= 3 else 0
    n_select = max(1, round(0.1 * len(order))) if len(order) >= 3 else 0
    return {s: 2 if i < n_val else 1 if i < n_val + n_select else 0 for i, s in enumerate(order)}


def _listed(root: Path) -> dict[str, int]:
    listed: dict[str, int] = {}
    for name, part in LISTS.items():
        path = root / name
        if path.is_file():
            listed.update({line.strip(): part for line in path.read_text().splitlines() if line.strip()})
    return listed


def _files(root: Path) -> tuple[list[str], dict[str, list[Path]], list[Path]]:
    """(keywords present, files per word folder, background files)."""
    if not root.is_dir():
        raise SpecError(f"data spec 'speechcommands:{root}': folder {root} does not exist")
    words = {d.name: sorted(d.glob("*.wav")) for d in sorted(root.iterdir()) if d.is_dir() and d.name != BACKGROUND}
    words = {w: files for w, files in words.items() if files}
    keywords = [k for k in KEYWORDS if k in words]
    if not keywords:
        raise SpecError(
            f"data spec 'speechcommands:{root}': no keyword folder with .wav files ({', '.join(KEYWORDS)});"
            f" found {sorted(words) or 'none'}"
        )
    background = sorted((root / BACKGROUND).glob("*.wav")) if (root / BACKGROUND).is_dir() else []
    return keywords, words, background


def _silence(background: list[Path], count: int, rng: np.random.Generator, spec: FeatureSpec) -> np.ndarray:
    if not background or count == 0:
        return np.zeros((count, spec.clip_samples), dtype=np.float32)
    import soundfile

    sources = []
    for path in background:
        try:
            wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile's own error types
            raise SpecError(f"wav file {path}: cannot be read ({type(exc).__name__}: {exc})") from None
        sources.append(resample(wave.mean(axis=1), int(rate), spec))
    clips = np.zeros((count, spec.clip_samples), dtype=np.float32)
    for i in range(count):
        src = sources[int(rng.integers(len(sources)))]
        start = int(rng.integers(0, max(len(src) - spec.clip_samples, 0) + 1))
        piece = src[start : start + spec.clip_samples] * rng.uniform(0.0, 1.0)
        clips[i, : len(piece)] = piece
    return clips


def build(root: Path, spec: FeatureSpec) -> Corpus:
    """Read the folder into a corpus (features of every kept clip)."""
    start = time.perf_counter()
    keywords, words, background = _files(root)
    listed = _listed(root)
    classes = (*keywords, UNKNOWN, SILENCE)
    rng = np.random.default_rng(SEED)
    by_speaker = speaker_splits([_speaker(f) for files in words.values() for f in files])
    entries = []  # (path, label, speaker, split)
    for word, files in words.items():
        label = keywords.index(word) if word in keywords else len(keywords)
        for f in files:
            speaker = _speaker(f)
            part = listed.get(f"{word}/{f.name}", 0) if listed else by_speaker[speaker]
            entries.append((f, label, speaker, part))
    kept = []
    for part in range(len(SPLITS)):
        here = [e for e in entries if e[3] == part]
        known = [e for e in here if e[1] < len(keywords)]
        unknown = [e for e in here if e[1] == len(keywords)]
        share = len(known) // len(keywords)
        picks = rng.permutation(len(unknown))[:share] if unknown else []
        kept += known + [unknown[i] for i in sorted(picks)]
    speakers = sorted({e[2] for e in kept})
    feats, labels, who, split = [], [], [], []
    with progress_bar(f"read {root.name} ({len(kept):,} wav files)", total=len(kept)) as bar:
        for begin in range(0, len(kept), 256):
            chunk = kept[begin : begin + 256]
            feats.append(mfcc(np.stack([_read(e[0], spec) for e in chunk]), spec))
            labels += [e[1] for e in chunk]
            who += [speakers.index(e[2]) for e in chunk]
            split += [e[3] for e in chunk]
            bar.advance(len(chunk))
    for part in range(len(SPLITS)):
        count = sum(1 for e in kept if e[3] == part and e[1] < len(keywords)) // len(keywords)
        feats.append(mfcc(_silence(background, count, rng, spec), spec))
        labels += [len(classes) - 1] * count
        who += [len(speakers)] * count
        split += [part] * count
    return Corpus(
        x=np.concatenate(feats),
        y=np.array(labels, dtype=np.int64),
        speaker=np.array(who, dtype=np.int32),
        split=np.array(split, dtype=np.int8),
        classes=classes,
        speakers=(*speakers, BACKGROUND),
        seconds=round(time.perf_counter() - start, 2),
        info=f"speechcommands v{VERSION}: {root}",
    )


def load_folder(arg: str) -> Data:
    """``speechcommands:DIR`` as :class:`Data`; the corpus is cached by the folder's file names, sizes and times."""
    root = Path(arg).expanduser().resolve()
    spec = FeatureSpec()
    _, words, background = _files(root)
    listing = [
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in [*(f for files in words.values() for f in files), *background]
    ]
    lists = [(n, (root / n).read_text()) for n in LISTS if (root / n).is_file()]
    key = [VERSION, str(root), listing, lists, spec.to_dict(), SEED]
    path = cache_path("speechcommands", key)
    corpus = load(path) if path is not None else None
    if corpus is None:
        corpus = build(root, spec)
        if path is not None:
            save(corpus, path)
    return to_data(f"speechcommands:{root.name}", corpus, spec.describe(), key, SEED)
