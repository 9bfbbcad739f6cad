"""Genre co-occurrence / Jaccard matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beetsplug._dspipeline.genre_sim import build_genre_similarity, load_genre_similarity
from beetsplug._dspipeline.npzio import ArtifactFileError

# Hand-computed example: counts rock 4, jazz 3, funk 2, soul 1 (below min_count 2).
TRACKS = [
    {"rock", "jazz"},
    {"rock"},
    {"rock", "funk"},
    {"rock", "jazz", "funk"},
    {"jazz", "soul"},
    set(),
]


def test_hand_computed_jaccard() -> None:
    sim = build_genre_similarity(TRACKS)
    assert sim.vocab.tolist() == ["rock", "jazz", "funk"]
    assert sim.vocab.dtype.kind == "U"
    expected_cooc = [[4, 2, 2], [2, 3, 1], [2, 1, 2]]
    np.testing.assert_array_equal(sim.cooc, expected_cooc)
    # rock-jazz 2/(4+3-2) = 0.4, rock-funk 2/(4+2-2) = 0.5, jazz-funk 1/(3+2-1) = 0.25
    expected_s = [[1, 0.4, 0.5], [0.4, 1, 0.25], [0.5, 0.25, 1]]
    np.testing.assert_allclose(sim.S, expected_s, rtol=1e-6)
    assert sim.cooc.dtype == np.float32 and sim.S.dtype == np.float32
    assert sim.stats["n_genres_seen"] == 4
    assert sim.stats["n_below_min_count"] == 1
    assert sim.stats["n_tracks_with_genres"] == 5


def test_ties_sorted_by_name_and_cap() -> None:
    sim = build_genre_similarity([{"b", "a"}, {"a", "b"}, {"c"}], min_count=1, max_genres=2)
    assert sim.vocab.tolist() == ["a", "b"]
    assert sim.stats["n_cut_by_max_genres"] == 1


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="min_count"):
        build_genre_similarity(TRACKS, min_count=0)


def test_save_load_roundtrip_without_pickle(tmp_path: Path) -> None:
    sim = build_genre_similarity(TRACKS)
    path = sim.save(tmp_path / "genre_similarity_matrix.npz")
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"genre_vocab", "cooc", "S", "stats"}
        assert archive["stats"].shape == ()
    loaded = load_genre_similarity(path)
    np.testing.assert_array_equal(loaded.S, sim.S)
    assert loaded.vocab.tolist() == sim.vocab.tolist()
    assert loaded.stats == sim.stats


def test_load_refuses_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFileError, match="file not found"):
        load_genre_similarity(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ArtifactFileError, match=r"garbage\.npz: unreadable"):
        load_genre_similarity(garbage)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, genre_vocab=np.array(["a"]), cooc=np.ones((1, 1)), S=np.ones((1, 1)),
             stats=np.array({"a": 1}, dtype=object))  # fmt: skip
    with pytest.raises(ArtifactFileError, match="pickled"):
        load_genre_similarity(pickled)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, genre_vocab=np.array(["a", "b"]), cooc=np.ones((2, 2)), S=np.ones((1, 1)))
    with pytest.raises(ArtifactFileError, match="S has shape"):
        load_genre_similarity(wrong)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sets(st.sampled_from("abcdefgh"), max_size=5), max_size=30),
    st.integers(1, 3),
)
def test_matches_definition(tracks: list[set[str]], min_count: int) -> None:
    sim = build_genre_similarity(tracks, min_count=min_count)
    names = sim.vocab.tolist()
    counts = [sum(name in t for t in tracks) for name in names]
    assert all(c >= min_count for c in counts)
    assert counts == sorted(counts, reverse=True)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            both = sum(a in t and b in t for t in tracks)
            assert sim.cooc[i, j] == both
            expected = 1.0 if i == j else both / (counts[i] + counts[j] - both)
            assert sim.S[i, j] == pytest.approx(expected, rel=1e-6)
