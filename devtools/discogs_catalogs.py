"""Catalogs for the Discogs stand-in: the demo, a throughput generator, an adversarial set.

All data here is written for this project (invented ids, counts and labels); genres and styles
follow Discogs' vocabulary.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from devtools.discogs_standin import Catalog

__all__ = [
    "LibraryAlbum",
    "adversarial_catalog",
    "demo_catalog",
    "demo_library",
    "mixed_catalog",
    "throughput_catalog",
]


@dataclasses.dataclass(frozen=True)
class LibraryAlbum:
    """An album as a library holds it, with the tags a correct lookup returns.

    ``present=False`` means the album is not on Discogs (expected: a miss, no tags).
    Genres and styles are lower-case, as `lookup_album` returns them.
    """

    albumartist: str
    album: str
    year: int | None
    genres: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    present: bool = True
    case: str = ""
    albumtypes: tuple[str, ...] = ()


def _lower(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.lower() for v in values)


# -- (a) demo -----------------------------------------------------------------------------------


def demo_catalog() -> Catalog:
    """The catalog behind the demo library.

    Albums the demo library holds (library title → Discogs):

    - Kraftwerk – Computer World (1981): Electronic; Synth-pop, Electro. Two editions (1981
      original, 2009 remaster) under one master.
    - Björk – Homogenic (1997): Electronic; Trip Hop, Experimental.
    - 坂本龍一 – 音楽図鑑 (1984): Electronic, Jazz; Ambient, Synth-pop. Credited to
      "Ryuichi Sakamoto" with the ANV "坂本龍一", titled "音楽図鑑 = Illustrated Musical
      Encyclopedia", so the library artist matches in either script.
    - Daft Punk – Discovery (Deluxe Edition) (2001): Electronic; House, Disco. The release
      carries no styles; they are on its master (one extra request).
    - Miles Davis – Kind of Blue (1959): Jazz; Modal, Cool Jazz.
    - The Nobodies – Garage Tapes: not on Discogs (a miss).

    Distractors: "Discovery" by Electric Light Orchestra and by Mike Oldfield, and
    "Greatest Hits" by Queen, ABBA and Kraftwerk's neighbours, so title-only matching fails.
    """
    catalog = Catalog()
    catalog.add_album(
        "Kraftwerk",
        "Computer World",
        1981,
        ["Electronic"],
        ["Synth-pop", "Electro"],
        reissue_years=[2009],
    )
    catalog.add_album("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop", "Experimental"])
    catalog.add_album(
        "Ryuichi Sakamoto",
        "音楽図鑑 = Illustrated Musical Encyclopedia",
        1984,
        ["Electronic", "Jazz"],
        ["Ambient", "Synth-pop"],
        anv="坂本龍一",
    )
    catalog.add_album(
        "Daft Punk", "Discovery", 2001, ["Electronic"], ["House", "Disco"], release_styles=[]
    )
    catalog.add_album(
        "Miles Davis", "Kind Of Blue", 1959, ["Jazz"], ["Modal", "Cool Jazz"], reissue_years=[1997]
    )
    # Distractors.
    catalog.add_album("Electric Light Orchestra", "Discovery", 1979, ["Rock"], ["Pop Rock"])
    catalog.add_album("Mike Oldfield", "Discovery", 1984, ["Rock", "Pop"], ["Prog Rock"])
    catalog.add_album("Queen", "Greatest Hits", 1981, ["Rock"], ["Pop Rock", "Arena Rock"])
    catalog.add_album("ABBA", "Greatest Hits", 1975, ["Pop"], ["Europop", "Disco"])
    catalog.add_album("Various", "Greatest Hits Of The 80's", 1989, ["Pop"], ["Synth-pop"])
    catalog.add_album("Kraftwerk", "The Mix", 1991, ["Electronic"], ["Electro", "Techno"])
    return catalog


def demo_library() -> list[LibraryAlbum]:
    """The demo library's albums with the tags `demo_catalog` should give them."""
    return [
        LibraryAlbum(
            "Kraftwerk", "Computer World", 1981, ("electronic",), ("synth-pop", "electro")
        ),
        LibraryAlbum("Björk", "Homogenic", 1997, ("electronic",), ("trip hop", "experimental")),
        LibraryAlbum(
            "坂本龍一", "音楽図鑑", 1984, ("electronic", "jazz"), ("ambient", "synth-pop")
        ),
        LibraryAlbum(
            "Daft Punk", "Discovery (Deluxe Edition)", 2001, ("electronic",), ("house", "disco")
        ),
        LibraryAlbum("Miles Davis", "Kind of Blue", 1959, ("jazz",), ("modal", "cool jazz")),
        LibraryAlbum("The Nobodies", "Garage Tapes", 2020, present=False),
    ]


# -- (b) throughput -----------------------------------------------------------------------------

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "sa",
    "to",
    "vel",
    "dra",
    "nor",
    "quin",
    "bel",
    "tas",
    "ori",
    "fen",
    "gal",
    "mur",
    "zen",
    "pia",
    "ros",
    "lun",
)
_WORDS = (
    "night",
    "river",
    "glass",
    "echo",
    "summer",
    "machine",
    "static",
    "golden",
    "northern",
    "silent",
    "paper",
    "city",
    "engine",
    "velvet",
    "hollow",
    "distant",
    "ocean",
    "fever",
    "signal",
    "garden",
    "winter",
    "broken",
    "electric",
    "morning",
    "shadow",
    "crystal",
    "lantern",
    "harbor",
    "motion",
    "desert",
    "orbit",
)
_GENRES = [
    ("Electronic", ["Techno", "House", "Ambient", "Synth-pop", "Electro", "IDM"]),
    ("Rock", ["Indie Rock", "Post-Punk", "Shoegaze", "Prog Rock", "Garage Rock"]),
    ("Jazz", ["Hard Bop", "Modal", "Fusion", "Cool Jazz", "Free Jazz"]),
    ("Hip Hop", ["Boom Bap", "Trip Hop", "Instrumental"]),
    ("Folk, World, & Country", ["Folk", "Americana", "Bluegrass"]),
    ("Classical", ["Modern", "Baroque", "Romantic"]),
]


