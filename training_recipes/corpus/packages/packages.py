"""Debian packages with free (DFSG) game music, for the training corpus builder.

PACKAGES is the table of MusicPackage entries (../music_package.py says what each field
means): the first surveys here, the later one (research/notes/corpus_candidates.md)
in more.py, the MIDI / tracker-module ones (rendered to audio by the
builder) in rendered.py. `verified=True` means the paths were checked with
`dpkg-deb -c` against the real .deb and the package was built for real.

RESERVED packages are held out for evaluation and must never enter the training
corpus; `build` refuses them. EVALUATION_PACKAGES (evaluation.py)
describe them for `build-evaluation` only. EXCLUDED packages were looked at and
are not usable.
"""

from training_recipes.corpus.packages.more import MORE_PACKAGES
from training_recipes.corpus.packages.rendered import RENDERED_PACKAGES
from training_recipes.corpus.music_package import MusicPackage

__all__ = ["EXCLUDED", "PACKAGES", "RESERVED", "MusicPackage", "get_package"]


# Evaluation-only soundtracks: never part of the training corpus. wesnoth-music is
# the metapackage that pulls in wesnoth-1.16-music.
RESERVED = frozenset({"wesnoth-1.16-music", "wesnoth-music", "warzone2100-music",
                      "nexuiz-music", "ufoai-music"})

# Looked at, not usable for the corpus (contents checked with dpkg-deb -c).
EXCLUDED = {
    "fb-music-high": "one FastTracker module, frozen-mainzik-2p.xm: the same piece as "
                     "frozen-bubble-data's frozen-mainzik-2p.ogg (in PACKAGES)",
    "planetblupi-music-midi": "MIDI only (per its description); use planetblupi-music-ogg",
    "fretsonfire-songs-muldjord": "multitrack stems (song.ogg lacks the guitar part), "
                                  "not full mixes; not checked",
    "fretsonfire-songs-sectoid": "multitrack stems (song.ogg lacks the guitar part), "
                                 "not full mixes; not checked",
    "boswars-data": "no music: unit sound effects, tutorial voice-overs (campaigns/"
                    "tutorial/*.wav) and a Theora video intro (intro/boswars_intro.ogg)",
    "opencity-data": "no music: sound/ holds only short sound effects (*.wav)",
    "neverball-data": "no music in 1.6.0+git20180603-3 (levels, shots, sets only); "
                      "Neverball's bgm/*.ogg is in neverball-common (in PACKAGES)",
    "openarena-data": "no music: baseoa/pak0.pk3 and missionpack/mp-pak0.pk3 hold only "
                      "sound effects and voices (sound/*), no music/ (checked with unzip -l)",
    "ri-li-data": "licence unclear: its three modules (Ri-li/Sounds/jeu1.xm, jeu2.xm, "
                  "menu.mod; 6.6 min) carry other works' titles ('Basket Island menu', "
                  "'* MaF LanD *', 'trukdance') and only Files: * (the game's author, "
                  "GPL-2 or GPL-3) covers them",
    "trigger-rally-data": "no music: data.zip holds only sound effects and co-driver "
                          "calls (sounds/**/*.wav; no .ogg / .mp3, checked with unzip -l)",
    "endless-sky-data": "no music: sounds/ holds effects and one ambient loop "
                        "(sounds/ambient/machinery.mp3; copyright: public-domain "
                        "freesound.org sounds)",
    "lordsawar-data": "licence unclear: music/*.ogg (Max Von Juntz's FreeLords OST, Kevin "
                      "MacLeod's Interloper, an untagged intro) has no copyright stanza or "
                      "credits of its own, only Files: * (GPL-3+, the code's authors)",
    "starfighter-data": "licence unclear per track: music/*.ogg (28 min) has only Files: * "
                        "(GPL-2+, Parallel Realities and others); upstream took the tracks "
                        "from OpenGameArt under several licences credits.txt does not itemise",
}

_ETR = (("*-jt.ogg", "Joseph Toscano"), ("*-cp.ogg", "Christian Picon"),
        ("freezingpoint.ogg", "Grady O'Connell"), ("*-ks.ogg", "K. Schroeder"))
_HEDGEWARS = (("City.ogg", "HSR"), ("Rock.ogg", "HSR"), ("Compost.ogg", "HG"),
              ("EarthRise.ogg", "Jonatan Nilsson"), ("Pirate.ogg", "Jonatan Nilsson"),
              ("oriental.ogg", "Jonatan Nilsson"), ("snow.ogg", "Jonatan Nilsson"),
              ("Fruit.ogg", "Valentin Kraevskiy"), ("Jungle.ogg", "Valentin Kraevskiy"),
              ("Nature.ogg", "John Dum"), ("olympics_sd.ogg", "yd"),
              ("sdmusic.ogg", "Kevin MacLeod"))
