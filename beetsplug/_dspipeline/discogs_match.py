"""Match a library album to a Discogs release and read its genres and styles.

`clean_title` strips edition noise from album titles, `title_similarity` and
`artist_similarity` score a Discogs search result against the album, and `lookup_album` runs
the lookup strategy (direct fetch by release id, artist search, search without year,
artist-less fallback for distinctive titles) over a `DiscogsClient`, costing one request for
most albums.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

from rapidfuzz import fuzz

from .discogs_http import DiscogsClient, DiscogsError, DiscogsNotFound

__all__ = [
    "AlbumQuery",
    "LookupResult",
    "artist_similarity",
    "clean_title",
    "is_distinctive_title",
    "lookup_album",
    "normalize_artist",
    "normalize_text",
    "normalize_title",
    "split_result_title",
    "title_similarity",
]

# -- title cleaning -----------------------------------------------------------------------------

_REGION = r"(?:japan(?:ese)?|us|usa|uk|eu|euro(?:pean)?|international|import|intl)"
_NOISE = re.compile(
    r"\b(?:"
    r"(?:super\s+)?deluxe|remaster(?:ed|s)?|re-?master(?:ed)?|expanded|anniversary"
    r"|bonus(?:\s+tracks?|\s+disc)?|edition|re-?issue|explicit|mono|stereo"
    rf"|{_REGION}\s+(?:version|release|import|pressing)"
    r"|(?:album|extended|special|collector'?s)\s+version"
    r"|\d{4}\s+(?:mix|master|version)"
    r")\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"\s*[(\[{]([^()\[\]{}]*)[)\]}]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")


def clean_title(title: str) -> str:
    """Drop edition noise from an album title: ``"Discovery (Deluxe Edition)"`` → ``"Discovery"``.

    Removes bracketed or ``" - "``-suffixed parts that name an edition (deluxe, remaster(ed)
    [year], expanded, anniversary, bonus tracks, special/limited/collector's edition, reissue,
    region versions…). A title that is nothing but such a word (``"Deluxe"``) is kept.
    """
    original = " ".join(title.split())
    cleaned = _BRACKETED.sub(lambda m: "" if _NOISE.search(m[1]) else m[0], original)
    while (suffix := _DASH_SUFFIX.search(cleaned)) and _NOISE.search(suffix[1]):
        cleaned = cleaned[: suffix.start()]
    cleaned = " ".join(cleaned.split()).strip(" -–—:,;/")
    return cleaned or original


# -- normalisation ------------------------------------------------------------------------------

# Letters NFKD does not decompose into a base letter plus accents.
_FOLD = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
                       "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "þ": "th"})  # fmt: skip
# Number words (en, es, de, fr; not French "un") and Roman numerals become digits, so that
# "Volumen Dos" vs "Volumen Tres" or "IV" vs "II" count as different albums.
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve",
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez",
    "null eins zwei drei vier funf sechs sieben acht neun zehn",
    "zero _ deux trois quatre cinq six sept huit neuf dix",
)
_ROMAN = "_ _ ii iii iv _ vi vii viii ix"  # "i", "v" and "x" are words too often
_TITLE_TOKEN_MAP = {
    **{
        word: str(i)
        for words in (*_NUMBER_WORDS, _ROMAN)
        for i, word in enumerate(words.split())
        if word != "_"
    },
    "volume": "vol",
    "pt": "part",
}
_ARTIST_NUMBER = re.compile(r"\s*\(\d+\)\s*$")
_ARTIST_SPLIT = re.compile(
    r"\s*(?:&|\+|/|,|;|\bx\b|\band\b|\bwith\b|\bvs\.?|\bfeat\.?|\bfeaturing\b|\bft\.?)\s*",
    re.IGNORECASE,
)
_VARIOUS = frozenset({"various", "various artists", "va", "v a", "varios", "divers"})
_UNKNOWN = frozenset({"", "unknown", "unknown artist", "[unknown]", "anonymous"})


def normalize_text(text: str) -> str:
    """Accent-, case- and punctuation-insensitive form: ``"Björk & Co."`` → ``"bjork and co"``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ").replace("'", "").replace("’", "")
    return " ".join(re.findall(r"\w+", plain))


def normalize_title(title: str) -> str:
    """`normalize_text` of the cleaned title, with numbers unified (``"Vol. II"`` → ``"vol 2"``)."""
    tokens = normalize_text(clean_title(title)).split()
    return " ".join(_TITLE_TOKEN_MAP.get(t, t) for t in tokens)