def throughput_catalog(
    n_albums: int,
    *,
    seed: int = 0,
    absent_fraction: float = 0.05,
    master_styles_fraction: float = 0.05,
) -> tuple[Catalog, list[LibraryAlbum]]:
    """A catalog of about ``n_albums`` invented albums plus the library that looks them up.

    A share of library albums is absent from the catalog (misses), a share has its styles on
    the master only, a few carry edition noise in their library title, and every album has an
    extra reissue, so the costs per album resemble a real library's.
    """
    rng = random.Random(seed)
    catalog = Catalog()
    library: list[LibraryAlbum] = []
    seen: set[tuple[str, str]] = set()
    while len(library) < n_albums:
        artist = " ".join(
            "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
            for _ in range(rng.randint(1, 2))
        )
        title = " ".join(rng.choice(_WORDS).capitalize() for _ in range(rng.randint(1, 3)))
        if (artist, title) in seen:
            continue
        seen.add((artist, title))
        genre, style_pool = rng.choice(_GENRES)
        styles = rng.sample(style_pool, 2)
        year = rng.randint(1960, 2022)
        library_title = title + rng.choice(["", "", "", "", " (Deluxe Edition)", " (Remastered)"])
        if rng.random() < absent_fraction:
            library.append(LibraryAlbum(artist, library_title, year, present=False, case="absent"))
            continue
        master_only = rng.random() < master_styles_fraction
        catalog.add_album(
            artist,
            title,
            year,
            [genre],
            styles,
            reissue_years=[min(year + rng.randint(5, 30), 2024)],
            release_styles=[] if master_only else None,
        )
        library.append(
            LibraryAlbum(
                artist,
                library_title,
                year,
                _lower([genre]),
                _lower(styles),
                case="master-styles" if master_only else "plain",
            )
        )
    return catalog, library


# -- (b2) a mixed library for request economy ---------------------------------------------------

_COMPOSER_NAMES = [
    ("Johann Sebastian Bach", "Bach"), ("Ludwig van Beethoven", "Beethoven"),
    ("Wolfgang Amadeus Mozart", "Mozart"), ("Johannes Brahms", "Brahms"),
    ("Franz Schubert", "Schubert"), ("Joseph Haydn", "Haydn"),
    ("Antonín Dvořák", "Dvořák"), ("Pyotr Ilyich Tchaikovsky", "Tchaikovsky"),
]  # fmt: skip
# (English form, German form Discogs may title the release with)
_WORK_FORMS = [
    ("Symphony No. {n}", "Sinfonie Nr. {n}"),
    ("Piano Concerto No. {n}", "Klavierkonzert Nr. {n}"),
    ("String Quartet No. {n}", "Streichquartett Nr. {n}"),
    ("Piano Sonata No. {n}", "Klaviersonate Nr. {n}"),
    ("Violin Sonata No. {n}", "Violinsonate Nr. {n}"),
]
_ENSEMBLES = ["Philharmoniker", "Symphony Orchestra", "Chamber Orchestra", "Quartet"]
_ACCENTED = str.maketrans("aeiouc", "áéíöüç")


