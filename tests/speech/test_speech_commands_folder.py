"""``speechcommands:DIR``: a folder laid out like Google Speech Commands read into the kws classes and splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprune.data import load_data
from edgeprune.errors import SpecError


def _wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1, seed: int = 0) -> None:
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.stack([tone] * channels, axis=1), rate, subtype="PCM_16")


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "sc"
    speakers = [f"spk{i}" for i in range(6)]
    for w, word in enumerate(("yes", "no", "bird", "tree")):
        for s, spk in enumerate(speakers):
            _wav(root / word / f"{spk}_nohash_0.wav", 0.7 + 0.1 * s, seed=w)
    _wav(root / "yes" / "spk0_nohash_1.wav", 1.3, rate=22050, channels=2, seed=9)  # resampled, mixed, cut to 1 s
    _wav(root / "_background_noise_" / "noise.wav", 3.0, seed=5)
    (root / "validation_list.txt").write_text("yes/spk4_nohash_0.wav\nno/spk4_nohash_0.wav\nbird/spk4_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk5_nohash_0.wav\nno/spk5_nohash_0.wav\ntree/spk5_nohash_0.wav\n")
    return root


def test_folder_reads_keywords_unknown_silence_and_the_lists(folder):
    data = load_data(f"speechcommands:{folder}")
    assert data.input_shape == (1, 49, 10) and data.num_classes == 4  # yes, no, unknown, silence
    # train: yes 5 (spk0-3 + the 22 kHz stereo one), no 4, unknown subsampled to the mean keyword count (4 of 8),
    # silence the same count (4); select/val: one yes, one no, one unknown, one silence each
    assert (data.split.train, data.split.select, data.split.val) == (17, 4, 4)
    assert data.split.how == "speakers"
    _, y = data.val.x[data.val.index], data.val.y[data.val.index]
    assert sorted(y.tolist()) == [0, 1, 2, 3]
    assert "MFCC 49x10" in data.preprocessing.describe()
    again = load_data(f"speechcommands:{folder}")  # from the cache, same arrays
    assert again.fingerprint == data.fingerprint
    assert np.array_equal(again.train.x.numpy(), data.train.x.numpy())


def test_without_lists_whole_speakers_are_split(folder):
    for name in ("validation_list.txt", "testing_list.txt"):
        (folder / name).unlink()
    from edgeprune.data.speech.folder import speaker_splits

    data = load_data(f"speechcommands:{folder}")
    where = speaker_splits([f"spk{i}" for i in range(6)])
    assert sorted(where.values()) == [0, 0, 0, 0, 1, 2]  # 6 speakers: one to val, one to select
    # every clip of a speaker in its speaker's split: val holds that speaker's yes, no and unknown clip + 1 silence
    assert (data.split.select, data.split.val) == (4, 4)


def test_bad_folders_are_one_line_naming_the_culprit(tmp_path, folder):
    with pytest.raises(SpecError, match="needs a folder"):
        load_data("speechcommands:")
    with pytest.raises(SpecError, match=r"folder .*nowhere does not exist"):
        load_data(f"speechcommands:{tmp_path / 'nowhere'}")
    empty = tmp_path / "words"
    _wav(empty / "cat" / "a_nohash_0.wav", 0.5)
    with pytest.raises(SpecError, match=r"no keyword folder with .wav files .*found \['cat'\]"):
        load_data(f"speechcommands:{empty}")
    (folder / "no" / "spk1_nohash_0.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(SpecError, match=r"wav file .*no/spk1_nohash_0.wav: cannot be read"):
        load_data(f"speechcommands:{folder}")
