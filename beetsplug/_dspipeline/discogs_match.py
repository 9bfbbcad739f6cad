"""Match a library album to a Discogs release and read its genres and styles.

`clean_title` strips edition noise from album titles, `parse_title` reads what a title says
(a classical "Composer: Work", a soundtrack), `title_similarity` and `artist_similarity` score a
Discogs search result against the album, and `lookup_album` runs the lookup strategy over a
`DiscogsClient` (direct fetch by release id, one search by artist and title, then only the
fallbacks that can still find the album), costing one request for most albums.
`LookupResult.considered` keeps every scored candidate and the reason it won or lost, for
``beet discogsgenres -v`` (`explain`).
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
    "Considered",
    "LookupResult",
    "ParsedTitle",
    "artist_similarity",
    "catalogue_keys",
    "clean_title",
    "explain",
    "is_distinctive_title",
    "lookup_album",
    "normalize_artist",
    "normalize_text",
    "normalize_title",
    "parse_title",
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
# What a soundtrack's title adds to the film's name, in the languages Discogs titles use.
_SOUNDTRACK = re.compile(
    r"\b(?:soundtrack|ost|(?:original\s+)?(?:motion\s+picture\s+|film\s+)?score"
    r"|music\s+from\s+(?:the\s+)?(?:motion\s+picture|film|series)"
    r"|bande\s+originale|banda\s+sonora|colonna\s+sonora|filmmusik)\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"\s*[(\[{]([^()\[\]{}]*)[)\]}]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")


def _is_noise(part: str) -> bool:
    return bool(_NOISE.search(part) or _SOUNDTRACK.search(part))


def clean_title(title: str) -> str:
    """Drop edition noise from an album title: ``"Discovery (Deluxe Edition)"`` → ``"Discovery"``.

    Removes bracketed or ``" - "``-suffixed parts that name an edition (deluxe, remaster(ed)
    [year], expanded, anniversary, bonus tracks, special/limited/collector's edition, reissue,
    region versions…) or a soundtrack ("Original Motion Picture Soundtrack", "OST",
    "Bande Originale Du Film"…). A title that is nothing but such a word (``"Deluxe"``) is kept.
    """
    original = " ".join(title.split())
    cleaned = _BRACKETED.sub(lambda m: "" if _is_noise(m[1]) else m[0], original)
    while (suffix := _DASH_SUFFIX.search(cleaned)) and _is_noise(suffix[1]):
        cleaned = cleaned[: suffix.start()]
    cleaned = " ".join(cleaned.split()).strip(" -–—:,;/")
    return cleaned or original


# -- normalisation ------------------------------------------------------------------------------

# Letters NFKD does not decompose into a base letter plus accents.
_FOLD = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
                       "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "þ": "th",
                       "ß": "ss", "№": "no", "°": " ", "º": " "})  # fmt: skip
# Number words (en, es, de, fr; not French "un") and Roman numerals become digits, so that
# "Volumen Dos" vs "Volumen Tres" or "IV" vs "II" count as different albums.
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve",
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez",
    "null eins zwei drei vier funf sechs sieben acht neun zehn",
    "zero _ deux trois quatre cinq six sept huit neuf dix",
)
_ROMAN = "_ _ ii iii iv _ vi vii viii ix"  # "i", "v" and "x" are words too often
# Classical vocabulary in German, French, Italian and Spanish, to one English word each, so
# "Symphonie Nr. 9 d-moll" and "Symphony No. 9 in D minor" share their words.
_CLASSICAL_TERMS = {
    "symphony": "symphonie sinfonie sinfonia symfonie symphonies sinfonien",
    "no": "nr numero",
    "minor": "moll mineur minore menor",
    "major": "dur majeur maggiore mayor",
    "concerto": "konzert concierto concertos konzerte",
    "sonata": "sonate sonaten sonatas",
    "variations": "variationen variazioni variaciones",
    "passion": "passione pasion",
    "quartet": "quartett quatuor quartetto cuarteto",
    "mass": "messe messa misa",
    "piano": "klavier pianoforte",
    "violin": "violine violon violino",
    "suite": "suiten suites",
    "seasons": "jahreszeiten stagioni saisons estaciones",
    "and": "und et",
    "4": "quattro",
}
_COMPOUNDS = {  # German compounds Discogs titles use as one word
    "klavierkonzert": "piano concerto", "violinkonzert": "violin concerto",
    "cellokonzert": "cello concerto", "klaviersonate": "piano sonata",
    "klaviersonaten": "piano sonata", "violinsonate": "violin sonata",
    "streichquartett": "string quartet", "klaviertrio": "piano trio",
    "matthauspassion": "matthew passion", "johannespassion": "john passion",
}  # fmt: skip
_TITLE_TOKEN_MAP = {
    **{
        word: str(i)
        for words in (*_NUMBER_WORDS, _ROMAN)
        for i, word in enumerate(words.split())
        if word != "_"
    },
    **{alias: word for word, aliases in _CLASSICAL_TERMS.items() for alias in aliases.split()},
    "matthaus": "matthew",
    "st": "saint",
    "volume": "vol",
    "pt": "part",
    **_COMPOUNDS,
}
_ARTICLES = frozenset({"the", "a", "an", "der", "die", "das", "le", "la", "les", "il", "lo", "el"})
_ELISION = re.compile(r"\b([dljmnst]|qu)['’](?=\w)", re.IGNORECASE)
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


# Catalogue numbers: "BWV 988", "Op. 27 No. 2", "K. 525" = "KV 525", "D 960", "Hob. XVI:52".
_CATALOGUE = re.compile(
    r"\b(bwv|buxwv|hwv|twv|rv|kv|k|d|hob|op|opus|woo|sz|wq)\.?\s*((?:[ivx]+\s*:\s*)?\d+[a-z]?)"
    r"(?:\s*,?\s*(?:no|nr|n[°º])\.?\s*(\d+))?\b",
    re.IGNORECASE,
)
_CATALOGUE_PREFIX = {"kv": "k", "opus": "op"}


def _catalogue_match_key(match: re.Match[str]) -> tuple[str, str, str]:
    prefix = match[1].lower()
    number = re.sub(r"[\s:]", "", match[2].lower())
    return (_CATALOGUE_PREFIX.get(prefix, prefix), number, match[3] or "")


def catalogue_keys(title: str) -> frozenset[tuple[str, str, str]]:
    """Catalogue numbers in a title as ``(catalogue, number, sub-number)``:
    ``"Op. 27 No. 2"`` → ``("op", "27", "2")``, ``"KV 525"`` → ``("k", "525", "")``."""
    return frozenset(_catalogue_match_key(m) for m in _CATALOGUE.finditer(title))


def _keys_compatible(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    # "Op. 27" (the set) is compatible with "Op. 27 No. 2"; "No. 1" is not with "No. 2".
    return a[:2] == b[:2] and (a[2] == b[2] or not a[2] or not b[2])


def normalize_title(title: str) -> str:
    """`normalize_text` of the cleaned title, numbers and classical terms unified
    (``"Vol. II"`` → ``"vol 2"``, ``"Symphonie Nr. 9 d-moll"`` → ``"symphony no 9 d minor"``);
    a catalogue number becomes one token (``"BWV 988"`` → ``"bwv988"``)."""
    text = _CATALOGUE.sub(lambda m: " " + "".join(_catalogue_match_key(m)) + " ", title)
    text = _ELISION.sub(r"\1 ", clean_title(text))
    tokens = normalize_text(text).split()
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens = tokens[1:]  # "The Four Seasons" = "Die Vier Jahreszeiten"
    return " ".join(_TITLE_TOKEN_MAP.get(t, t) for t in tokens)


def normalize_artist(name: str) -> str:
    """Discogs-aware artist form: drops ``" (2)"`` and ANV ``"*"``, ``"X, The"`` → ``"x"``."""
    name = _ARTIST_NUMBER.sub("", name.strip()).rstrip("*").strip()
    if name.casefold().endswith(", the"):
        name = name[:-5]
    norm = normalize_text(name)
    norm = norm.removeprefix("the ")
    return "various" if norm in _VARIOUS else norm


def _artist_parts(name: str) -> list[str]:
    """Each credited artist of a credit, normalised (``"A, B & C"`` → ``[a, b, c]``)."""
    parts = (normalize_artist(p) for a in name.split(" = ") for p in _ARTIST_SPLIT.split(a))
    return list(dict.fromkeys(p for p in parts if p))


def _artist_variants(name: str) -> set[str]:
    """The whole credit and each credited artist (``"A & B"`` → ``{a and b, a, b}``)."""
    variants = {normalize_artist(name)}
    variants.update(normalize_artist(alternative) for alternative in name.split(" = "))
    variants.update(_artist_parts(name))
    return {v for v in variants if v}


def split_result_title(result_title: str) -> tuple[str, str]:
    """Split a search result's ``"Artist - Title"`` into ``(artist, title)``."""
    artist, sep, title = result_title.partition(" - ")
    return (artist, title) if sep else ("", result_title)