def normalize_artist(name: str) -> str:
    """Discogs-aware artist form: drops ``" (2)"`` and ANV ``"*"``, ``"X, The"`` → ``"x"``."""
    name = _ARTIST_NUMBER.sub("", name.strip()).rstrip("*").strip()
    if name.casefold().endswith(", the"):
        name = name[:-5]
    norm = normalize_text(name)
    norm = norm.removeprefix("the ")
    return "various" if norm in _VARIOUS else norm


def _artist_variants(name: str) -> set[str]:
    """The whole credit and each credited artist (``"A & B"`` → ``{a and b, a, b}``)."""
    variants = {normalize_artist(name)}
    for alternative in name.split(" = "):
        variants.add(normalize_artist(alternative))
        variants.update(normalize_artist(p) for p in _ARTIST_SPLIT.split(alternative))
    return {v for v in variants if v}


def split_result_title(result_title: str) -> tuple[str, str]:
    """Split a search result's ``"Artist - Title"`` into ``(artist, title)``."""
    artist, sep, title = result_title.partition(" - ")
    return (artist, title) if sep else ("", result_title)


# -- similarity ---------------------------------------------------------------------------------


# Words that make a different album of the same name ("Brothers In Arms Live").
_MARKERS = frozenset(
    {"live", "remix", "remixes", "remixed", "demos", "acoustic", "unplugged", "instrumental",
     "instrumentals", "dub", "karaoke", "sessions", "ep", "tour", "interview"}
)  # fmt: skip


def _markers(norm_title: str) -> list[str]:
    """Numbers and album-kind words of a normalised title, sorted."""
    return sorted(t for t in norm_title.split() if t.isdigit() or t in _MARKERS)


def title_similarity(query_title: str, candidate_title: str) -> float:
    """Similarity in [0, 1] of two album titles after cleaning and normalisation.

    Discogs ``"A = B"`` translated titles match on either side. Differing numbers
    (``"Vol. 1"`` vs ``"Vol. 2"``, ``"IV"`` vs ``"III"``) or album-kind words (``"Live"``,
    ``"Remixes"``) halve the score.
    """
    best = 0.0
    queries = {normalize_title(q) for q in query_title.split(" = ")} | {
        normalize_title(query_title)
    }
    candidates = {normalize_title(c) for c in candidate_title.split(" = ")} | {
        normalize_title(candidate_title)
    }
    for q in queries:
        for c in candidates:
            if not q or not c:
                continue
            sim = fuzz.ratio(q, c) / 100.0
            if _markers(q) != _markers(c):
                sim *= 0.5
            best = max(best, sim)
    return best


def artist_similarity(query_artist: str, candidate_artist: str, *, strict: bool = False) -> float:
    """Similarity in [0, 1] of two artist credits.

    Compares the whole credits and each credited artist of either side (so ``"Bob Marley"``
    matches ``"Bob Marley & The Wailers"``). Non-strict also counts one name contained in the
    other (``"Miles Davis"`` ~ ``"The Miles Davis Quintet"``) as a match.
    """
    best = 0.0
    for q in _artist_variants(query_artist):
        for c in _artist_variants(candidate_artist):
            sim = fuzz.ratio(q, c) / 100.0
            if not strict:
                sim = max(sim, 0.9 * fuzz.token_set_ratio(q, c) / 100.0)
            best = max(best, sim)
    return best


_GENERIC_TITLES = frozenset(
    {
        "greatest hits", "best of", "the best of", "very best of", "the very best of", "hits",
        "live", "unplugged", "collection", "the collection", "anthology", "singles",
        "the singles", "essential", "the essential", "gold", "love songs", "christmas",
        "christmas album", "remixes", "demos", "ep", "lp", "untitled", "s t", "self titled",
        "soundtrack", "original soundtrack", "in concert", "live in concert", "the album",
        "album", "debut", "b sides", "rarities", "instrumentals", "acoustic",
    }
)  # fmt: skip
_GENERIC_PREFIXES = ("greatest hits ", "best of ", "the best of ", "live at ", "live in ")
_STOPWORDS = frozenset({"the", "a", "an", "and", "of", "in", "on", "at", "to", "for"})


def is_distinctive_title(title: str) -> bool:
    """Whether a title is specific enough to search for without the artist.

    Not distinctive: generic titles (``"Greatest Hits"``, ``"Live"``, ``"Best of …"``) and
    one-word Latin-script titles (``"Discovery"``); a non-Latin single word (``"音楽図鑑"``)
    is distinctive.
    """
    norm = normalize_title(title)
    if norm in _GENERIC_TITLES or norm.startswith(_GENERIC_PREFIXES):
        return False
    content = [t for t in norm.split() if t not in _STOPWORDS]
    if len(content) >= 2:
        return True
    return len(content) == 1 and len(content[0]) >= 2 and not content[0].isascii()