def mixed_catalog(
    n_albums: int,
    *,
    seed: int = 0,
    absent: float = 0.08,
    master_styles: float = 0.05,
    classical: float = 0.10,
    soundtrack: float = 0.07,
    non_ascii: float = 0.08,
    decoy: float = 0.10,
) -> tuple[Catalog, list[LibraryAlbum]]:
    """A catalog and a library of ``n_albums`` invented albums of every kind a library holds.

    Cases (``LibraryAlbum.case``), by share: ``absent`` (half by an artist Discogs knows under
    another album, half by an unknown artist), ``master-styles``, ``classical`` ("Composer:
    Work" with the performer as album artist; Discogs credits "Composer, Performer", titles
    half of them in German with an opus number, and holds another performer's recording of
    the same work), ``soundtrack`` (composer as artist, Discogs title "Original / English" or
    "Original = English"), ``non-ascii`` (accented on Discogs, plain in the tags), ``decoy``
    (the same title by another artist next to it), and ``plain`` (a few with edition noise).
    Every album has a reissue.
    """
    rng = random.Random(seed)
    catalog = Catalog()
    library: list[LibraryAlbum] = []
    seen: set[str] = set()

    def name(parts: tuple[int, int] = (1, 2)) -> str:
        while True:
            made = " ".join(
                "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
                for _ in range(rng.randint(*parts))
            )
            if made not in seen:
                seen.add(made)
                return made

    def title() -> str:
        while True:
            made = " ".join(rng.choice(_WORDS).capitalize() for _ in range(rng.randint(2, 3)))
            if made not in seen:
                seen.add(made)
                return made

    def add(artist: str | list[str], album_title: str, year: int, genre: str,
            styles: list[str], *, join: str = "&", master_only: bool = False) -> None:  # fmt: skip
        catalog.add_album(artist, album_title, year, [genre], styles, join=join,
                          reissue_years=[min(year + rng.randint(5, 30), 2024)],
                          release_styles=[] if master_only else None)  # fmt: skip

    cases = ["absent", "master-styles", "classical", "soundtrack", "non-ascii", "decoy"]
    weights = [absent, master_styles, classical, soundtrack, non_ascii, decoy]
    weights.append(max(0.0, 1.0 - sum(weights)))
    known_artists: list[str] = []
    while len(library) < n_albums:
        case = rng.choices([*cases, "plain"], weights)[0]
        genre, style_pool = rng.choice(_GENRES)
        styles = rng.sample(style_pool, 2)
        year = rng.randint(1960, 2022)
        tags = (genre.lower(),), tuple(s.lower() for s in styles)
        if case == "absent":
            artist = rng.choice(known_artists) if known_artists and rng.random() < 0.5 else name()
            library.append(LibraryAlbum(artist, title(), year, present=False, case=case))
        elif case == "classical":
            composer, surname = rng.choice(_COMPOSER_NAMES)
            english, german = rng.choice(_WORK_FORMS)
            number, opus = rng.randint(1, 9), rng.randint(10, 130)
            performer = f"{name((1, 1))} {rng.choice(_ENSEMBLES)}"
            discogs_title = (
                f"{german.format(n=number)} op. {opus}"
                if rng.random() < 0.5
                else english.format(n=number)
            )
            work_styles = ["Romantic", rng.choice(["Orchestral", "Chamber Music", "Piano"])]
            add([composer, performer], discogs_title, year, "Classical", work_styles, join=",")
            add([composer, f"{name((1, 1))} {rng.choice(_ENSEMBLES)}"], discogs_title,
                year + rng.randint(-10, 10), "Classical", ["Romantic"], join=",")  # fmt: skip
            opus_tag = f", Op. {opus}" if rng.random() < 0.5 else ""
            library.append(
                LibraryAlbum(
                    performer,
                    f"{surname}: {english.format(n=number)}{opus_tag}",
                    year,
                    ("classical",),
                    tuple(s.lower() for s in work_styles),
                    case=case,
                )
            )
        elif case == "soundtrack":
            composer, english, original = name(), title(), name((2, 3))
            joiner = rng.choice([" / ", " = "])
            add(composer, f"{original}{joiner}{english}", year, "Stage & Screen", ["Soundtrack"])
            library.append(
                LibraryAlbum(
                    composer,
                    f"{english} (Original Motion Picture Soundtrack)",
                    year,
                    ("stage & screen",),
                    ("soundtrack",),
                    case=case,
                    albumtypes=("album", "soundtrack"),
                )
            )
        else:
            artist, album_title = name(), title()
            shown_artist = artist
            if case == "non-ascii":
                shown_artist = artist.translate(_ACCENTED)
            add(shown_artist, album_title, year, genre, styles,
                master_only=case == "master-styles")  # fmt: skip
            if case == "decoy":
                other_genre, other_pool = rng.choice(_GENRES)
                add(name(), album_title, year + rng.randint(-3, 3), other_genre,
                    other_pool[:1])  # fmt: skip
            noise = rng.choice(["", "", "", "", " (Deluxe Edition)", " (Remastered)"])
            library.append(LibraryAlbum(artist, album_title + noise, year, *tags, case=case))
            known_artists.append(artist)
    return catalog, library


# -- (c) adversarial ----------------------------------------------------------------------------


