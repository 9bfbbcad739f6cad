"""Normalised sonic, genre and hybrid embeddings for the DS artifacts.

Sonic (per beat3tower vector, towers rhythm [0:21], timbre [21:104], harmony [104:137]):

1. robust scaling per feature: ``z = (x − median) / (IQR / 1.349)`` (1.349 makes the unit one
   standard deviation for normal data; a zero IQR falls back to the std, then to 1);
2. clipping to ``±clip``;
3. per tower: centring and PCA to ``k_t`` components, *not* whitened (minor components keep
   their small variance instead of being blown up to unit variance);
4. per tower block scale ``sqrt(w_t / msd_t)`` where ``msd_t`` is the block's mean squared
   pairwise distance, so each tower contributes exactly its weight ``w_t`` to the mean squared
   distance (whitened PCA blocks would instead contribute in proportion to their component
   counts: nominal 0.2/0.5/0.3 with 8/16/8 components become 13/67/20 %);
5. concatenation and row L2 normalisation (the realised shares after this step are recorded).

Genre: PCA (≤ 32 components, not whitened) of the row-normalised smoothed genre matrix, fitted
on tracks that have genres; the whole block is divided by one scalar so that its mean squared
row norm is 1; tracks without genres get zero rows.

Hybrid: sonic and genre blocks scaled in the same way to shares ``(w_s, w_g)`` of the mean
squared distance, concatenated, rows L2 normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .sonic.layout import N_FEATURES, TOWERS

__all__ = [
    "N_SONIC_FEATURES",
    "TOWER_NAMES",
    "TOWER_SLICES",
    "ArtifactConfig",
    "GenreEmbedding",
    "SonicEmbedding",
    "balanced_block_scales",
    "fit_genre_embedding",
    "fit_sonic_embedding",
    "hybrid_embedding",
    "l2_normalise_rows",
    "mean_pairwise_sq_distance",
    "squared_distance_shares",
]

N_SONIC_FEATURES = N_FEATURES
TOWER_NAMES = tuple(TOWERS)
TOWER_SLICES = tuple(TOWERS.values())
_IQR_TO_STD = 1.349
_TINY = 1e-12


@dataclass(frozen=True)
class ArtifactConfig:
    """Options of the artifact builder and its embeddings.

    ``clip`` is in robust standard deviations; ``genre_min_count`` is the least number of
    tracks a genre needs to get a column in the artifact's genre matrices.
    """

    tower_weights: tuple[float, float, float] = (0.2, 0.5, 0.3)
    tower_components: tuple[int, int, int] = (8, 16, 8)
    clip: float = 5.0
    hybrid_weights: tuple[float, float] = (0.6, 0.4)
    genre_components: int = 32
    genre_min_count: int = 1

    def __post_init__(self) -> None:
        checks = {
            "tower_weights": len(self.tower_weights) == 3 and min(self.tower_weights) >= 0,
            "tower_components": len(self.tower_components) == 3
            and all(
                0 < k <= s.stop - s.start
                for k, s in zip(self.tower_components, TOWER_SLICES, strict=True)
            ),
            "clip": self.clip > 0,
            "hybrid_weights": len(self.hybrid_weights) == 2 and min(self.hybrid_weights) >= 0,
            "genre_components": self.genre_components >= 0,
            "genre_min_count": self.genre_min_count >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"artifact config: invalid {name} {getattr(self, name)!r}")
        if sum(self.tower_weights) <= 0 or sum(self.hybrid_weights) <= 0:
            raise ValueError("artifact config: weights must not all be zero")

    def to_meta(self) -> dict[str, object]:
        """JSON-ready description for ``dsp_meta``."""
        return {
            "tower_names": list(TOWER_NAMES),
            "tower_weights": list(self.tower_weights),
            "tower_components": list(self.tower_components),
            "clip": self.clip,
            "hybrid_weights": list(self.hybrid_weights),
            "genre_components": self.genre_components,
            "genre_min_count": self.genre_min_count,
        }


def l2_normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero); same shape, float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: np.ndarray = (matrix / np.maximum(norms, _TINY)).astype(np.float32, copy=False)
    return normalised


def mean_pairwise_sq_distance(block: np.ndarray) -> float:
    """Mean of ``||a_i − a_j||²`` over all ordered pairs (i, j) of rows of (N, K) ``block``.

    Equals ``2 (mean ||a||² − ||mean a||²)``: O(N K) instead of O(N² K).
    """
    if block.shape[0] == 0 or block.shape[1] == 0:
        return 0.0
    values = block.astype(np.float64, copy=False)
    mean_sq_norm = float(np.einsum("ij,ij->", values, values)) / values.shape[0]
    centre = values.mean(axis=0)
    # Rounding can make a constant block dip just below zero.
    return float(max(0.0, 2.0 * (mean_sq_norm - float(np.dot(centre, centre)))))


def squared_distance_shares(blocks: Sequence[np.ndarray]) -> list[float]:
    """Share of each column block in the mean squared pairwise distance (sums to 1)."""
    msd = [mean_pairwise_sq_distance(block) for block in blocks]
    total = sum(msd)
    return [value / total if total > 0 else 0.0 for value in msd]


def _block_scale(block: np.ndarray, weight: float) -> float:
    msd = mean_pairwise_sq_distance(block)
    return float(np.sqrt(weight / msd)) if msd > _TINY else 0.0


def balanced_block_scales(
    blocks: Sequence[np.ndarray], weights: Sequence[float], *, tolerance: float = 1e-3
) -> list[float]:
    """Per-block factors so that, after concatenation and row L2 normalisation, each block's
    share of the mean squared pairwise distance equals its normalised weight.

    Starts from ``sqrt(w / msd)`` (exact before row normalisation) and corrects for the row
    normalisation, which favours blocks that are large where others are small (e.g. the sonic
    block of tracks without genres), by a few multiplicative steps.
    """
    total = sum(weights)
    targets = [w / total for w in weights]
    scales = [_block_scale(block, w) for block, w in zip(blocks, targets, strict=True)]
    for _ in range(20):
        joined = l2_normalise_rows(np.hstack([b * s for b, s in zip(blocks, scales, strict=True)]))
        edges = np.cumsum([b.shape[1] for b in blocks])[:-1]
        shares = squared_distance_shares(np.split(joined, edges, axis=1))
        if max(abs(a - t) for a, t in zip(shares, targets, strict=True)) < tolerance:
            break
        scales = [
            s * float(np.sqrt(t / a)) if a > _TINY else s
            for s, a, t in zip(scales, shares, targets, strict=True)
        ]
    return scales


def _pca_from_covariance(covariance: np.ndarray, n_components: int) -> np.ndarray:
    """Top ``n_components`` eigenvectors (D, k) of a symmetric (D, D) matrix, signs fixed."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    top = eigenvectors[:, np.argsort(eigenvalues)[::-1][:n_components]]
    # Deterministic sign: the largest-magnitude entry of each component is positive.
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(top.shape[1])])
    return np.asarray(top * np.where(signs == 0, 1.0, signs), dtype=np.float64)