def _year_similarity(query_year: int, candidate_year: Any) -> float:
    try:
        year = int(candidate_year)
    except (TypeError, ValueError):
        return 0.5
    if year <= 0:
        return 0.5
    gap = abs(year - query_year)
    return 1.0 if gap == 0 else 0.5 if gap <= 2 else 0.0


# -- lookup -------------------------------------------------------------------------------------

TITLE_MIN = 0.85  # below this the titles name different albums, whatever the artist says
ARTIST_MIN = 0.85  # an artist "matches" at or above this similarity


@dataclasses.dataclass(frozen=True)
class AlbumQuery:
    """The library album to look up."""

    albumartist: str
    album: str
    year: int | None = None
    discogs_release_id: int | None = None


@dataclasses.dataclass
class LookupResult:
    """Outcome of `lookup_album`; ``requests`` counts API calls made for this album."""

    status: Literal["hit", "miss", "error"]
    genres: list[str]
    styles: list[str]
    release_id: int | None
    master_id: int | None
    score: float | None
    matched_title: str | None
    error: str | None
    requests: int


@dataclasses.dataclass(frozen=True)
class _Candidate:
    result: dict[str, Any]
    score: float
    rank: int

    @property
    def sort_key(self) -> tuple[float, bool, int]:
        # Best score; among equals prefer a result that already has styles, then server order.
        return (self.score, bool(self.result.get("style")), -self.rank)