# -- what a title says --------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.replace("-", " ").split()


# Surnames (normalised) that make "X: Work" a classical title with X the composer.
_COMPOSERS = frozenset(
    _words(
        """adams albeniz albinoni allegri arensky bach barber bartok bax beethoven bellini berg
    berlioz bernstein biber bizet boccherini borodin brahms britten bruch bruckner busoni
    buxtehude byrd chabrier charpentier chausson chopin clementi copland corelli couperin
    debussy delibes delius donizetti dowland dukas dvorak elgar enescu faure finzi franck
    gabrieli gershwin gesualdo glass glazunov glinka gluck gorecki gounod granados grieg
    gubaidulina handel haendel haydn hildegard hindemith holst honegger hummel ibert ives
    janacek khachaturian kodaly korngold lassus lehar leoncavallo ligeti liszt lully lutoslawski
    mahler martinu mascagni massenet mendelssohn messiaen milhaud monteverdi mozart mussorgsky
    nielsen offenbach orff pachelbel paganini palestrina part penderecki pergolesi piazzolla
    poulenc prokofiev prokofieff puccini purcell rachmaninoff rachmaninov rameau ravel reger
    reich respighi rodrigo rossini rutter sarasate satie scarlatti schnittke
    schoenberg schonberg schubert schumann schutz scriabin shostakovich sibelius smetana spohr
    stravinsky strauss suk sullivan szymanowski tallis tavener tchaikovsky telemann tippett
    verdi vivaldi wagner walton weber webern weill
    zelenka"""
    )
) | {"saint saens", "vaughan williams", "villa lobos", "rimsky korsakov"}
_COMPOSER_LIST = re.compile(r"\s*(?:,|/|&|;|\band\b|\bund\b|\bet\b)\s*", re.IGNORECASE)


