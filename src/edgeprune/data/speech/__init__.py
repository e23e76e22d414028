"""Keyword spotting data: ``kws-synth`` (speech synthesized offline with eSpeak NG) and ``speechcommands:DIR``
(a folder of wav files laid out like Google Speech Commands), both as MFCC frames through one front end."""

from edgeprune.data.speech.loaders import kws_synth, speech_commands

__all__ = ["kws_synth", "speech_commands"]