def _tags(values: Any) -> list[str]:
    """Lower-cased, whitespace-collapsed, de-duplicated tags in their original order."""
    if not isinstance(values, list):
        return []
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and (tag := " ".join(value.split()).lower()):
            seen.setdefault(tag, None)
    return list(seen)


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class _Lookup:
    """One album's lookup: counts its calls and remembers the best rejected candidate."""

    def __init__(self, client: DiscogsClient, query: AlbumQuery, threshold: float, strict: bool):
        self.client = client
        self.query = query
        self.threshold = threshold
        self.strict = strict
        self.requests = 0
        self.title = clean_title(query.album)
        artist = query.albumartist.strip()
        self.artist_known = normalize_artist(artist) not in _UNKNOWN
        various = normalize_artist(artist) == "various"
        self.search_artist = ("Various" if various else artist) if self.artist_known else None

    # API calls
    def search(self, artist: str | None, year: int | None) -> list[dict[str, Any]]:
        self.requests += 1
        return self.client.search_releases(self.title, artist, year, per_page=25)

    def release(self, release_id: int) -> dict[str, Any]:
        self.requests += 1
        return self.client.release(release_id)

    def master(self, master_id: int) -> dict[str, Any] | None:
        self.requests += 1
        try:
            return self.client.master(master_id)
        except DiscogsNotFound:
            return None

    # scoring
    def score(self, results: Sequence[dict[str, Any]]) -> tuple[list[_Candidate], list[_Candidate]]:
        """(accepted candidates, candidates accepted if their artist checks out on the release).

        The second list holds title matches whose shown artist did not match, scored as if it
        had (verified later on the release's credited names and ANVs).
        """
        accepted, unmatched = [], []
        for rank, result in enumerate(results):
            if result.get("type", "release") != "release" or not isinstance(
                result.get("title"), str
            ):
                continue
            result_artist, result_title = split_result_title(result["title"])
            title_sim = title_similarity(self.title, result_title)
            if title_sim < TITLE_MIN:
                continue
            if self.artist_known:
                artist_sim = artist_similarity(
                    self.query.albumartist, result_artist, strict=self.strict
                )
            else:
                artist_sim = 0.0 if self.strict else 1.0
            year_sim = (
                _year_similarity(self.query.year, result.get("year")) if self.query.year else None
            )
            score = self.combine(title_sim, artist_sim, year_sim)
            if artist_sim >= ARTIST_MIN:
                if score >= self.threshold:
                    accepted.append(_Candidate(result, score, rank))
            elif (if_verified := self.combine(title_sim, 1.0, year_sim)) >= self.threshold:
                unmatched.append(_Candidate(result, if_verified, rank))
        return accepted, unmatched

    @staticmethod
    def combine(title_sim: float, artist_sim: float, year_sim: float | None) -> float:
        """0.6 title + 0.3 artist + 0.1 year; without a year, the first two rescaled to 1."""
        if year_sim is None:
            return (0.6 * title_sim + 0.3 * artist_sim) / 0.9
        return 0.6 * title_sim + 0.3 * artist_sim + 0.1 * year_sim

    def release_artist_matches(self, release: dict[str, Any]) -> bool:
        """Whether the album artist is one of the release's artists, by name or ANV."""
        for entry in release.get("artists") or []:
            for name in (entry.get("name"), entry.get("anv")):
                if isinstance(name, str) and name:
                    sim = artist_similarity(self.query.albumartist, name, strict=self.strict)
                    if sim >= ARTIST_MIN:
                        return True
        return False

    # completion
    def from_release(self, release: dict[str, Any], score: float | None) -> LookupResult:
        artists = release.get("artists") or []
        shown = " & ".join(a.get("name", "") for a in artists if isinstance(a, dict))
        return self.complete(
            release.get("genres"),
            release.get("styles"),
            _int_or_none(release.get("id")),
            _int_or_none(release.get("master_id")),
            score,
            f"{shown} - {release.get('title', '')}",
        )

    def from_candidate(self, candidate: _Candidate) -> LookupResult:
        result = candidate.result
        release_id = _int_or_none(result.get("id"))
        if not isinstance(result.get("genre"), list) and release_id is not None:
            return self.from_release(self.release(release_id), candidate.score)
        return self.complete(
            result.get("genre"),
            result.get("style"),
            release_id,
            _int_or_none(result.get("master_id")),
            candidate.score,
            result.get("title"),
        )

    def complete(
        self,
        genres: Any,
        styles: Any,
        release_id: int | None,
        master_id: int | None,
        score: float | None,
        title: str | None,
    ) -> LookupResult:
        genre_tags, style_tags = _tags(genres), _tags(styles)
        # Styles are often filled in on the master only; one extra call fetches them.
        if not style_tags and master_id is not None:
            master = self.master(master_id)
            if master is not None:
                style_tags = _tags(master.get("styles"))
                genre_tags = genre_tags or _tags(master.get("genres"))
        return LookupResult(
            "hit", genre_tags, style_tags, release_id, master_id, score, title, None, self.requests
        )

    def miss(self) -> LookupResult:
        return LookupResult("miss", [], [], None, None, None, None, None, self.requests)

    def run(self) -> LookupResult:
        query = self.query
        if query.discogs_release_id:
            try:
                return self.from_release(self.release(query.discogs_release_id), None)
            except DiscogsNotFound:
                pass  # a stale id: find the album by searching instead
        if not self.artist_known and self.strict:
            return self.miss()
        searches: list[tuple[str | None, int | None]] = []
        if self.search_artist:
            searches.append((self.search_artist, query.year))
            if query.year:
                searches.append((self.search_artist, None))
        if is_distinctive_title(self.title):
            searches.append((None, None))
        verified = False
        for artist, year in searches:
            accepted, unmatched = self.score(self.search(artist, year))
            if accepted:
                return self.from_candidate(max(accepted, key=lambda c: c.sort_key))
            # The server's artist filter matched, our name comparison did not (an ANV or
            # an alias in another script): check the release's credited names once.
            if artist and unmatched and not verified:
                verified = True
                best = max(unmatched, key=lambda c: c.sort_key)
                release_id = _int_or_none(best.result.get("id"))
                if release_id is not None:
                    try:
                        release = self.release(release_id)
                    except DiscogsNotFound:
                        continue
                    if self.release_artist_matches(release):
                        return self.from_release(release, best.score)
        return self.miss()


def lookup_album(
    client: DiscogsClient,
    query: AlbumQuery,
    *,
    threshold: float = 0.55,
    strict_artist: bool = False,
) -> LookupResult:
    """Find ``query`` on Discogs and return its genres and styles.

    Albums with a ``discogs_release_id`` are fetched directly. Otherwise: search by cleaned
    title + artist (+ year), then without the year, then (distinctive titles only) without
    the artist; the best candidate whose title and artist match and whose score (0.6 title
    + 0.3 artist + 0.1 year) reaches ``threshold`` wins. ``strict_artist`` accepts only full
    artist-name matches. "miss" means Discogs answered and nothing matched; "error" means a
    request failed after retries (never reported as a miss).
    """
    lookup = _Lookup(client, query, threshold, strict_artist)
    try:
        return lookup.run()
    except DiscogsError as exc:
        return LookupResult("error", [], [], None, None, None, None, str(exc), lookup.requests)