def composer_key(name: str) -> str | None:
    """The known composer surname a (normalised or raw) name ends with, else None:
    ``"J.S. Bach"`` → ``"bach"``."""
    norm = normalize_artist(name)
    tokens = norm.split()
    for size in (2, 1):
        if len(tokens) >= size and (last := " ".join(tokens[-size:])) in _COMPOSERS:
            return last
    return None


@dataclasses.dataclass(frozen=True)
class ParsedTitle:
    """What an album title says: the cleaned title, and for a classical ``"Composer: Work"``
    the work and the composers' surnames; ``soundtrack`` when the title names one."""

    title: str
    work: str | None = None
    composers: frozenset[str] = frozenset()
    soundtrack: bool = False


def parse_title(album: str) -> ParsedTitle:
    """``"Bach: Goldberg Variations, BWV 988"`` → work ``"Goldberg Variations, BWV 988"``,
    composers ``{"bach"}``; ``"Amélie (Original Soundtrack)"`` → soundtrack."""
    title = clean_title(album)
    soundtrack = bool(_SOUNDTRACK.search(album)) and title != " ".join(album.split())
    prefix, sep, rest = title.partition(":")
    names = [n for n in _COMPOSER_LIST.split(prefix) if n.strip()]
    keys = {composer_key(n) for n in names}
    if sep and rest.strip() and names and len(names) <= 4 and None not in keys:
        return ParsedTitle(title, rest.strip(), frozenset(k for k in keys if k), soundtrack)
    return ParsedTitle(title, soundtrack=soundtrack)


# -- similarity ---------------------------------------------------------------------------------


# Words that make a different album of the same name ("Brothers In Arms Live").
_MARKERS = frozenset(
    {"live", "remix", "remixes", "remixed", "demos", "acoustic", "unplugged", "instrumental",
     "instrumentals", "dub", "karaoke", "sessions", "ep", "tour", "interview"}
)  # fmt: skip
_TITLE_SIDES = re.compile(r"\s+[=/]\s+")  # "Original = English", "Original / English"


def _markers(norm_title: str) -> list[str]:
    """Numbers and album-kind words of a normalised title, sorted."""
    return sorted(t for t in norm_title.split() if t.isdigit() or t in _MARKERS)


def _title_forms(title: str) -> set[str]:
    """Normalised forms of the whole title and of each side of ``" = "`` / ``" / "``."""
    forms = {normalize_title(title)} | {normalize_title(s) for s in _TITLE_SIDES.split(title)}
    return {f for f in forms if f}