def adversarial_catalog() -> tuple[Catalog, list[LibraryAlbum]]:
    """A catalog full of traps plus a library of more than 80 albums with the expected tags.

    Traps: the same title by many artists ("Greatest Hits", one-word titles), several
    editions of one master with edition noise in library titles, "Various" compilations
    with numbered volumes, absent albums whose title (or a near title) exists by another
    artist, non-ASCII names in either spelling, ANVs and "(2)" artist suffixes, inverted
    "X, The" names, collaborations, library years no edition has, and releases whose styles
    exist only on the master.
    """
    catalog = Catalog()
    library: list[LibraryAlbum] = []

    def album(
        artist: str,
        title: str,
        year: int,
        genres: list[str],
        styles: list[str],
        *,
        as_library: tuple[str, str, int | None] | None = None,
        case: str,
        anv: str | None = None,
        reissue_years: Sequence[int] = (),
        master_only: bool = False,
    ) -> None:
        """Add to the catalog; with ``as_library`` also to the library as (artist, title, year)."""
        catalog.add_album(
            artist,
            title,
            year,
            genres,
            styles,
            anv=anv,
            reissue_years=reissue_years,
            release_styles=[] if master_only else None,
        )
        if as_library is not None:
            lib_artist, lib_title, lib_year = as_library
            library.append(
                LibraryAlbum(
                    lib_artist, lib_title, lib_year, _lower(genres), _lower(styles), case=case
                )
            )

    def absent(artist: str, title: str, year: int | None, case: str) -> None:
        library.append(LibraryAlbum(artist, title, year, present=False, case=case))

    # Same title, many artists: "Greatest Hits".
    hits = [
        ("Queen", 1981, ["Rock"], ["Pop Rock", "Arena Rock"]),
        ("ABBA", 1975, ["Pop"], ["Europop", "Disco"]),
        ("Bob Marley & The Wailers", 1984, ["Reggae"], ["Roots Reggae"]),
        ("Fleetwood Mac", 1988, ["Rock"], ["Soft Rock"]),
        ("Eurythmics", 1991, ["Electronic", "Pop"], ["Synth-pop"]),
        ("Guns N' Roses", 2004, ["Rock"], ["Hard Rock"]),
        ("Al Green", 1975, ["Funk / Soul"], ["Soul"]),
        ("The Cure", 2001, ["Rock"], ["New Wave", "Post-Punk"]),
    ]
    for i, (artist, year, genres, styles) in enumerate(hits):
        lib = (artist, "Greatest Hits", year) if i < 6 else None
        album(artist, "Greatest Hits", year, genres, styles, as_library=lib, case="same-title")
    album(
        "Eagles",
        "Their Greatest Hits 1971-1975",
        1976,
        ["Rock"],
        ["Country Rock"],
        as_library=("Eagles", "Their Greatest Hits 1971–1975", 1976),
        case="same-title",
    )
    for artist in ("Shania Twain", "The Nobodies", "Lynyrd Skynyrd"):
        absent(artist, "Greatest Hits", None, "absent-same-title")
    absent("Kenny Rogers", "Greatest Hits", 1980, "absent-same-title")

    # One-word titles by several artists.
    one_word = [
        ("Daft Punk", "Discovery", 2001, ["Electronic"], ["House", "Disco"], True),
        ("Electric Light Orchestra", "Discovery", 1979, ["Rock"], ["Pop Rock"], True),
        ("Mike Oldfield", "Discovery", 1984, ["Rock", "Pop"], ["Prog Rock"], False),
        ("Joni Mitchell", "Blue", 1971, ["Folk, World, & Country"], ["Folk"], True),
        ("Weezer", "Weezer", 1994, ["Rock"], ["Alternative Rock", "Power Pop"], True),
        ("Rammstein", "Mutter", 2001, ["Rock"], ["Industrial", "Heavy Metal"], True),
        ("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop", "Experimental"], False),
        ("Madonna", "Music", 2000, ["Electronic", "Pop"], ["Electro", "Dance-pop"], True),
        ("Nirvana", "Nevermind", 1991, ["Rock"], ["Grunge"], True),
        ("Pearl Jam", "Ten", 1991, ["Rock"], ["Grunge", "Alternative Rock"], True),
        ("Adele", "21", 2011, ["Pop", "Funk / Soul"], ["Soul", "Ballad"], True),
        ("Adele", "25", 2015, ["Pop"], ["Ballad"], False),
        ("Led Zeppelin", "Led Zeppelin IV", 1971, ["Rock"], ["Hard Rock", "Blues Rock"], True),
        ("Led Zeppelin", "Led Zeppelin III", 1970, ["Rock"], ["Hard Rock", "Folk Rock"], False),
    ]
    for artist, title, year, genres, styles, in_library in one_word:
        lib = (artist, title, year) if in_library else None
        album(artist, title, year, genres, styles, as_library=lib, case="one-word")
    absent("Ace Of Base", "Music", 1998, "absent-same-title")
    absent("Sleeping Dogs", "Discovery", 2012, "absent-same-title")
    absent("Coldplay", "Blue", 2009, "absent-same-title")
    absent("Pearl Jam", "Twenty", 2011, "absent-near-title")
    absent("Adele", "19", 2008, "absent-near-title")
    absent("Led Zeppelin", "Led Zeppelin II", 1969, "absent-near-title")

    # Several editions of one master; edition noise in the library title.
    editions = [
        ("Pink Floyd", "The Dark Side Of The Moon", 1973, ["Rock"], ["Prog Rock"],
         "The Dark Side of the Moon (2011 Remaster)", 2011, [1984, 2011]),
        ("The Beatles", "Abbey Road", 1969, ["Rock"], ["Pop Rock"],
         "Abbey Road (Super Deluxe Edition)", 2019, [1987, 2019]),
        ("Nirvana", "In Utero", 1993, ["Rock"], ["Grunge"],
         "In Utero - 20th Anniversary Edition", 2013, [2013]),
        ("Oasis", "(What's The Story) Morning Glory?", 1995, ["Rock"], ["Britpop"],
         "(What's the Story) Morning Glory? [Remastered]", 2014, [2014]),
        ("Portishead", "Dummy", 1994, ["Electronic"], ["Trip Hop"],
         "Dummy (Japan Version)", 1994, [1995]),
        ("R.E.M.", "Automatic For The People", 1992, ["Rock"], ["Alternative Rock"],
         "Automatic for the People (25th Anniversary Edition)", 2017, [2017]),
        ("The Stone Roses", "The Stone Roses", 1989, ["Rock"], ["Indie Rock", "Madchester"],
         "The Stone Roses (Collector's Edition)", 2009, [1999, 2009]),
        ("Massive Attack", "Blue Lines", 1991, ["Electronic"], ["Trip Hop"],
         "Blue Lines - 2012 Mix/Master", 2012, [2012]),
        ("Talking Heads", "Remain In Light", 1980, ["Rock"], ["New Wave", "Art Rock"],
         "Remain in Light (Deluxe Version)", 2006, [2006]),
        ("The Clash", "London Calling", 1979, ["Rock"], ["Punk"],
         "London Calling (Legacy Edition)", 2004, [2004]),
        ("Prince", "Purple Rain", 1984, ["Funk / Soul", "Pop"], ["Pop Rock", "Funk"],
         "Purple Rain (Deluxe Expanded Edition)", 2017, [2017]),
        ("Stevie Wonder", "Songs In The Key Of Life", 1976, ["Funk / Soul"], ["Soul"],
         "Songs in the Key of Life", 2000, [1990]),  # no 2000 edition: second search
        ("Kate Bush", "Hounds Of Love", 1985, ["Electronic", "Rock"], ["Art Rock"],
         "Hounds of Love (Remastered)", None, [2018]),
    ]  # fmt: skip
    for artist, title, year, genres, styles, lib_title, lib_year, reissues in editions:
        album(
            artist,
            title,
            year,
            genres,
            styles,
            reissue_years=reissues,
            as_library=(artist, lib_title, lib_year),
            case="editions",
        )

    # Compilations credited to "Various", numbered volumes.
    for volume, year, styles in [
        ("Uno", 1994, ["Ambient", "Downtempo"]),
        ("Dos", 1995, ["Ambient", "Balearic"]),
        ("Tres", 1996, ["Downtempo", "Chillout"]),
    ]:
        album(
            "Various",
            f"Café Del Mar Volumen {volume}",
            year,
            ["Electronic"],
            styles,
            as_library=("Various Artists", f"Café del Mar Volumen {volume}", year),
            case="various",
        )
    for number, year, styles in [(1, 1998, ["Techno"]), (2, 1999, ["Tech House"])]:
        album(
            "Various",
            f"Cocoon Compilation Vol. {number}",
            year,
            ["Electronic"],
            styles,
            as_library=("Various Artists", f"Cocoon Compilation, Volume {number}", year),
            case="various",
        )
    album("Various", "Pure Moods", 1994, ["Electronic", "New Age"], ["Ambient"],
          as_library=("VA", "Pure Moods", 1994), case="various")  # fmt: skip
    absent("Various Artists", "Café del Mar Volumen Cuatro", 1997, "absent-near-title")
    absent("Various Artists", "Cocoon Compilation, Volume 3", 2000, "absent-near-title")
    absent("Various Artists", "Pure Moods II", 1997, "absent-near-title")

    # Absent albums whose title (or a near one) exists by another artist.
    album("Boards Of Canada", "Music Has The Right To Children", 1998, ["Electronic"],
          ["IDM", "Downtempo"],
          as_library=("Boards of Canada", "Music Has the Right to Children", 1998),
          case="plain")  # fmt: skip
    album("Aphex Twin", "Selected Ambient Works 85-92", 1992, ["Electronic"],
          ["Ambient", "Techno"], as_library=("Aphex Twin", "Selected Ambient Works 85-92", 1992),
          case="plain")  # fmt: skip
    album("Brian Eno", "Music For Airports", 1978, ["Electronic"], ["Ambient"],
          as_library=("Brian Eno", "Music for Airports", 1978), case="plain")  # fmt: skip
    absent("Hollow Stars", "Blue Lines", 2015, "absent-other-artist")
    absent("The Airport Band", "Music for Airports", 2003, "absent-other-artist")
    absent("Massive Attack", "Blue Lines Live", 2016, "absent-near-title")
    absent("Aphex Twin", "Selected Ambient Works Volume II", 1994, "absent-near-title")
    absent("Kid Rodeo", "Music Has the Right to Children", 2019, "absent-other-artist")
    absent("Boards of Canada", "Music Has the Right", 2001, "absent-near-title")

    # Non-ASCII names, either spelling; ANVs; scripts.
    album("Sigur Rós", "Ágætis Byrjun", 1999, ["Rock"], ["Post Rock"],
          as_library=("Sigur Ros", "Agaetis Byrjun", 1999), case="non-ascii")  # fmt: skip
    album("Motörhead", "Ace Of Spades", 1980, ["Rock"], ["Heavy Metal"],
          as_library=("Motorhead", "Ace of Spades", 1980), case="non-ascii")  # fmt: skip
    album("Beyonce", "Lemonade", 2016, ["Hip Hop", "Funk / Soul"], ["Contemporary R&B"],
          as_library=("Beyoncé", "Lemonade", 2016), case="non-ascii")  # fmt: skip
    album("Ólafur Arnalds", "Living Room Songs", 2011, ["Classical"], ["Modern"],
          as_library=("Olafur Arnalds", "Living Room Songs", 2011), case="non-ascii")  # fmt: skip
    album("Françoise Hardy", "La Question", 1971, ["Pop"], ["Chanson"],
          as_library=("Francoise Hardy", "La question", 1971), case="non-ascii")  # fmt: skip
    album("Ryuichi Sakamoto", "音楽図鑑 = Illustrated Musical Encyclopedia", 1984,
          ["Electronic", "Jazz"], ["Ambient", "Synth-pop"], anv="坂本龍一",
          as_library=("坂本龍一", "音楽図鑑", 1984), case="non-ascii")  # fmt: skip
    album("Ryuichi Sakamoto", "Thousand Knives Of = 千のナイフ", 1978, ["Electronic"],
          ["Synth-pop", "Experimental"], anv="坂本龍一",
          as_library=("Ryuichi Sakamoto", "千のナイフ", 1978), case="non-ascii")  # fmt: skip
    album("Yellow Magic Orchestra", "Solid State Survivor", 1979, ["Electronic"],
          ["Synth-pop"], anv="イエロー・マジック・オーケストラ",
          as_library=("Yellow Magic Orchestra", "Solid State Survivor", 1979),
          case="non-ascii")  # fmt: skip
    album("Björk", "Debut", 1993, ["Electronic", "Pop"], ["House", "Downtempo"],
          as_library=("Bjork", "Debut", 1993), case="non-ascii")  # fmt: skip
    album("Mötley Crüe", "Dr. Feelgood", 1989, ["Rock"], ["Hard Rock", "Glam"],
          as_library=("Motley Crue", "Dr. Feelgood", 1989), case="non-ascii")  # fmt: skip
    album("Sigur Rós", "Takk...", 2005, ["Rock"], ["Post Rock"],
          as_library=("Sigur Rós", "Takk…", 2005), case="non-ascii")  # fmt: skip
    absent("Björk", "Homogenic Live", 1998, "absent-near-title")
    absent("Sigur Rós", "Ágætis Byrjun – A Good Beginning", 2024, "absent-near-title")

    # Discogs naming: "(2)" suffixes, ANV "*", inverted "X, The", collaborations.
    album("Nirvana (2)", "The Story Of Simon Simopath", 1967, ["Rock"], ["Psychedelic Rock"],
          as_library=("Nirvana", "The Story of Simon Simopath", 1967), case="naming")  # fmt: skip
    album("Persuader, The", "Stockholm", 1999, ["Electronic"], ["Deep House"],
          as_library=("The Persuader", "Stockholm", 1999), case="naming")  # fmt: skip
    album("Prince And The Revolution", "Around The World In A Day", 1985, ["Funk / Soul"],
          ["Psychedelic", "Pop Rock"],
          as_library=("Prince", "Around the World in a Day", 1985), case="naming")  # fmt: skip
    album("Bob Marley & The Wailers", "Exodus", 1977, ["Reggae"], ["Roots Reggae"],
          as_library=("Bob Marley", "Exodus", 1977), case="naming")  # fmt: skip
    album("Lou Reed & Metallica", "Lulu", 2011, ["Rock"], ["Art Rock", "Heavy Metal"],
          as_library=("Lou Reed & Metallica", "Lulu", 2011), case="naming")  # fmt: skip
    album("Simon & Garfunkel", "Bridge Over Troubled Water", 1970, ["Rock", "Pop"],
          ["Folk Rock"], as_library=("Simon and Garfunkel", "Bridge over Troubled Water", 1970),
          case="naming")  # fmt: skip
    album("DJ Shadow", "Endtroducing.....", 1996, ["Electronic", "Hip Hop"],
          ["Trip Hop", "Downtempo"], anv="DJ Shadow",
          as_library=("DJ Shadow", "Endtroducing.....", 1996), case="naming")  # fmt: skip
    album("The Beatles", "Revolver", 1966, ["Rock"], ["Psychedelic Rock"],
          as_library=("Beatles", "Revolver", 1966), case="naming")  # fmt: skip
    album("Tom Petty", "Full Moon Fever", 1989, ["Rock"], ["Heartland Rock"],
          as_library=("Tom Petty & The Heartbreakers", "Full Moon Fever", 1989),
          case="naming")  # fmt: skip
    absent("Nirvana", "Bleach Live", 1990, "absent-near-title")

    # Styles only on the master.
    for artist, title, year, genres, styles in [
        ("Radiohead", "OK Computer", 1997, ["Rock"], ["Alternative Rock", "Art Rock"]),
        ("Air", "Moon Safari", 1998, ["Electronic"], ["Downtempo", "Ambient"]),
        ("Miles Davis", "Kind Of Blue", 1959, ["Jazz"], ["Modal", "Cool Jazz"]),
        ("John Coltrane", "A Love Supreme", 1965, ["Jazz"], ["Free Jazz", "Hard Bop"]),
        ("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop", "Electro"]),
        ("Burial", "Untrue", 2007, ["Electronic"], ["Dubstep", "UK Garage"]),
    ]:
        album(artist, title, year, genres, styles, master_only=True,
              as_library=(artist, title, year), case="master-styles")  # fmt: skip
    absent("Radiohead", "OK Computer Live", 1998, "absent-near-title")

    # Plain albums, some with one near neighbour by the same artist.
    plain = [
        ("Fleetwood Mac", "Rumours", 1977, ["Rock"], ["Soft Rock"]),
        ("Fleetwood Mac", "Tusk", 1979, ["Rock"], ["Pop Rock"]),
        ("Joy Division", "Unknown Pleasures", 1979, ["Rock"], ["Post-Punk"]),
        ("Joy Division", "Closer", 1980, ["Rock"], ["Post-Punk"]),
        ("Dire Straits", "Brothers In Arms", 1985, ["Rock"], ["Soft Rock"]),
        ("Depeche Mode", "Violator", 1990, ["Electronic"], ["Synth-pop"]),
        ("New Order", "Power, Corruption & Lies", 1983, ["Electronic", "Rock"], ["Synth-pop"]),
        ("Cocteau Twins", "Heaven Or Las Vegas", 1990, ["Rock"], ["Dream Pop"]),
        ("The Smiths", "The Queen Is Dead", 1986, ["Rock"], ["Indie Rock"]),
        ("Herbie Hancock", "Head Hunters", 1973, ["Jazz", "Funk / Soul"], ["Jazz-Funk"]),
        ("Bill Evans Trio", "Waltz For Debby", 1962, ["Jazz"], ["Post Bop"]),
        ("Nina Simone", "Wild Is The Wind", 1966, ["Jazz"], ["Vocal"]),
        ("Orbital", "Orbital 2", 1993, ["Electronic"], ["Techno"]),
        ("Orbital", "Orbital", 1991, ["Electronic"], ["Techno", "Ambient"]),
        ("Underworld", "Dubnobasswithmyheadman", 1994, ["Electronic"],
         ["Techno", "Progressive House"]),
        ("The Prodigy", "Music For The Jilted Generation", 1994, ["Electronic"], ["Breakbeat"]),
    ]  # fmt: skip
    for artist, title, year, genres, styles in plain:
        album(artist, title, year, genres, styles, as_library=(artist, title, year), case="plain")
    absent("Dire Straits", "Brothers in Arms Live", 1986, "absent-near-title")
    absent("Depeche Mode", "Violator Tour", 1991, "absent-near-title")
    absent("Orbital", "Orbital 3", 1996, "absent-near-title")

    _classical_family(catalog, library)
    _soundtrack_family(catalog, library)
    return catalog, library


