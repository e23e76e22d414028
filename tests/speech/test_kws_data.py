"""kws-synth (eSpeak NG, built for real in seconds) and Speech Commands-style folders: splits by voice, shapes,
caching by content, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.data import load_data
from edgeprune.data.speech import corpus as corpus_io
from edgeprune.data.speech.features import FeatureSpec, mfcc, place
from edgeprune.data.speech.synth import KEYWORDS, Recipe, build, load_or_build, split_speakers, stem
from edgeprune.errors import SpecError

# six speakers of five families (klatt and klatt2 are one family), a clip per class each: about 2 s to build
VOICES = ("m1", "f2", "klatt", "klatt2", "croak", "Andy")
SMALL = Recipe(clips_per_class=1, variants=VOICES)


@pytest.fixture(scope="module")
def small():
    return build(SMALL)


def test_splits_never_share_a_voice_or_a_family(small):
    parts = {name: small.speakers_of(name) for name in corpus_io.SPLITS}
    assert all(parts.values()), parts  # every split has speakers
    assert parts["train"].isdisjoint(parts["select"])
    assert parts["train"].isdisjoint(parts["val"])
    assert parts["select"].isdisjoint(parts["val"])
    families = {name: {stem(v) for v in voices} for name, voices in parts.items()}
    assert families["train"].isdisjoint(families["val"]) and families["select"].isdisjoint(families["val"])
    assert all(("klatt" in voices) == ("klatt2" in voices) for voices in parts.values())
    assert (stem("klatt3"), stem("iven2"), stem("m4"), stem("f2")) == ("klatt", "iven", "m4", "f2")


def test_features_are_49_by_10_for_every_clip_of_every_class(small):
    assert small.x.shape == (len(VOICES) * 12, 49, 10)
    assert small.x.dtype == np.float32 and np.isfinite(small.x).all()
    assert small.classes == (*KEYWORDS, "unknown", "silence")
    assert np.bincount(small.y, minlength=12).tolist() == [len(VOICES)] * 12
    # words are not silence: the loudest frame (MFCC c0, log energy) of a word clip is louder than a silence clip's
    peak = small.x[:, :, 0].max(axis=1)
    assert np.median(peak[small.y < 11]) > np.median(peak[small.y == 11]) + 40


def test_each_clip_is_seeded_by_itself_not_by_the_build_order():
    """Word, accent, rate, pitch, shift and noise are drawn per clip; only eSpeak NG's pitch flutter carries over
    between utterances, so the same clip built in another order differs by a small fraction of what separates
    two clips of one speaker."""
    one = build(Recipe(clips_per_class=1, variants=("m1", "f2", "croak")))
    other = build(Recipe(clips_per_class=1, variants=("croak", "m1", "f2")))
    for voice in ("m1", "f2", "croak"):
        a = one.x[one.speaker == one.speakers.index(voice)]
        b = other.x[other.speaker == other.speakers.index(voice)]
        same = np.abs(a - b).mean()
        apart = np.abs(a - np.roll(b, 1, axis=0)).mean()
        assert same < 0.1 * apart, (voice, same, apart)


def test_whole_catalogue_splits_by_family_in_the_stated_shares():
    from edgeprune.data.speech.espeak import speaker

    variants = speaker().variants()
    assert len(variants) >= 100  # espeakng-loader 0.2.4 ships 104 voice variants
    where = split_speakers(variants, Recipe())
    counts = np.bincount(list(where.values()), minlength=3) / len(variants)
    assert 0.6 <= counts[0] <= 0.75 and 0.09 <= counts[1] <= 0.15 and 0.19 <= counts[2] <= 0.26
    for fam in {stem(v) for v in variants}:
        assert len({where[v] for v in variants if stem(v) == fam}) == 1, fam


def test_cached_by_content_and_read_back_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path))
    first, key, how = load_or_build(SMALL, log=False)
    assert how == "built" and list((tmp_path / "data").glob("kws-synth-*.npz"))
    again, key2, how2 = load_or_build(SMALL, log=False)
    assert how2 == "cache" and key2 == key
    np.testing.assert_array_equal(again.x, first.x)
    assert again.speakers == first.speakers and again.classes == first.classes
    _, _, how3 = load_or_build(Recipe(clips_per_class=1, variants=VOICES, seed=1), log=False)
    assert how3 == "built"  # another recipe, another entry


def test_to_data_normalizes_with_train_statistics_and_declares_the_front_end(small):
    data = corpus_io.to_data("kws-synth", small, FeatureSpec().describe(), ["k"])
    assert data.input_shape == (1, 49, 10) and data.num_classes == 12
    assert data.split.how == "speakers" and data.split.train + data.split.select + data.split.val == len(small.y)
    x = data.train.x[data.train.index]
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1.0) < 1e-2
    assert "MFCC 49x10" in data.preprocessing.describe()
    assert data.describe()["preprocessing"]["features"].startswith("MFCC 49x10")


def test_mfcc_shape_and_place_shifts():
    spec = FeatureSpec()
    assert spec.shape == (1, 49, 10)
    out = mfcc(np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32))
    assert out.shape == (3, 49, 10)
    with pytest.raises(Exception, match=r"clips must be \(N, 16000\)"):
        mfcc(np.zeros((2, 8000)))
    wave = np.arange(1, 5, dtype=np.float32)
    assert place(wave, 6, 1).tolist() == [0, 1, 2, 3, 4, 0]
    assert place(wave, 6, -2).tolist() == [3, 4, 0, 0, 0, 0]
    assert place(wave, 3, 1).tolist() == [0, 1, 2]


def test_kws_synth_refuses_arguments_and_user_preprocessing():
    from edgeprune.data import Preprocessing

    with pytest.raises(SpecError, match="kws-synth takes no argument"):
        load_data("kws-synth:big")
    with pytest.raises(SpecError, match="computes its own features"):
        load_data("kws-synth", Preprocessing(mean=(0.5,), std=(0.2,), source="user"))


def test_unknown_voice_variant_is_named():
    with pytest.raises(SpecError, match=r"no voice variant\(s\) \['nobody'\]"):
        build(Recipe(clips_per_class=1, variants=("m1", "nobody")))


@pytest.mark.slow
def test_a_fresh_process_builds_the_same_corpus_byte_for_byte(tmp_path):
    """Breathy voices draw from eSpeak NG's own noise generator, whose start differs between processes; it is seeded
    per utterance, so two fresh processes (one busy with other imports first) build identical features."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import edgeprune

    env = {**os.environ, "PYTHONPATH": str(Path(edgeprune.__file__).resolve().parents[1])}
    code = (
        "import hashlib, sys\n"
        "if sys.argv[1] == 'busy':\n"
        "    import random, torch; torch.manual_seed(3); random.random()\n"
        "from edgeprune.data.speech.synth import Recipe, build\n"
        "c = build(Recipe(clips_per_class=1, variants=('whisper', 'f3', 'Demonic', 'm1')))\n"
        "print(hashlib.sha256(c.x.tobytes()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
        ).stdout.strip()
        for mode in ("plain", "busy")
    }
    assert len(digests) == 1 and len(next(iter(digests))) == 64
