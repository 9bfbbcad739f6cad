"""The beat3tower sonic feature layout: 137 named dimensions in three towers.

This module is the single owner of the layout: names, order, tower slices and the signal
parameters every extractor of this layout must use.
"""

from __future__ import annotations

EXTRACTOR_NAME = "beat3tower"
EXTRACTOR_VERSION = "1.3.0"

SAMPLE_RATE = 22050  # Hz, analysis rate after resampling
HOP_LENGTH = 512  # samples per frame
N_FFT = 2048  # FFT size for spectral features
N_MFCC = 20
MIN_BEATS = 4  # fewer beats → aggregate on the fixed time grid instead
GRID_SECONDS = 0.5  # window length of the fixed time grid
SEGMENT_SECONDS = 30.0
SEGMENT_MIN_TRACK_SECONDS = 60.0  # tracks up to this long copy `full` into the segments

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _indexed(name: str, count: int) -> tuple[str, ...]:
    return tuple(f"{name}_{i}" for i in range(count))


RHYTHM_NAMES: tuple[str, ...] = (
    "onset_median",
    "onset_iqr",
    "onset_std",
    "onset_p10",
    "onset_p90",
    "tempo_peak1_lag",
    "tempo_peak2_lag",
    "tempo_peak_ratio",
    *(f"tempo_acf_lag{lag}" for lag in range(1, 6)),
    "beat_interval_cv",
    "beat_interval_median",
    "beat_strength_median",
    "beat_strength_iqr",
    "onset_rate",
    "rhythm_entropy",
    "bpm",
    "tempo_stability",
)

TIMBRE_NAMES: tuple[str, ...] = (
    *_indexed("mfcc_median", N_MFCC),
    *_indexed("mfcc_iqr", N_MFCC),
    *_indexed("mfcc_delta_median", N_MFCC),
    *_indexed("spec_contrast_median", 7),
    *_indexed("spec_contrast_iqr", 7),
    "spec_rolloff_median",
    "spec_rolloff_iqr",
    "spec_centroid_median",
    "spec_centroid_iqr",
    "spec_bandwidth_median",
    "spec_bandwidth_iqr",
    "spec_flux_median",
    "spec_flux_iqr",
    "zcr_median",
)

HARMONY_NAMES: tuple[str, ...] = (
    *_indexed("chroma_median", 12),
    *_indexed("chroma_iqr", 12),
    "chroma_entropy",
    "chroma_peak_count",
    "key_strength",
    *_indexed("tonnetz_median", 6),
)

FEATURE_NAMES: tuple[str, ...] = RHYTHM_NAMES + TIMBRE_NAMES + HARMONY_NAMES
N_FEATURES = len(FEATURE_NAMES)

RHYTHM = slice(0, len(RHYTHM_NAMES))
TIMBRE = slice(RHYTHM.stop, RHYTHM.stop + len(TIMBRE_NAMES))
HARMONY = slice(TIMBRE.stop, TIMBRE.stop + len(HARMONY_NAMES))
TOWERS: dict[str, slice] = {"rhythm": RHYTHM, "timbre": TIMBRE, "harmony": HARMONY}

# Checked at import so a layout edit that breaks interchangeability fails loudly.
if (N_FEATURES, RHYTHM.stop, TIMBRE.stop, HARMONY.stop) != (137, 21, 104, 137):
    raise AssertionError(f"beat3tower layout broken: {N_FEATURES} dims, towers {TOWERS}")
if len(set(FEATURE_NAMES)) != N_FEATURES:
    raise AssertionError("beat3tower layout has duplicate feature names")


def feature_index(name: str) -> int:
    """Index of the named dimension in the 137-d vector (KeyError naming it if unknown)."""
    try:
        return FEATURE_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown beat3tower feature name: {name!r}") from None
