"""Debian packages with free (DFSG) game music, for the training corpus builder.

Each `MusicPackage` says where the music lives inside the package: glob patterns
relative to the package root (no leading slash, `**` allowed). A pattern may name
archives (.pk3 / .zip): every audio file inside a matched archive is unpacked, or
only the members matching an inner glob given after "::", e.g.
"usr/share/games/x/*.pk3::music/*.ogg".

`verified=True` means the paths were checked against the real package contents
(`dpkg-deb -c` / an actual build); the others are written from the packages'
usual layout and may need fixing the first time they are built.
`size_mb` is the .deb download size from `apt-cache show` (Debian bookworm).

RESERVED packages are held out for evaluation and must never enter the training
corpus; the builder refuses them. EXCLUDED packages were looked at and are not
usable (music in formats libsndfile cannot decode, or not full mixes).
"""

from dataclasses import dataclass, field

__all__ = ["EXCLUDED", "PACKAGES", "RESERVED", "MusicPackage", "get_package"]


@dataclass(frozen=True)
class MusicPackage:
    name: str
    soundtrack: str  # album-level label
    patterns: tuple  # globs relative to the package root; "archive-glob::inner-glob"
    composer: str | None = None  # default when neither file names nor copyright name one
    size_mb: float | None = None  # .deb size
    verified: bool = False  # paths checked against the real package contents
    notes: str = field(default="", compare=False)


# Evaluation-only soundtracks: never part of the training corpus.
RESERVED = frozenset({"wesnoth-1.16-music", "warzone2100-music", "nexuiz-music", "ufoai-music"})

# Looked at, not usable for the corpus.
EXCLUDED = {
    "fb-music-high": "FastTracker .xm module only (checked with dpkg-deb -c); libsndfile cannot decode it",
    "tomatoes-data": "Impulse Tracker .it module only (checked with dpkg-deb -c); libsndfile cannot decode it",
    "planetblupi-music-midi": "MIDI only (per its description); use planetblupi-music-ogg",
    "openttd-openmsx": "MIDI only (per its description)",
    "fretsonfire-songs-muldjord": "multitrack stems (song.ogg lacks the guitar part), not full mixes; not checked",
    "fretsonfire-songs-sectoid": "multitrack stems (song.ogg lacks the guitar part), not full mixes; not checked",
}

_AUDIO = ("ogg", "mp3", "flac", "wav", "oga", "opus")


def _all_audio(root="usr/share"):
    """Every audio file under `root`: for packages that hold nothing but music."""
    return tuple(f"{root}/**/*.{ext}" for ext in _AUDIO)


PACKAGES = (
    MusicPackage(
        "drascula-music", "Drascula: The Vampire Strikes Back",
        ("usr/share/scummvm/drascula/audio/*.ogg",),
        size_mb=36.4, verified=True,
        notes="Alcachofa Soft; paths as in scripts/fetch_free_music.sh, built for real"),
    MusicPackage(
        "asc-music", "Advanced Strategic Command",
        ("usr/share/games/asc/music/*.mp3",),
        composer="Michael Kievernagel", size_mb=10.3, verified=True,
        notes="3 MP3 tracks (checked with dpkg-deb -c), built for real"),
    MusicPackage(
        "hyperrogue-music", "HyperRogue", _all_audio(), size_mb=63.8,
        notes="music-only package; several composers"),
    MusicPackage(
        "planetblupi-music-ogg", "Planet Blupi", _all_audio(), size_mb=60.1,
        notes="music-only package"),
    MusicPackage(
        "singularity-music", "Endgame: Singularity", _all_audio(), size_mb=51.6,
        notes="music-only package"),
    MusicPackage(
        "neverball-data", "Neverball",
        ("usr/share/games/neverball/bgm/*.ogg",), size_mb=17.9),
    MusicPackage(
        "colobot-common-sounds", "Colobot",
        ("usr/share/games/colobot/music/*.ogg", "usr/share/games/colobot/music/**/*.ogg"),
        size_mb=60.7),
    MusicPackage(
        "pushover-data", "Pushover",
        ("usr/share/games/pushover/**/music/*.ogg", "usr/share/pushover/**/music/*.ogg"),
        size_mb=32.4),
    MusicPackage(
        "openarena-data", "OpenArena",
        ("usr/share/games/openarena/baseoa/*.pk3::music/*.ogg",
         "usr/share/games/openarena/baseoa/*.pk3::music/**/*.ogg"),
        size_mb=44.0, notes="music inside .pk3 archives"),
    MusicPackage(
        "freedroidrpg-data", "FreedroidRPG",
        ("usr/share/games/freedroidrpg/sound/music/*.ogg",
         "usr/share/freedroidrpg/sound/music/*.ogg"),
        size_mb=228.3),
    MusicPackage(
        "supertux-data", "SuperTux",
        ("usr/share/games/supertux2/music/*.ogg", "usr/share/games/supertux2/music/**/*.ogg"),
        size_mb=161.6),
    MusicPackage(
        "supertuxkart-data", "SuperTuxKart",
        ("usr/share/games/supertuxkart/data/music/*.ogg",), size_mb=627.7,
        notes="large download; music is a small part of it"),
)

_BY_NAME = {p.name: p for p in PACKAGES}
assert not RESERVED & set(_BY_NAME), "a reserved evaluation package is in PACKAGES"
assert not RESERVED & set(EXCLUDED)


def get_package(name):
    """The MusicPackage called `name`; KeyError with the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown corpus package {name!r}; known: {', '.join(_BY_NAME)}") \
            from None