def _classical_family(catalog: Catalog, library: list[LibraryAlbum]) -> None:
    """Classical albums tagged the MusicBrainz way, Discogs crediting "Composer, Performer".

    Library titles are "Composer: Work" with the performer (or "Composer; Performer") as album
    artist; Discogs titles the release by the work alone, often in German, Italian or with a
    catalogue number only. Decoys: the same work by other performers (Karajan's Beethoven 9
    next to Bernstein's), other works by the same performer in the same year, the same
    catalogue-number prefix with another number, the same performer's "Symphony No. 9" by
    another composer.
    """
    classical = ["Classical"]

    def work(
        credits: list[str],
        title: str,
        year: int,
        styles: list[str],
        *,
        as_library: tuple[str, str, int | None] | None = None,
        case: str = "classical",
        anv: str | None = None,
    ) -> None:
        catalog.add_album(credits, title, year, classical, styles, anv=anv, join=",")
        if as_library is not None:
            library.append(LibraryAlbum(*as_library, _lower(classical), _lower(styles), case=case))

    bach, beethoven = "Johann Sebastian Bach", "Ludwig van Beethoven"
    # Work title alone, catalogue number in the tags only; Gould's other Goldberg recording.
    work(
        [bach, "Glenn Gould"],
        "Goldberg Variations",
        1982,
        ["Baroque", "Keyboard"],
        anv="Bach",
        as_library=("Glenn Gould", "Bach: Goldberg Variations, BWV 988", 1982),
    )
    work([bach, "Glenn Gould"], "The Goldberg Variations", 1956, ["Baroque"], anv="Bach")
    work([bach, "András Schiff"], "Goldberg Variations", 2001, ["Baroque", "Piano"], anv="Bach")
    # German title, performer credit in the other order; decoys: the same work by Bernstein,
    # another symphony by the same performers in the same year, Dvořák's 9th by Karajan.
    work(
        [beethoven, "Herbert von Karajan", "Berliner Philharmoniker"],
        "Symphonie Nr. 9 d-moll op. 125",
        1977,
        ["Romantic", "Choral"],
        as_library=(
            "Berliner Philharmoniker, Herbert von Karajan",
            "Beethoven: Symphonie Nr. 9",
            1977,
        ),
    )
    work(
        [beethoven, "Wiener Philharmoniker", "Leonard Bernstein"],
        "Symphonie Nr. 9",
        1980,
        ["Romantic"],
        as_library=(
            "Ludwig van Beethoven; Wiener Philharmoniker, Leonard Bernstein",
            'Beethoven: Symphony No. 9 in D minor, Op. 125 "Choral"',
            1980,
        ),
    )
    work(
        [beethoven, "Herbert von Karajan", "Berliner Philharmoniker"],
        "Symphonie Nr. 5 c-moll op. 67",
        1977,
        ["Romantic"],
    )
    work(
        ["Antonín Dvořák", "Berliner Philharmoniker", "Herbert von Karajan"],
        'Symphonie Nr. 9 "Aus Der Neuen Welt"',
        1977,
        ["Romantic", "Late Romantic"],
    )
    # A catalogue number is the only shared key ("Eine kleine Nachtmusik" = Serenade K. 525);
    # decoys: another serenade by the same performers, K. 525 by other performers.
    mozart = "Wolfgang Amadeus Mozart"
    work(
        [mozart, "Academy Of St. Martin-in-the-Fields", "Sir Neville Marriner"],
        "Serenade No. 13 In G Major, K. 525",
        1985,
        ["Classical"],
        as_library=(
            "Academy of St Martin in the Fields, Neville Marriner",
            "Mozart: Eine kleine Nachtmusik, K. 525",
            1985,
        ),
    )
    work(
        [mozart, "Academy Of St. Martin-in-the-Fields", "Sir Neville Marriner"],
        'Serenade No. 10 In B Flat Major, K. 361 "Gran Partita"',
        1985,
        ["Classical"],
    )
    work(
        [mozart, "Berliner Philharmoniker", "Herbert von Karajan"],
        "Serenade No. 13 In G Major, K. 525",
        1985,
        ["Classical", "Romantic"],
    )
    # Original-language title with the number in another language; same performer, same
    # composer, same year, another sonata (Op. 57) as decoy.
    work(
        [beethoven, "Wilhelm Kempff"],
        "Klaviersonate Nr. 14 Cis-moll Op. 27 Nr. 2 »Mondschein«",
        1965,
        ["Classical", "Piano"],
        as_library=(
            "Wilhelm Kempff",
            'Beethoven: Piano Sonata No. 14 "Moonlight", Op. 27 No. 2',
            1965,
        ),
    )
    work(
        [beethoven, "Wilhelm Kempff"],
        "Klaviersonate Nr. 23 F-moll Op. 57 »Appassionata«",
        1965,
        ["Classical"],
    )
    # "Original / English" combined; decoys: the same work by Mutter/Karajan and by
    # Il Giardino Armonico.
    work(
        ["Antonio Vivaldi", "Nigel Kennedy", "English Chamber Orchestra"],
        "Le Quattro Stagioni / The Four Seasons",
        1989,
        ["Baroque"],
        as_library=("Nigel Kennedy, English Chamber Orchestra", "Vivaldi: The Four Seasons", 1989),
    )
    work(
        ["Antonio Vivaldi", "Anne-Sophie Mutter", "Herbert von Karajan"],
        "Die Vier Jahreszeiten",
        1984,
        ["Baroque", "Romantic"],
    )
    work(
        ["Antonio Vivaldi", "Il Giardino Armonico"], "The Four Seasons", 1994, ["Baroque", "Early"]
    )
    # English title, German Discogs title, BWV as shared key; decoy: Richter's recording.
    work(
        [bach, "English Baroque Soloists", "Monteverdi Choir", "John Eliot Gardiner"],
        "Matthäus-Passion BWV 244",
        1989,
        ["Baroque", "Choral"],
        as_library=("John Eliot Gardiner", "Bach: St Matthew Passion, BWV 244", 1989),
    )
    work(
        [bach, "Münchener Bach-Orchester", "Münchener Bach-Chor", "Karl Richter"],
        "Matthäus-Passion BWV 244",
        1959,
        ["Baroque"],
    )

    # Another performer's recording of the same work must not match.
    library.append(
        LibraryAlbum(
            "Glenn Gould",
            "Vivaldi: The Four Seasons",
            1984,
            present=False,
            case="absent-classical-decoy",
        )
    )
    library.append(
        LibraryAlbum(
            "Wiener Philharmoniker, Leonard Bernstein",
            "Mozart: Eine kleine Nachtmusik, K. 525",
            1985,
            present=False,
            case="absent-classical-decoy",
        )
    )
    library.append(
        LibraryAlbum(
            "Herbert von Karajan",
            "Bach: Goldberg Variations",
            1982,
            present=False,
            case="absent-classical-decoy",
        )
    )
    library.append(
        LibraryAlbum(
            "Wilhelm Kempff",
            "Beethoven: Piano Sonata No. 8, Op. 13",
            1965,
            present=False,
            case="absent-classical-decoy",
        )
    )
    # Only the composer as album artist and two recordings of the work: no way to tell which.
    work(["Erik Satie", "Pascal Rogé"], "Gymnopédies · Gnossiennes", 1984, ["Modern"])
    work(["Erik Satie", "Reinbert de Leeuw"], "Gymnopédies · Gnossiennes", 1980, ["Modern"])
    library.append(
        LibraryAlbum(
            "Erik Satie",
            "Satie: Gymnopédies, Gnossiennes",
            None,
            present=False,
            case="absent-classical-ambiguous",
        )
    )


