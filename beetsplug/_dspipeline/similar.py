"""The ``similar:`` query's core: the K tracks nearest to a set of tracks, from a light index.

Only ``item_ids`` and ``dsp_hybrid_embedding`` are read from the artifacts (not the genre
matrices), so a query over 100k tracks stays well under half a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .artifact_format import DATA_FILE, meta_problem
from .npzio import ArtifactFileError, load_npz, read_json_array
from .playlist import ArtifactsInvalid, ArtifactsMissing, nearest_seed

__all__ = ["SimilarityIndex", "load_similarity_index"]

_KEYS = ("item_ids", "dsp_hybrid_embedding", "dsp_meta")


@dataclass(frozen=True)
class SimilarityIndex:
    """Beets item ids and their L2-normalised hybrid embedding rows."""

    path: Path
    item_ids: npt.NDArray[np.int64]
    embedding: npt.NDArray[np.float32]

    def nearest_items(self, seed_item_ids: Iterable[int], k: int) -> list[int]:
        """Item ids of the ``k`` tracks most similar (hybrid cosine, max over the seeds) to
        the seed items, best first; the seeds themselves and ids not in the index left out."""
        seeds = np.flatnonzero(np.isin(self.item_ids, np.fromiter(seed_item_ids, np.int64)))
        if seeds.size == 0 or k < 1:
            return []
        score, _ = nearest_seed(self.embedding, seeds.tolist())
        score[seeds] = -np.inf
        k = min(k, int(np.isfinite(score).sum()))
        top = np.argpartition(-score, k - 1)[:k] if k else np.zeros(0, dtype=np.intp)
        top = top[np.argsort(-score[top], kind="stable")]
        return [int(i) for i in self.item_ids[top]]


def load_similarity_index(path: Path) -> SimilarityIndex:
    """Read the index from the artifacts directory (or the npz file) ``path``."""
    path = Path(path)
    source = path / DATA_FILE if path.is_dir() else path
    if not source.is_file():
        raise ArtifactsMissing(f"{source}: DS artifacts not found (build them first)")
    try:
        arrays = load_npz(source, required=_KEYS, keys=_KEYS)
        problem = meta_problem(read_json_array(arrays["dsp_meta"], path=source, key="dsp_meta"))
    except ArtifactFileError as exc:
        raise ArtifactsInvalid(str(exc)) from None
    if problem:
        raise ArtifactsInvalid(f"{source}: {problem}")
    item_ids, embedding = arrays["item_ids"], arrays["dsp_hybrid_embedding"]
    if (
        item_ids.ndim != 1
        or item_ids.dtype.kind not in "iu"
        or embedding.ndim != 2
        or embedding.shape[0] != item_ids.shape[0]
    ):
        raise ArtifactsInvalid(
            f"{source}: 'item_ids' {item_ids.shape} and 'dsp_hybrid_embedding' "
            f"{embedding.shape} do not fit together"
        )
    return SimilarityIndex(
        path=source,
        item_ids=item_ids.astype(np.int64, copy=False),
        embedding=np.ascontiguousarray(embedding, dtype=np.float32),
    )