_MEGAGLEST = (("*/egypt/music/*", "Margaras"), ("*/indian/music/*", "Aminos"),
              ("*/persian/music/*", "Aminos"), ("*/norsemen/music/*", "Manolo Camp"),
              ("*/romans/music/*", "Mattias Westlund"))
_FREECOL = (("musicbox.ogg", "Stian Grenborgen"), ("*.ogg", "Alexander Zhelanov"))
_NAEV = tuple((g, "Nikola Whallon") for g in (  # untagged; dat/snd/SOUND_LICENSE.yaml
    "ambient[1-3]*.ogg", "automat.ogg", "battlesomething*", "collective*", "empire*",
    "flf_battle*", "intrigue.ogg", "intro.ogg", "nebu_battle*", "sirius1.ogg",
    "tension.ogg", "upbeat.ogg", "zalek*"))
_WARMUX = (("Olivier_Militon.*", "Olivier Militon"), ("Mike_Errecart.*", "Mike Errecart"),
           ("*ux.ogg", "Sébastien Sabouret"), ("Divertissement_*", "Lawrence Azzoug"))
_WIDELANDS = (("ingame_0[02349].ogg", "Nikola Whallon"),
              ("ingame_1[01389].ogg", "Nikola Whallon"), ("ingame_20.ogg", "Nikola Whallon"),
              ("ingame_0[18].ogg", "Jan Bruns"), ("ingame_12.ogg", "Jan Bruns"),
              ("ingame_2[38].ogg", "Klaus Halfmann"))  # tags: composer= (not read), artist=
