"""The reserved evaluation soundtracks, for `corpus build-evaluation` only.

These packages are packages.RESERVED: they never enter the training corpus
(`build` refuses them) and are built, with rows marked "use": "evaluation-only",
into their own directory for independent evaluation. Paths were checked with
`dpkg-deb -c` / `unzip -l` against the bookworm .debs (apt-get download into
data/debs) and built for real. wesnoth-music is only a metapackage depending on
wesnoth-1.16-music (no files of its own), so it has no entry here.
"""

from training_recipes.corpus.packages.packages import RESERVED, MusicPackage

__all__ = ["EVALUATION_PACKAGES", "get_evaluation_package"]

_WARZONE = (("*/original_soundtrack/*", "Martin Severn"),
            ("*/legacy_soundtrack/*", "LupusMechanicus"),
            ("*/aftermath_soundtrack/*", "LupusMechanicus"))

EVALUATION_PACKAGES = (
    MusicPackage(
        "wesnoth-1.16-music", "Battle for Wesnoth",
        ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",),
        licence="GPL-2+", composer_from_copyright=False, size_mb=146.1, verified=True,
        notes="free-form copyright: GPL version 2 or later; composers from the "
              "files' artist tags"),
    MusicPackage(
        "warzone2100-music", "Warzone 2100",
        ("usr/share/games/warzone2100/music/*.opus",
         "usr/share/games/warzone2100/music/albums/*/*.opus"),
        composers=_WARZONE, composer_from_copyright=False, size_mb=81.8, verified=True,
        notes="Opus; composers from albums/*/album.json; DEP-5 Files: * GPL-2+ (the "
              "legacy / aftermath albums' license.txt: CC-BY-SA-3.0+ or GPL-2+)"),
    MusicPackage(
        "nexuiz-music", "Nexuiz", ("usr/share/games/nexuiz/data/music.pk3::sound/cdtracks/*",),
        licence="GPL-2+", composer_from_copyright=False, size_mb=80.1, verified=True,
        notes="inside music.pk3 (sound/cdtracks/*.ogg); free-form copyright: "
              "Alientrap, GPL version 2 or later"),
    MusicPackage(
        "ufoai-music", "UFO: Alien Invasion",
        ("usr/share/games/ufoai/base/0music.pk3::music/*.ogg",),
        exclude=("*/dynamictest-*",), composer_from_copyright=False,
        source_dir=("usr/share/games/ufoai/base/0music.pk3!", "base/"),
        size_mb=200.5, verified=True,
        notes="inside 0music.pk3; dynamictest-* are test excerpts; per-file DEP-5 "
              "stanzas (base/music/...) give the licences"),
)

_BY_NAME = {p.name: p for p in EVALUATION_PACKAGES}
assert set(_BY_NAME) <= RESERVED, "an evaluation package is not RESERVED"


def get_evaluation_package(name):
    """The evaluation MusicPackage called `name`; KeyError naming the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown evaluation package {name!r}; known: "
                       f"{', '.join(_BY_NAME)}") from None