def title_similarity(query_title: str, candidate_title: str, *, loose: bool = False) -> float:
    """Similarity in [0, 1] of two album titles after cleaning and normalisation.

    Translated titles (``"A = B"``, ``"A / B"``) match on either side. Differing numbers
    (``"Vol. 1"`` vs ``"Vol. 2"``) or album-kind words (``"Live"``) halve the score; differing
    catalogue numbers (``"Op. 57"`` vs ``"Op. 27 No. 2"``) make it 0. ``loose`` (classical
    works, soundtracks) also accepts one title's words contained in the other's, and a shared
    catalogue number as a near-certain match.
    """
    query_keys, candidate_keys = catalogue_keys(query_title), catalogue_keys(candidate_title)
    shared_key = any(_keys_compatible(a, b) for a in query_keys for b in candidate_keys)
    if query_keys and candidate_keys and not shared_key:
        return 0.0
    best = 0.0
    for q in _title_forms(query_title):
        for c in _title_forms(candidate_title):
            sim = fuzz.ratio(q, c) / 100.0
            if loose:
                sim = max(sim, 0.95 * fuzz.token_set_ratio(q, c) / 100.0)
            if _markers(q) != _markers(c):
                sim *= 0.5
            best = max(best, sim)
    return max(best, 0.95) if loose and shared_key else best


def artist_similarity(query_artist: str, candidate_artist: str, *, strict: bool = False) -> float:
    """Similarity in [0, 1] of two artist credits.

    Compares the whole credits and each credited artist of either side (so ``"Bob Marley"``
    matches ``"Bob Marley & The Wailers"``). Non-strict also counts one name contained in the
    other (``"Miles Davis"`` ~ ``"The Miles Davis Quintet"``) as a match.
    """
    best = 0.0
    for q in _artist_variants(query_artist):
        for c in _artist_variants(candidate_artist):
            best = max(best, _name_similarity(q, c, strict))
    return best


def _name_similarity(a: str, b: str, strict: bool) -> float:
    sim = fuzz.ratio(a, b) / 100.0
    if not strict:
        sim = max(sim, 0.9 * fuzz.token_set_ratio(a, b) / 100.0)
    return sim


# Words every orchestra or ensemble shares: "Berliner Philharmoniker" must not match "Wiener
# Philharmoniker" on them.
_ENSEMBLE_WORDS = frozenset(
    _words(
        """orchestra orchester orchestre orquesta orkest philharmonic philharmoniker philharmonique
    filarmonica symphony symphonie symphonieorchester sinfonieorchester chamber kammerorchester
    ensemble quartet quartett quatuor trio choir chor chorus choeur coro soloists solistes
    players consort academy of the and des der de la le du sir"""
    )
)


def _performer_similarity(a: str, b: str, strict: bool) -> float:
    """Two normalised performer names, judged on the whole name and on the words that set an
    ensemble apart (the lower of the two counts)."""
    whole = _name_similarity(a, b, strict)
    a_own = " ".join(t for t in a.split() if t not in _ENSEMBLE_WORDS) or a
    b_own = " ".join(t for t in b.split() if t not in _ENSEMBLE_WORDS) or b
    return min(whole, _name_similarity(a_own, b_own, strict))


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


def _content_words(title: str) -> set[str]:
    return {t for t in normalize_title(title).split() if t not in _STOPWORDS and len(t) > 1}


def _has_latin_letters(title: str) -> bool:
    return any("LATIN" in unicodedata.name(c, "") for c in title if c.isalpha())


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
PER_PAGE = 25
COMPOSER_PER_PAGE = 50  # a performer's recordings of one composer: one page, more of them

