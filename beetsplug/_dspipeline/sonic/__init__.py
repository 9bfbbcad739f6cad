"""Sonic analysis core: decode audio once and compute beat3tower 137-d feature vectors.

Pure functions over files, arrays and plain data; never imports beets. The analysis needs
numpy, scipy (fft, sparse), soxr and PyAV only: librosa, whose results our functions reproduce
(filterbanks, rhythm), is the tests' oracle, not a runtime dependency.
"""

# `decode` (the function) is not re-exported here: it would shadow the `decode` submodule.
from .decode import AnalysisError, DecodedAudio, audio_hash
from .extract import TrackFeatures, analyse_file, analyse_signal
from .layout import EXTRACTOR_NAME, EXTRACTOR_VERSION, FEATURE_NAMES, HARMONY, RHYTHM, TIMBRE

__all__ = [
    "EXTRACTOR_NAME",
    "EXTRACTOR_VERSION",
    "FEATURE_NAMES",
    "HARMONY",
    "RHYTHM",
    "TIMBRE",
    "AnalysisError",
    "DecodedAudio",
    "TrackFeatures",
    "analyse_file",
    "analyse_signal",
    "audio_hash",
]