@dataclass(frozen=True)
class SonicEmbedding:
    """Fitted sonic transform: robust scaling, clipping, per-tower PCA and block scales."""

    center: np.ndarray  # (137,) feature medians
    scale: np.ndarray  # (137,) robust standard deviations
    clip: float
    tower_means: tuple[np.ndarray, ...]  # per tower (D_t,)
    tower_components: tuple[np.ndarray, ...]  # per tower (D_t, k_t)
    tower_scales: tuple[float, ...]  # per tower block scale
    tower_weights: tuple[float, ...]

    @property
    def n_components(self) -> int:
        """Ks = sum of the towers' k_t."""
        return sum(c.shape[1] for c in self.tower_components)

    def tower_blocks(self, features: np.ndarray) -> list[np.ndarray]:
        """Scaled per-tower PCA blocks (N, k_t) of raw (N, 137) features, before row L2."""
        _check_width(features)
        scaled = _robust_scaled(features, self.center, self.scale, self.clip)
        return [
            (scaled[:, sl] - mean) @ components * block_scale
            for sl, mean, components, block_scale in zip(
                TOWER_SLICES,
                self.tower_means,
                self.tower_components,
                self.tower_scales,
                strict=True,
            )
        ]

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(N, 137) raw features → (N, Ks) float32 embedding with unit-L2 rows."""
        return l2_normalise_rows(np.hstack(self.tower_blocks(features)))


def _check_width(features: np.ndarray) -> None:
    if features.ndim != 2 or features.shape[1] != N_SONIC_FEATURES:
        raise ValueError(
            f"sonic features must have shape (N, {N_SONIC_FEATURES}), got {features.shape}"
        )


def _robust_scaled(
    features: np.ndarray, center: np.ndarray, scale: np.ndarray, clip: float
) -> np.ndarray:
    """(N, D) float64 ``clip((x − center) / scale, ±clip)``, computed in place on one copy."""
    scaled = features.astype(np.float64)
    scaled -= center
    scaled /= scale
    return np.clip(scaled, -clip, clip, out=scaled)


def fit_sonic_embedding(
    features: np.ndarray, config: ArtifactConfig | None = None
) -> SonicEmbedding:
    """Fit the sonic transform on (N, 137) finite raw beat3tower vectors (N ≥ 2)."""
    config = config or ArtifactConfig()
    _check_width(features)
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 tracks with sonic features, got {features.shape[0]}")
    q25, center, q75 = np.percentile(features, [25, 50, 75], axis=0)
    scale = (q75 - q25) / _IQR_TO_STD
    flat = np.flatnonzero(scale <= _TINY)
    std = features[:, flat].astype(np.float64).std(axis=0)
    scale[flat] = np.where(std > _TINY, std, 1.0)
    values = _robust_scaled(features, center, scale, config.clip)
    means, components, blocks = [], [], []
    for sl, n_components in zip(TOWER_SLICES, config.tower_components, strict=True):
        tower = values[:, sl]
        mean = tower.mean(axis=0)
        centred = tower - mean
        vectors = _pca_from_covariance(centred.T @ centred / len(tower), n_components)
        means.append(mean)
        components.append(vectors)
        blocks.append(centred @ vectors)
    return SonicEmbedding(
        center=center,
        scale=scale,
        clip=config.clip,
        tower_means=tuple(means),
        tower_components=tuple(components),
        tower_scales=tuple(balanced_block_scales(blocks, config.tower_weights)),
        tower_weights=tuple(config.tower_weights),
    )


@dataclass(frozen=True)
class GenreEmbedding:
    """Fitted genre PCA: ``scores = (x − mean) @ components / scale`` for rows with genres."""

    mean: np.ndarray  # (G,)
    components: np.ndarray  # (G, Kg)
    scale: float
    explained_variance_ratio: float


def fit_genre_embedding(
    raw_rows: sp.csr_array, similarity: np.ndarray, n_components: int, *, row_norms: np.ndarray
) -> tuple[GenreEmbedding, np.ndarray]:
    """PCA of the smoothed, L2-normalised genre rows, computed without densifying them.

    ``raw_rows``: (N, G) sparse raw genre weights R; ``similarity``: (G, G) aligned S;
    ``row_norms``: (N,) L2 norms of the rows of ``R S``. The smoothed rows are ``X = D⁻¹ R S``
    (D = diag(row_norms)), so ``Xᵀ X = Sᵀ (Rₙᵀ Rₙ) S`` with
    ``Rₙ = D⁻¹ R`` sparse: O(G³) instead of O(N G²). Returns the fit and the (N, Kg) float32
    embedding (zero rows where R has none).
    """
    n_tracks, n_genres = raw_rows.shape
    similarity = similarity.astype(np.float64, copy=False)
    has_genres = row_norms > _TINY
    n_with = int(has_genres.sum())
    inverse_norms = np.where(has_genres, 1.0 / np.maximum(row_norms, _TINY), 0.0)
    normalised = sp.csr_array(sp.diags_array(inverse_norms) @ raw_rows.astype(np.float64))
    k = min(n_components, n_genres)
    if n_with < 2 or k == 0:
        empty = GenreEmbedding(np.zeros(n_genres), np.zeros((n_genres, k)), 1.0, 0.0)
        return empty, np.zeros((n_tracks, k), dtype=np.float32)
    mean = np.asarray(normalised.sum(axis=0)).ravel() @ similarity / n_with
    gram = similarity.T @ (normalised.T @ normalised).toarray() @ similarity / n_with
    covariance = gram - np.outer(mean, mean)
    components = _pca_from_covariance(covariance, k)
    retained = float(np.trace(components.T @ covariance @ components))
    total = float(np.trace(covariance))
    scale = float(np.sqrt(retained)) if retained > _TINY else 1.0
    scores = normalised @ (similarity @ components) - mean @ components
    scores[~has_genres] = 0.0
    fit = GenreEmbedding(mean, components, scale, retained / total if total > _TINY else 0.0)
    return fit, (scores / scale).astype(np.float32)


def hybrid_embedding(
    sonic: np.ndarray, genre: np.ndarray, weights: tuple[float, float]
) -> tuple[np.ndarray, list[float]]:
    """(N, Ks + Kg) float32 rows-L2 concatenation with real squared-distance shares ``weights``.

    Returns the embedding and the realised (sonic, genre) shares after row normalisation.
    """
    scales = balanced_block_scales([sonic, genre], weights)
    hybrid = l2_normalise_rows(np.hstack([sonic * scales[0], genre * scales[1]]))
    shares = squared_distance_shares([hybrid[:, : sonic.shape[1]], hybrid[:, sonic.shape[1] :]])
    return hybrid, shares
