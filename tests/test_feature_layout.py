"""The 137 beat3tower feature names, pinned in the order of the layout's specification.

The list below is literal data written from the layout specification (the shared
beat3tower-layout.md, index by index): artifacts are only interchangeable when every name sits at
its index, so an edit that swaps two names must fail here. A second test ties names to what the
extractor computes, so a name that moved together with its value is noticed too.
"""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug._dspipeline.sonic import layout
from beetsplug._dspipeline.sonic.extract import analyse_signal

# fmt: off
SPECIFIED_NAMES = (
    "onset_median", "onset_iqr", "onset_std", "onset_p10", "onset_p90",
    "tempo_peak1_lag", "tempo_peak2_lag", "tempo_peak_ratio", "tempo_acf_lag1",
    "tempo_acf_lag2", "tempo_acf_lag3", "tempo_acf_lag4", "tempo_acf_lag5",
    "beat_interval_cv", "beat_interval_median", "beat_strength_median",
    "beat_strength_iqr", "onset_rate", "rhythm_entropy", "bpm", "tempo_stability",
    "mfcc_median_0", "mfcc_median_1", "mfcc_median_2", "mfcc_median_3", "mfcc_median_4",
    "mfcc_median_5", "mfcc_median_6", "mfcc_median_7", "mfcc_median_8", "mfcc_median_9",
    "mfcc_median_10", "mfcc_median_11", "mfcc_median_12", "mfcc_median_13",
    "mfcc_median_14", "mfcc_median_15", "mfcc_median_16", "mfcc_median_17",
    "mfcc_median_18", "mfcc_median_19", "mfcc_iqr_0", "mfcc_iqr_1", "mfcc_iqr_2",
    "mfcc_iqr_3", "mfcc_iqr_4", "mfcc_iqr_5", "mfcc_iqr_6", "mfcc_iqr_7", "mfcc_iqr_8",
    "mfcc_iqr_9", "mfcc_iqr_10", "mfcc_iqr_11", "mfcc_iqr_12", "mfcc_iqr_13",
    "mfcc_iqr_14", "mfcc_iqr_15", "mfcc_iqr_16", "mfcc_iqr_17", "mfcc_iqr_18",
    "mfcc_iqr_19", "mfcc_delta_median_0", "mfcc_delta_median_1", "mfcc_delta_median_2",
    "mfcc_delta_median_3", "mfcc_delta_median_4", "mfcc_delta_median_5",
    "mfcc_delta_median_6", "mfcc_delta_median_7", "mfcc_delta_median_8",
    "mfcc_delta_median_9", "mfcc_delta_median_10", "mfcc_delta_median_11",
    "mfcc_delta_median_12", "mfcc_delta_median_13", "mfcc_delta_median_14",
    "mfcc_delta_median_15", "mfcc_delta_median_16", "mfcc_delta_median_17",
    "mfcc_delta_median_18", "mfcc_delta_median_19", "spec_contrast_median_0",
    "spec_contrast_median_1", "spec_contrast_median_2", "spec_contrast_median_3",
    "spec_contrast_median_4", "spec_contrast_median_5", "spec_contrast_median_6",
    "spec_contrast_iqr_0", "spec_contrast_iqr_1", "spec_contrast_iqr_2",
    "spec_contrast_iqr_3", "spec_contrast_iqr_4", "spec_contrast_iqr_5",
    "spec_contrast_iqr_6", "spec_rolloff_median", "spec_rolloff_iqr",
    "spec_centroid_median", "spec_centroid_iqr", "spec_bandwidth_median",
    "spec_bandwidth_iqr", "spec_flux_median", "spec_flux_iqr", "zcr_median",
    "chroma_median_0", "chroma_median_1", "chroma_median_2", "chroma_median_3",
    "chroma_median_4", "chroma_median_5", "chroma_median_6", "chroma_median_7",
    "chroma_median_8", "chroma_median_9", "chroma_median_10", "chroma_median_11",
    "chroma_iqr_0", "chroma_iqr_1", "chroma_iqr_2", "chroma_iqr_3", "chroma_iqr_4",
    "chroma_iqr_5", "chroma_iqr_6", "chroma_iqr_7", "chroma_iqr_8", "chroma_iqr_9",
    "chroma_iqr_10", "chroma_iqr_11", "chroma_entropy", "chroma_peak_count",
    "key_strength", "tonnetz_median_0", "tonnetz_median_1", "tonnetz_median_2",
    "tonnetz_median_3", "tonnetz_median_4", "tonnetz_median_5",
)
# fmt: on


def test_all_137_names_in_their_specified_order() -> None:
    assert len(SPECIFIED_NAMES) == 137
    assert layout.FEATURE_NAMES == SPECIFIED_NAMES
    for index, name in enumerate(SPECIFIED_NAMES):
        assert layout.feature_index(name) == index


def test_tower_slices_cover_the_specified_ranges() -> None:
    towers = {name: SPECIFIED_NAMES[s] for name, s in layout.TOWERS.items()}
    assert towers["rhythm"][0] == "onset_median" and towers["rhythm"][-1] == "tempo_stability"
    assert towers["timbre"][0] == "mfcc_median_0" and towers["timbre"][-1] == "zcr_median"
    assert towers["harmony"][0] == "chroma_median_0" and towers["harmony"][-1] == "tonnetz_median_5"
    assert sum(len(t) for t in towers.values()) == 137


def test_spectral_names_hold_their_quantities_on_white_noise() -> None:
    # White noise at 22050 Hz: the spectral centroid is near a quarter of the sample rate, the
    # 85 % rolloff near 0.85 of Nyquist, so each name must hold its own quantity.
    rng = np.random.default_rng(3)
    sr = layout.SAMPLE_RATE
    vec = analyse_signal(0.3 * rng.standard_normal(6 * sr), sr).full
    value = {name: float(vec[layout.feature_index(name)]) for name in layout.FEATURE_NAMES}
    assert value["spec_centroid_median"] == pytest.approx(sr / 4, rel=0.1)
    assert value["spec_rolloff_median"] == pytest.approx(0.85 * sr / 2, rel=0.1)
    assert value["zcr_median"] == pytest.approx(0.5, rel=0.1)  # a sign change every other sample
    for quantity in ("centroid", "rolloff", "bandwidth"):
        assert value[f"spec_{quantity}_iqr"] < 0.1 * value[f"spec_{quantity}_median"]


def test_signal_parameters_are_the_specified_ones() -> None:
    # The layout's "Signal parameters", "Segments" and "Too few beats" sections.
    assert (layout.SAMPLE_RATE, layout.HOP_LENGTH, layout.N_FFT, layout.N_MFCC) == (
        22050,
        512,
        2048,
        20,
    )
    assert layout.MIN_BEATS == 4
    assert (layout.SEGMENT_SECONDS, layout.SEGMENT_MIN_TRACK_SECONDS) == (30.0, 60.0)
    assert layout.GRID_SECONDS == 0.5  # docs/sonic-features.md: 0.5 s windows without beats
    assert layout.PITCH_CLASSES == (
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"
    )  # fmt: skip


def test_unknown_name_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="no_such_feature"):
        layout.feature_index("no_such_feature")