FoundBy = Literal[
    "release-id", "artist+title", "credit-check", "performer+composer", "artist+year",
    "first-artist", "title-only",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AlbumQuery:
    """The library album to look up; ``albumtypes`` as beets has them (``"soundtrack"``)."""

    albumartist: str
    album: str
    year: int | None = None
    discogs_release_id: int | None = None
    albumtypes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Considered:
    """One scored Discogs candidate and what became of it (for ``-v``)."""

    step: str
    shown: str
    release_id: int | None
    year: str
    title_sim: float
    artist_sim: float
    score: float
    verdict: str


@dataclasses.dataclass
class LookupResult:
    """Outcome of `lookup_album`; ``requests`` counts API calls made for this album.

    ``found_by`` names the step that found a hit, ``reason`` says why it won or why nothing
    did, ``considered`` lists every candidate scored.
    """

    status: Literal["hit", "miss", "error"]
    genres: list[str]
    styles: list[str]
    release_id: int | None
    master_id: int | None
    score: float | None
    matched_title: str | None
    error: str | None
    requests: int
    found_by: FoundBy | None = None
    reason: str = ""
    considered: list[Considered] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Candidate:
    result: dict[str, Any]
    score: float
    rank: int
    performers: tuple[str, ...] = ()

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


def _is_soundtrack(result: dict[str, Any]) -> bool:
    genres = _tags(result.get("genre") or result.get("genres"))
    styles = _tags(result.get("style") or result.get("styles"))
    return "stage & screen" in genres or bool({"soundtrack", "score"} & set(styles))


def _combine(title_sim: float, artist_sim: float, year_sim: float | None) -> float:
    """0.6 title + 0.3 artist + 0.1 year; without a year, the first two rescaled to 1."""
    if year_sim is None:
        return (0.6 * title_sim + 0.3 * artist_sim) / 0.9
    return 0.6 * title_sim + 0.3 * artist_sim + 0.1 * year_sim


@dataclasses.dataclass
class _Judged:
    """A search page scored: accepted candidates, title matches whose shown artist did not
    match (accepted if the release's credits do), and whether the album artist showed up."""

    accepted: list[_Candidate] = dataclasses.field(default_factory=list)
    unverified: list[_Candidate] = dataclasses.field(default_factory=list)
    artist_seen: bool = False


class _Lookup:
    """One album's lookup: counts its calls and records every candidate it scores."""

    def __init__(self, client: DiscogsClient, query: AlbumQuery, threshold: float, strict: bool):
        self.client = client
        self.query = query
        self.threshold = threshold
        self.strict = strict
        self.requests = 0
        self.considered: list[Considered] = []
        self.verified = False  # one release fetched to check credits per album, at most
        self.ambiguous = 0  # recordings by different performers that fit equally
        self.parsed = parse_title(query.album)
        self.title = self.parsed.title
        self.soundtrack = self.parsed.soundtrack or any(
            t.lower() == "soundtrack" for t in query.albumtypes
        )
        artist = query.albumartist.strip()
        self.artist_known = normalize_artist(artist) not in _UNKNOWN
        various = normalize_artist(artist) == "various"
        self.search_artist = ("Various" if various else artist) if self.artist_known else None
        # Classical: the performers are the album artist's names that are not the composer.
        self.performers: list[str] = []
        if self.parsed.work is not None:
            raw = [p.strip() for p in _ARTIST_SPLIT.split(artist) if p.strip()]
            self.performers = [
                p
                for p in raw
                if composer_key(p) not in self.parsed.composers
                and normalize_artist(p) not in _UNKNOWN | {"various"}
            ]
            if self.performers:
                self.search_artist = self.performers[0]

    # API calls
    def search(
        self,
        title: str | None,
        artist: str | None,
        year: int | None = None,
        text: str | None = None,
        per_page: int = PER_PAGE,
    ) -> list[dict[str, Any]]:
        self.requests += 1
        return self.client.search_releases(title, artist, year, per_page, text=text)

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
    def title_score(self, title: str, result: dict[str, Any]) -> float:
        if self.parsed.work is not None:
            return max(
                title_similarity(self.title, title),
                title_similarity(self.parsed.work, title, loose=True),
            )
        loose = self.soundtrack and _is_soundtrack(result)
        return title_similarity(self.title, title, loose=loose)

    def artist_score(self, credit: str, title: str) -> tuple[float, str | None, tuple[str, ...]]:
        """(similarity, why it cannot match, the credit's performers) for a credit string."""
        if not self.artist_known:
            return (0.0 if self.strict else 1.0), None, ()
        if self.parsed.work is None:
            return artist_similarity(self.query.albumartist, credit, strict=self.strict), None, ()
        composers = self.parsed.composers
        names = _artist_parts(credit)
        credited = {composer_key(n) for n in names} | {
            t for t in normalize_title(title).split() if t in composers
        }
        if not composers & credited:
            return 0.0, f"composer {'/'.join(sorted(composers))} not credited", ()
        others = tuple(n for n in names if composer_key(n) not in composers)
        if not self.performers:
            return 1.0, None, others
        # Every performer the album names must be credited: the same work by another
        # orchestra under the same conductor is another recording.
        sims = [
            max((_performer_similarity(normalize_artist(p), o, self.strict) for o in others),
                default=0.0)
            for p in self.performers
        ]  # fmt: skip
        return min(sims), None, others

    def judge(self, results: Sequence[dict[str, Any]], step: str, searched_artist: bool) -> _Judged:
        judged = _Judged()
        for rank, result in enumerate(results):
            if result.get("type", "release") != "release" or not isinstance(
                result.get("title"), str
            ):
                continue
            shown = result["title"]
            credit, title = split_result_title(shown)
            title_sim = self.title_score(title, result)
            artist_sim, veto, performers = self.artist_score(credit, title)
            if searched_artist and artist_sim >= ARTIST_MIN:
                judged.artist_seen = True
            year_sim = (
                _year_similarity(self.query.year, result.get("year")) if self.query.year else None
            )
            score = _combine(title_sim, artist_sim, year_sim)
            candidate = _Candidate(result, score, rank, performers)
            if veto:
                verdict = veto
            elif title_sim < TITLE_MIN:
                verdict = f"title {title_sim:.2f} < {TITLE_MIN}"
            elif artist_sim < ARTIST_MIN:
                if_verified = _combine(title_sim, 1.0, year_sim)
                if searched_artist and if_verified >= self.threshold:
                    judged.unverified.append(dataclasses.replace(candidate, score=if_verified))
                    verdict = f"artist {artist_sim:.2f} < {ARTIST_MIN} as shown"
                else:
                    verdict = f"artist {artist_sim:.2f} < {ARTIST_MIN}"
            elif score < self.threshold:
                verdict = f"score {score:.2f} < threshold {self.threshold:.2f}"
            else:
                verdict = "passed"
                judged.accepted.append(candidate)
            self.note(step, result, title_sim, artist_sim, score, verdict)
        return judged

    def note(
        self,
        step: str,
        result: dict[str, Any],
        title_sim: float,
        artist_sim: float,
        score: float,
        verdict: str,
    ) -> None:
        self.considered.append(
            Considered(
                step,
                str(result.get("title", "")),
                _int_or_none(result.get("id")),
                str(result.get("year") or ""),
                round(title_sim, 3),
                round(artist_sim, 3),
                round(score, 3),
                verdict,
            )
        )

    def best(self, accepted: list[_Candidate]) -> _Candidate | None:
        """The winner among accepted candidates, unless a composer-only album artist leaves
        several performers' recordings equally good (then nothing: it cannot be told)."""
        if not accepted:
            return None
        winner = max(accepted, key=lambda c: c.sort_key)
        if self.parsed.work is not None and not self.performers:
            close = {c.performers for c in accepted if c.score >= winner.score - 0.05}
            if len(close) > 1:
                self.ambiguous = len(close)
                return None
        return winner

    # completion
    def from_release(
        self, release: dict[str, Any], score: float | None, found_by: FoundBy, reason: str
    ) -> LookupResult:
        artists = release.get("artists") or []
        shown = " & ".join(a.get("name", "") for a in artists if isinstance(a, dict))
        return self.complete(
            release.get("genres"),
            release.get("styles"),
            _int_or_none(release.get("id")),
            _int_or_none(release.get("master_id")),
            score,
            f"{shown} - {release.get('title', '')}",
            found_by,
            reason,
        )

    def from_candidate(self, candidate: _Candidate, found_by: FoundBy, why: str) -> LookupResult:
        result = candidate.result
        release_id = _int_or_none(result.get("id"))
        reason = f"{result.get('title')!s} scored {candidate.score:.2f}, {why}"
        if not isinstance(result.get("genre"), list) and release_id is not None:
            return self.from_release(self.release(release_id), candidate.score, found_by, reason)
        return self.complete(
            result.get("genre"),
            result.get("style"),
            release_id,
            _int_or_none(result.get("master_id")),
            candidate.score,
            result.get("title"),
            found_by,
            reason,
        )

    def complete(
        self,
        genres: Any,
        styles: Any,
        release_id: int | None,
        master_id: int | None,
        score: float | None,
        title: str | None,
        found_by: FoundBy,
        reason: str,
    ) -> LookupResult:
        genre_tags, style_tags = _tags(genres), _tags(styles)
        # Styles are often filled in on the master only; one extra call fetches them.
        if not style_tags and master_id is not None:
            master = self.master(master_id)
            if master is not None:
                style_tags = _tags(master.get("styles"))
                genre_tags = genre_tags or _tags(master.get("genres"))
        return LookupResult(
            "hit", genre_tags, style_tags, release_id, master_id, score, title, None,
            self.requests, found_by, reason, self.considered,
        )  # fmt: skip

    def miss(self, reason: str) -> LookupResult:
        return LookupResult(
            "miss", [], [], None, None, None, None, None, self.requests, None, reason,
            self.considered,
        )  # fmt: skip

    # steps
    def try_step(
        self,
        step: FoundBy,
        results: list[dict[str, Any]],
        *,
        searched_artist: bool,
    ) -> tuple[LookupResult | None, _Judged]:
        judged = self.judge(results, step, searched_artist)
        winner = self.best(judged.accepted)
        if winner is not None:
            others = sorted((c for c in judged.accepted if c is not winner), key=lambda c: -c.score)
            why = (
                f"the best of {len(judged.accepted)} that passed (next: "
                f"{others[0].result.get('title')!s} {others[0].score:.2f})"
                if others
                else "the only candidate that passed"
            )
            return self.from_candidate(winner, step, why), judged
        # The server's artist filter matched, our name comparison did not (an ANV or an alias
        # in another script): check the best such release's credited names, once.
        if judged.unverified and not self.verified:
            self.verified = True
            candidate = max(judged.unverified, key=lambda c: c.sort_key)
            release_id = _int_or_none(candidate.result.get("id"))
            if release_id is not None:
                try:
                    release = self.release(release_id)
                except DiscogsNotFound:
                    return None, judged
                if self.release_credits_match(release):
                    reason = (
                        f"{candidate.result.get('title')!s} scored {candidate.score:.2f} "
                        "once its credited names matched the album artist"
                    )
                    return self.from_release(release, candidate.score, "credit-check", reason), (
                        judged
                    )
        return None, judged

    def release_credits_match(self, release: dict[str, Any]) -> bool:
        """Whether the album artist is among the release's credits, by name or ANV."""
        names = [
            name
            for entry in release.get("artists") or []
            if isinstance(entry, dict)
            for name in (entry.get("name"), entry.get("anv"))
            if isinstance(name, str) and name
        ]
        if self.parsed.work is not None:
            artist_sim, veto, _ = self.artist_score(", ".join(names), str(release.get("title")))
            return veto is None and artist_sim >= ARTIST_MIN
        return any(
            artist_similarity(self.query.albumartist, name, strict=self.strict) >= ARTIST_MIN
            for name in names
        )

    def translated(self, results: list[dict[str, Any]]) -> LookupResult | None:
        """A soundtrack Discogs lists under its original title only: accepted when it is the
        artist's only soundtrack of that year and its title shares a word with the album's or
        is in another script. The results come from a search filtered by the artist; a
        credit shown differently (an ANV in another script) is checked on the release."""
        soundtracks: dict[int, dict[str, Any]] = {}
        for result in results:
            if _is_soundtrack(result) and str(result.get("year", "")) == str(self.query.year):
                key = _int_or_none(result.get("master_id")) or _int_or_none(result.get("id"))
                soundtracks.setdefault(key or 0, result)
        if len(soundtracks) != 1:
            return None
        (result,) = soundtracks.values()
        credit, title = split_result_title(str(result.get("title", "")))
        if _has_latin_letters(title) and not _content_words(title) & _content_words(self.title):
            return None
        verdict = f"translated title: the artist's only soundtrack of {self.query.year}"
        artist_sim, _, _ = self.artist_score(credit, title)
        score = _combine(TITLE_MIN, max(artist_sim, ARTIST_MIN), 1.0)
        if score < self.threshold:
            return None
        self.note("artist+year", result, TITLE_MIN, artist_sim, score, verdict)
        if artist_sim >= ARTIST_MIN:
            return self.from_candidate(_Candidate(result, score, 0), "artist+year", verdict)
        release_id = _int_or_none(result.get("id"))
        if release_id is None or self.verified:
            return None
        self.verified = True
        release = self.release(release_id)
        if not self.release_credits_match(release):
            return None
        return self.from_release(release, score, "artist+year", verdict + ", credits checked")

    def run(self) -> LookupResult:
        query = self.query
        if query.discogs_release_id:
            try:
                release = self.release(query.discogs_release_id)
                return self.from_release(release, None, "release-id", "discogs_albumid is set")
            except DiscogsNotFound:
                pass  # a stale id: find the album by searching instead
        if not self.artist_known and self.strict:
            return self.miss("no album artist, and --strict-artist needs one")
        classical = self.parsed.work is not None
        search_title = self.parsed.work if self.parsed.work is not None else self.title
        artist_seen = False
        if self.search_artist:
            results = self.search(search_title, self.search_artist)
            hit, judged = self.try_step("artist+title", results, searched_artist=True)
            if hit is not None:
                return hit
            artist_seen = judged.artist_seen
        if self.ambiguous:
            return self.miss(self.miss_reason(""))
        if classical and self.performers:
            # Work titles differ by language and wording; the performer's recordings of the
            # composer, scored by words and catalogue numbers, find it where the title
            # search cannot.
            composers = " ".join(sorted(self.parsed.composers))
            results = self.search(None, self.search_artist, text=composers,
                                  per_page=COMPOSER_PER_PAGE)  # fmt: skip
            hit, _ = self.try_step("performer+composer", results, searched_artist=True)
            if hit is not None:
                return hit
            return self.miss(self.miss_reason("no recording by these performers matched"))
        if classical:
            return self.miss(self.miss_reason("no recording of this work matched"))
        if self.soundtrack and self.search_artist and query.year:
            results = self.search(None, self.search_artist, query.year)
            hit, judged = self.try_step("artist+year", results, searched_artist=True)
            if hit is None:
                hit = self.translated(results)
            if hit is not None:
                return hit
        if artist_seen:
            # Discogs knows the artist by this name and lists no such title: any other
            # search would only find the title by others.
            return self.miss(self.miss_reason("the artist is on Discogs, this title is not"))
        names = [p.strip() for p in _ARTIST_SPLIT.split(self.search_artist or "") if p.strip()]
        if len(names) > 1 and not self.considered:
            # "Tom Petty & The Heartbreakers" may be credited to "Tom Petty" alone.
            results = self.search(search_title, names[0])
            hit, _ = self.try_step("first-artist", results, searched_artist=True)
            if hit is not None:
                return hit
        if self.artist_known:
            # A search without the artist found nothing on the benchmark libraries and cost
            # a request for every absent album (docs/benchmarks-discogs.md): not spent.
            return self.miss(self.miss_reason("nothing by this artist matched"))
        if not is_distinctive_title(self.title):
            return self.miss("no album artist, and the title is too generic to search alone")
        hit, _ = self.try_step("title-only", self.search(self.title, None), searched_artist=False)
        return hit or self.miss(self.miss_reason("nothing matched"))

    def miss_reason(self, default: str) -> str:
        if self.ambiguous:
            return (
                f"{self.ambiguous} recordings by different performers fit and the album artist "
                "names only the composer"
            )
        if not self.considered:
            return f"{default} (no search results)"
        best = max(self.considered, key=lambda c: c.score)
        return f"{default}; closest: {best.shown} ({best.verdict})"


def lookup_album(
    client: DiscogsClient,
    query: AlbumQuery,
    *,
    threshold: float = 0.55,
    strict_artist: bool = False,
) -> LookupResult:
    """Find ``query`` on Discogs and return its genres and styles.

    Albums with a ``discogs_release_id`` are fetched directly. Otherwise one search by
    artist and cleaned title (for a classical "Composer: Work": performer and work); the best
    candidate whose title and artist match and whose score (0.6 title + 0.3 artist + 0.1 year)
    reaches ``threshold`` wins. Fallbacks only where they can still find the album: the
    performer's recordings of the composer (classical), the artist's releases of the year
    (soundtracks under a translated title), a search without the artist (distinctive titles,
    and only when the artist search did not show the artist under this name).
    ``strict_artist`` accepts only full artist-name matches. "miss" means Discogs answered and
    nothing matched; "error" means a request failed after retries (never reported as a miss).
    """
    lookup = _Lookup(client, query, threshold, strict_artist)
    try:
        return lookup.run()
    except DiscogsError as exc:
        return LookupResult(
            "error", [], [], None, None, None, None, str(exc), lookup.requests, None,
            "a request failed", lookup.considered,
        )  # fmt: skip


def explain(result: LookupResult, *, limit: int = 8) -> list[str]:
    """Lines for ``-v``: the candidates considered, best first, and the decision."""
    lines = []
    ranked = sorted(result.considered, key=lambda c: -c.score)
    for c in ranked[:limit]:
        verdict = c.verdict
        if verdict == "passed":
            won = result.status == "hit" and c.release_id == result.release_id
            # A candidate that passed ends in a miss only when several recordings tie.
            verdict = (
                "won"
                if won
                else "passed, but not the best"
                if result.status == "hit"
                else "passed, but so did others"
            )
        lines.append(
            f"  {c.score:.2f} (title {c.title_sim:.2f}, artist {c.artist_sim:.2f}) "
            f"{c.shown} [{c.year or '?'}, r{c.release_id}, {c.step}]: {verdict}"
        )
    if len(ranked) > limit:
        lines.append(f"  … {len(ranked) - limit} more candidates")
    verdict = {"hit": "won", "miss": "no match", "error": "error"}[result.status]
    lines.append(f"  -> {verdict}: {result.reason or result.error or ''}")
    return lines