_FIRST_SURVEYS = (
    MusicPackage(
        "drascula-music", "Drascula: The Vampire Strikes Back",
        ("usr/share/scummvm/drascula/audio/*.ogg",), size_mb=34.7, verified=True,
        notes="Alcachofa Soft; Drascula licence (BSD-like)"),
    MusicPackage(
        "asc-music", "Advanced Strategic Command",
        ("usr/share/games/asc/music/*.mp3",),
        composer="Michael Kievernagel", size_mb=9.8, verified=True, notes="3 MP3 tracks"),
    MusicPackage(
        "hyperrogue-music", "HyperRogue", ("usr/share/hyperrogue/music/*.ogg",),
        size_mb=60.9, verified=True,
        notes="sounds/ (effects) left out; per-file DEP-5 stanzas name the composers"),
    MusicPackage(
        "planetblupi-music-ogg", "Planet Blupi", ("usr/share/planetblupi/music/*.ogg",),
        size_mb=57.3, verified=True),
    MusicPackage(
        "singularity-music", "Endgame: Singularity",
        ("usr/share/games/singularity/music/**/*.ogg",),
        composer="Max McCracken", size_mb=49.2, verified=True, licence="CC-BY-SA-3.0",
        notes="free-form copyright: Max McCracken, CC BY-SA 3.0 Unported text"),
    MusicPackage(
        "colobot-common-sounds", "Colobot", ("usr/share/games/colobot/music/*.ogg",),
        size_mb=57.9, verified=True, composer_from_copyright=False,
        notes="sounds/ (effects) left out"),
    MusicPackage(
        "pushover-data", "Pushover", ("usr/share/pushover/themes/*.ogg",),
        composer="Roberto Lorenz", composer_from_copyright=False, size_mb=30.9,
        verified=True, notes="copyright: Roberto Lorenz (music composition)"),
    MusicPackage(
        "freedroidrpg-data", "FreedroidRPG",
        ("usr/share/freedroidrpg/data/sound/music/*.ogg",),
        size_mb=217.7, verified=True, composer_from_copyright=False),
    MusicPackage(
        "supertux-data", "SuperTux", ("usr/share/games/supertux2/music/**/*.ogg",),
        size_mb=154.2, verified=True, source_dir=("usr/share/games/supertux2/", "data/"),
        notes="DEP-5 stanza data/music/*: Marek Moeckel, GPL-2+"),
    MusicPackage(
        "supertuxkart-data", "SuperTuxKart",
        ("usr/share/games/supertuxkart/data/music/*.ogg",),
        exclude=("*_fast.ogg", "*/farm_f.ogg"), own_stanza_only=True,
        size_mb=598.7, verified=True,
        notes="*_fast / farm_f are sped-up copies; tracks without a copyright stanza of "
              "their own (cocoa_river, snowmountain, Penguin_Party, theGreatFair) are "
              "skipped: licence unclear"),
    MusicPackage(
        "fillets-ng-data", "Fish Fillets NG", ("usr/share/games/fillets-ng/music/*.ogg",),
        licence="GPL-2", composer_from_copyright=False, size_mb=67.4, verified=True,
        notes="free-form copyright: GPL version 2; sound/music/en/*.ogg are voices"),
    MusicPackage(
        "hedgewars-data", "Hedgewars", ("usr/share/games/hedgewars/Data/Music/*.ogg",),
        composers=_HEDGEWARS, composer_from_copyright=False, size_mb=138.6,
        verified=True, source_dir=("usr/share/games/hedgewars/", "share/hedgewars/"),
        notes="Data/Music under Files: * (GPL-2); composers from Data/Music/credits.txt"),
    MusicPackage(
        "extremetuxracer-data", "Extreme Tux Racer", ("usr/share/games/etr/music/*.ogg",),
        composers=_ETR, composer_from_copyright=False, size_mb=38.7, verified=True,
        notes="composers from music/readme"),
    MusicPackage(
        "lincity-ng-data", "LinCity-NG",
        ("usr/share/games/lincity-ng/music/default/*.ogg",),
        composers=(("*Robert van Herk*", "Robert van Herk"), ("*pronobozo*", "Pronobozo")),
        composer_from_copyright=False, size_mb=42.7, verified=True),
    MusicPackage(
        "megaglest-data", "MegaGlest",
        ("usr/share/games/megaglest/data/core/menu/music/*.ogg",
         "usr/share/games/megaglest/techs/*/factions/*/music/*.ogg"),
        composers=_MEGAGLEST, composer_from_copyright=False, size_mb=230.8,
        verified=True, notes="CC-BY-SA-3.0; composers from the copyright's credits"),
    MusicPackage(
        "openclonk-data", "OpenClonk", ("usr/share/games/openclonk/Music.ocg/*.ogg",),
        composer_from_copyright=False, licence="CC-BY-3.0", size_mb=107.2, verified=True,
        notes="licence from Music.ocg/authors.txt (K-Pone; copyright: game content "
              "CC-BY-3.0 or CC0); composer from the artist tags"),
    MusicPackage(
        "pathological", "Pathological", ("usr/share/games/pathological/music/*.ogg",),
        size_mb=7.7, verified=True),
    MusicPackage(
        "scorched3d-data", "Scorched 3D",
        ("usr/share/games/scorched3d/data/globalmods/none/data/music/*.ogg",),
        size_mb=30.5, verified=True),
    MusicPackage(
        "xmoto-data", "X-Moto", ("usr/share/games/xmoto/Textures/Musics/*.ogg",),
        composer_from_copyright=False, size_mb=30.5, verified=True),
    MusicPackage(
        "xblast-tnt-musics", "XBlast TNT", ("usr/share/games/xblast-tnt/sounds/xbsng*.raw",),
        raw=(22050, 2, "PCM_U8"), licence="GPL-2", composer_from_copyright=False,
        size_mb=4.2, verified=True,
        notes="headerless unsigned 8-bit stereo 22,050 Hz (xblast's SDL sound code: "
              "AUDIO_U8, 2 channels, songs not flagged mono); stored as FLAC"),
    MusicPackage(
        "flare-game", "Flare", ("usr/share/games/flare/mods/fantasycore/music/*.ogg",),
        exclude=("*/wind_ambient.ogg",), composer_from_copyright=False, size_mb=122.5,
        verified=True,
        notes="11 tracks; Files: * is the art/data licence (CC-BY-SA-3.0+); credits.txt "
              "names the composers Brandon Morris and remaxim, not per file; "
              "wind_ambient (an ambient loop by Luke.RUSTLTD) left out"),
    MusicPackage(
        "freecol", "FreeCol",
        ("usr/share/games/freecol/default/resources/music/default/*.ogg",),
        composers=_FREECOL, source_dir=("usr/share/games/freecol/", "data/"), size_mb=142.0,
        verified=True,
        notes="6 tracks; stanza data/default/resources/music/default/*: CC-BY-4.0; "
              "composers from its README.md; base/resources/sound/intro.ogg (Ivica Ico "
              "Bukvic) left out: only Files: * (GPL-2+, the FreeCol Team) covers it"),
    MusicPackage(
        "marsshooter-data", "M.A.R.S.",
        ("usr/share/games/marsshooter/audio/music/*.ogg",
         "usr/share/games/marsshooter/audio/menu.ogg",
         "usr/share/games/marsshooter/audio/tutorial.ogg"),
        composer="Obsidian Shell", source_dir=("usr/share/games/marsshooter/", "data/"),
        size_mb=68.4, verified=True,
        notes="12 tracks by the band Obsidian Shell, relicensed CC-BY-SA-3.0 "
              "(own stanza); audio/toon, interface, announcer: effects"),
    MusicPackage(
        "naev-data", "Naev", ("usr/share/naev/dat/snd/music/*.ogg",),
        exclude=("*/launch2.ogg", "*/landing_sinister.ogg"), composers=_NAEV,
        composer_from_copyright=False, own_stanza_only=True,
        source_dir=("usr/share/naev/", "./"), size_mb=349.5, verified=True,
        notes="45 tracks; per-file stanzas: Vega Strike GPL-2+, Nikola Whallon GPL-3 or "
              "CC-BY-3.0, Askyel CC-BY-SA-3.0, Zeropage CC-BY-3.0; the 7 tracks the "
              "copyright file misses (CC0 / CC-BY / CC-BY-SA-4.0 per SOUND_LICENSE.yaml) "
              "are skipped; launch2, landing_sinister (< 20 s stingers) left out"),
    MusicPackage(
        "neverball-common", "Neverball", ("usr/share/games/neverball/bgm/*.ogg",),
        composer="Robert Kooima", composers=(("track6.ogg", "Ian Walker"),),
        composer_from_copyright=False, size_mb=16.7, verified=True,
        notes="8 tracks; Files: * GPL-2+ (Robert Kooima and Neverball contributors); "
              "composers from upstream doc/authors.txt (not shipped)"),
    MusicPackage(
        "warmux-data", "WarMUX", ("usr/share/games/warmux/music/*/*.ogg",),
        exclude=("*/Olivier_Militon.-.Apnee2.ogg",), composers=_WARMUX, licence="GPL-2+",
        composer_from_copyright=False, size_mb=98.5, verified=True,
        notes="12 tracks; free-form copyright (GPL-2+, package-wide); composers from "
              "authors.xml (construction.ogg uncredited); Apnee2 left out: same length "
              "to the sample as Apnee, probably a second encoding"),
    MusicPackage(
        "widelands-data", "Widelands", ("usr/share/games/widelands/data/music/*.ogg",),
        exclude=("*/ingame_14.ogg", "*/ingame_27.ogg"), composers=_WIDELANDS,
        composer_from_copyright=False, size_mb=381.4, verified=True,
        notes="29 tracks; Files: * GPL-2+ (the Widelands Development Team; in-game "
              "credits list the musicians), ingame_24-26 CC-BY-SA-3.0 (Stuart Marshall); "
              "composers from the files' tags; ingame_14 is a byte copy of menu.ogg; "
              "ingame_27 (Stuart Marshall too, no stanza of its own) left out: unclear"),
    MusicPackage(
        "frozen-bubble-data", "Frozen Bubble",
        ("usr/share/games/frozen-bubble/snd/*zik*.ogg",),
        composer="Matthias Le Bidan", composer_from_copyright=False, size_mb=21.9, verified=True,
        notes="3 tracks; Files: * GPL-2 (the Frozen-Bubble Team); composer from upstream "
              "credits (the three musics); the rest of snd/ is effects"),
    MusicPackage(
        "freeorion-data", "FreeOrion",
        ("usr/share/games/freeorion/default/data/sound/artificial_intelligence_v3.ogg",),
        composer="Kenneth Welch", size_mb=120.5, verified=True,
        notes="1 track (10.5 min); stanza *.ogg: CC-BY-SA-3.0 (the FreeOrion project); "
              "composer from its artist tag; the rest of data/sound/ is effects"),
)
PACKAGES = _FIRST_SURVEYS + MORE_PACKAGES + RENDERED_PACKAGES

_BY_NAME = {p.name: p for p in PACKAGES}
assert not RESERVED & set(_BY_NAME), "a reserved evaluation package is in PACKAGES"
assert not RESERVED & set(EXCLUDED)
assert not set(EXCLUDED) & set(_BY_NAME)


def get_package(name):
    """The MusicPackage called `name`; KeyError with the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown corpus package {name!r}; known: {', '.join(_BY_NAME)}") \
            from None