def _soundtrack_family(catalog: Catalog, library: list[LibraryAlbum]) -> None:
    """Soundtracks: composer as artist, tags in English, Discogs under the original title.

    Discogs titles: original only (Japanese script; French with the English title as a word
    of it), "Original = English" and "Original / English" combined. Decoys: other soundtracks
    and albums by the same composer in the same year, the same English title by a cover
    artist, an absent soundtrack whose composer has another soundtrack that year.
    """
    screen, score = ["Stage & Screen"], ["Soundtrack", "Score"]

    def film(
        artist: str,
        title: str,
        year: int,
        genres: list[str],
        styles: list[str],
        *,
        as_library: tuple[str, str, int | None] | None = None,
        anv: str | None = None,
        albumtypes: tuple[str, ...] = ("album", "soundtrack"),
    ) -> None:
        catalog.add_album(artist, title, year, genres, styles, anv=anv)
        if as_library is not None:
            library.append(
                LibraryAlbum(
                    *as_library,
                    _lower(genres),
                    _lower(styles),
                    case="soundtrack",
                    albumtypes=albumtypes,
                )
            )

    hisaishi = "Joe Hisaishi"
    film(
        hisaishi,
        "千と千尋の神隠し サウンドトラック",
        2001,
        screen,
        score,
        anv="久石譲",
        as_library=(hisaishi, "Spirited Away (Original Soundtrack)", 2001),
    )
    film(hisaishi, "Shoot The Violist", 2001, ["Classical", "Electronic"], ["Modern"])
    film(hisaishi, "Dolls", 2002, screen, ["Soundtrack"])
    film(hisaishi, "Hana-Bi", 1997, screen, ["Soundtrack"])
    library.append(
        LibraryAlbum(
            hisaishi,
            "Princess Mononoke (Original Soundtrack)",
            1997,
            present=False,
            case="absent-soundtrack",
            albumtypes=("album", "soundtrack"),
        )
    )
    film(
        "Yann Tiersen",
        "Le Fabuleux Destin D'Amélie Poulain (Bande Originale Du Film)",
        2001,
        screen,
        ["Soundtrack", "Modern Classical"],
        as_library=("Yann Tiersen", "Amélie", 2001),
    )
    film("Yann Tiersen", "L'Absente", 2001, ["Rock", "Classical"], ["Modern Classical"])
    film(
        "Tan Dun",
        "卧虎藏龙 = Crouching Tiger, Hidden Dragon (Original Motion Picture Soundtrack)",
        2000,
        screen,
        ["Score"],
        as_library=("Tan Dun", "Crouching Tiger, Hidden Dragon", 2000),
        albumtypes=("album",),
    )
    film(
        "Ennio Morricone",
        "Il Buono, Il Brutto, Il Cattivo / The Good, The Bad And The Ugly",
        1966,
        screen,
        ["Soundtrack", "Score"],
        as_library=("Ennio Morricone", "The Good, the Bad and the Ugly (Original Score)", 1966),
    )
    film("Ennio Morricone", "La Battaglia Di Algeri", 1966, screen, ["Soundtrack"])
    film("Hugo Montenegro", "The Good, The Bad And The Ugly", 1968, ["Pop"], ["Easy Listening"])
    library.append(
        LibraryAlbum(
            "Nino Rota",
            "The Good, the Bad and the Ugly",
            1966,
            present=False,
            case="absent-soundtrack",
            albumtypes=("album", "soundtrack"),
        )
    )
