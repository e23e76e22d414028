"""The data-spec loaders: ``kws-synth`` and ``speechcommands:DIR`` -> :class:`Data` (MFCC 1 x 49 x 10)."""

from __future__ import annotations

from edgeprune.data.preprocessing import Preprocessing
from edgeprune.data.record import Data
from edgeprune.data.speech.corpus import to_data
from edgeprune.errors import SpecError

NAME = "kws-synth"


def _no_user_preprocessing(name: str, pre: Preprocessing | None) -> None:
    if pre is not None and pre.source == "user":
        raise SpecError(
            f"data '{name}' computes its own features (MFCC) and normalization; preprocessing flags apply to npz:,"
            " imagefolder: and factory data"
        )


def kws_synth(arg: str | None, pre: Preprocessing | None) -> Data:
    """``kws-synth``: the eSpeak NG keyword-spotting corpus (built once, then read from the cache)."""
    from edgeprune.data.speech.synth import Recipe, load_or_build

    if arg:
        raise SpecError(f"data spec '{NAME}:{arg}': {NAME} takes no argument")
    _no_user_preprocessing(NAME, pre)
    recipe = Recipe()
    corpus, key, _ = load_or_build(recipe)
    note = (
        f"{NAME} is speech synthesized by eSpeak NG ({len(corpus.speakers)} voices, split by voice), not recordings:"
        " accuracy on real speech will differ"
    )
    return to_data(NAME, corpus, recipe.features.describe(), key, recipe.seed, (note,))


def speech_commands(arg: str | None, pre: Preprocessing | None) -> Data:
    """``speechcommands:DIR``: wav files laid out like Speech Commands (see :mod:`edgeprune.data.speech.folder`)."""
    from edgeprune.data.speech.folder import load_folder

    if not arg:
        raise SpecError("data spec 'speechcommands:DIR' needs a folder after 'speechcommands:'")
    _no_user_preprocessing("speechcommands", pre)
    return load_folder(arg)
