"""Packages from the second survey of Debian game music (research/notes/corpus_candidates.md).

Same fields as packages.PACKAGES (see ../music_package.py). Each entry's notes say
which DEP-5 stanza covers the music and where the composer comes from; the file
lists and exact durations behind them are in research/notes/corpus_candidates.md.
"""

from training_recipes.corpus.music_package import MusicPackage

__all__ = ["MORE_PACKAGES"]

_TRACKBALLS = (("tb_design.ogg", "Dietrich Radel"), ("tb_genesis.ogg", "Dietrich Radel"),
               ("tb_hrluebke.ogg", "Marco Göbel"), ("tb_plinkeplanke.ogg", "Marco Göbel"),
               ("tb_schizophrenia.ogg", "Attila Boros"), ("tb_sorrow.ogg", "Attila Boros"),
               ("c64revival.ogg", "Paul Leach"), ("crazy.ogg", "Paul Leach"),
               ("eurovision.ogg", "Paul Leach"))  # music/README
_TUXMATH = (("01_rush.ogg", "Serberis"), ("03_gravity.ogg", "Serberis"),
            ("02_on_the_edge_of_the_universe.ogg", "Synthaurion"))  # copyright comments
_BLOBWARS = tuple((name, "Lennaert van Driel") for name in  # the copyright's stanzas
                  ("cave", "final", "hub", "space", "title", "tomb", "tunnel")) + tuple(
    (name, "Dick Huijer") for name in ("biomech", "cutscene", "end", "gameover",
                                        "grasslands", "ice")) + (
    ("arctic", "Sander van Oirschot"), ("credits", "Sander van Oirschot"))

def _kenta_cho(name, soundtrack, pattern, size_mb, notes):
    """One of Kenta Cho's shooters: a free-form copyright, BSD-2-clause for the whole package,
    and he is its sole author (no separate music credit)."""
    return MusicPackage(name, soundtrack, (pattern,), licence="BSD-2-clause", composer="Kenta Cho",
                        composer_from_copyright=False, size_mb=size_mb, verified=True, notes=notes)


MORE_PACKAGES = (
    MusicPackage(
        "0ad-data", "0 A.D.",
        ("usr/share/games/0ad/mods/public/public.zip::audio/music/*.ogg",),
        composer_from_copyright=False, size_mb=1377.6, verified=True,
        notes="61 tracks (175 min) in the 3.26 GB public.zip; Files: * CC-BY-SA-3.0 "
              "(Wildfire Games), as audio/LICENSE.txt in the zip; lead composer Omri Lahav "
              "(credits/texts/audio.json also lists Allan Brown, Sam Gossner, Boris Hansen, "
              "Jeff Willet, ...), not per track: only 2 tracks carry an artist tag"),
    MusicPackage(
        "blobwars-data", "Blob Wars: Metal Blob Solid",
        ("usr/share/games/blobwars/music/*",), exclude=("*.tags",), composers=_BLOBWARS,
        composer_from_copyright=False, size_mb=65.2, verified=True,
        notes="15 Ogg Vorbis tracks without a file extension (needs the collector to "
              "sniff the magic); own stanzas: Lennaert van Driel (DJ Sjors) and Dick "
              "Huijer (Ambick) CC-BY-SA-3.0, Sander van Oirschot (SinQ) CC-BY-3.0, all "
              "from Simuze.nl; *.tags sidecars give the nicknames"),
    MusicPackage(
        "berusky2-data", "Berusky 2", ("usr/share/games/berusky2/music/*.ogg",),
        composers=(("*.ogg", "Martin Linda"),), composer_from_copyright=False,
        size_mb=560.1, verified=True,
        notes="23 tracks (72 min); only Files: * (GPL-2+, AnakreoN) covers them; "
              "composer from the artist tags (two misspelt 'Matrin Linda'); comix*.ogg "
              "are 28-101 s cut-scene cues"),
    MusicPackage(
        "unknown-horizons", "Unknown Horizons",
        ("usr/share/unknown-horizons/content/audio/music/*.ogg",
         "usr/share/unknown-horizons/content/audio/music/menu/*.ogg"),
        composers=(("peer gynt*", "Edvard Grieg"),), composer_from_copyright=False,
        source_dir=("usr/share/unknown-horizons/", ""), size_mb=248.5, verified=True,
        notes="15 tracks (42.5 min); stanza content/*: CC-BY-SA-3.0 (Unknown Horizons "
              "Team); Tobias Escher per the artist tags on 5, the rest untagged; Peer Gynt "
              "'Morning' is a Czech National Symphony Orchestra recording"),
    MusicPackage(
        "redeclipse-data", "Red Eclipse",
        ("usr/share/games/redeclipse/data/sounds/music/track_*.ogg",
         "usr/share/games/redeclipse/data/sounds/theme.ogg",
         "usr/share/games/redeclipse/data/sounds/original.ogg",
         "usr/share/games/redeclipse/data/sounds/theme_chip.ogg",
         "usr/share/games/redeclipse/data/maps/tonatiuh.ogg"),
        composers=(("track_*.ogg", "Derek Stegall"), ("tonatiuh.ogg", "yd")),
        composer_from_copyright=False, source_dir=("usr/share/games/redeclipse/", ""),
        size_mb=862.3, verified=True,
        notes="16 tracks (32 min); track_01-12: own stanza, Derek 'JoJo' Stegall, "
              "CC-BY-SA-3.0; maps/tonatiuh.ogg: own stanza (last match), yd, CC0-1.0; "
              "theme / original / theme_chip (menu themes; theme_chip tagged Quinton "
              "Reeves): only Files: * CC-BY-SA-3.0+ (Red Eclipse Team); the rest of "
              "data/sounds is effects and ambience"),
    MusicPackage(
        "trackballs-data", "Trackballs", ("usr/share/games/trackballs/music/*.ogg",),
        composers=_TRACKBALLS, composer_from_copyright=False,
        source_dir=("usr/share/games/trackballs/", "share/"), size_mb=31.2, verified=True,
        notes="9 tracks (32 min); stanza share/music/{c64revival,crazy,eurovision}.ogg: "
              "Paul Leach, Ethymonics Free Music License; the other 6: Files: * GPL-2+ "
              "(music/README: GPL); composers from music/README"),
    MusicPackage(
        "wizznic-data", "Wizznic!",
        ("usr/share/games/wizznic/packs/000_wizznic/music/*.ogg",
         "usr/share/games/wizznic/data/menu-music.ogg"),
        composer="Sean Hawk", composer_from_copyright=False, size_mb=16.5, verified=True,
        notes="9 tracks (26 min); only Files: * (GPL-3, Adam Scotney) covers them; "
              "composer from the 'Sean Hawk - Title' file names and artist tags"),
    MusicPackage(
        "enigma-data", "Enigma",
        ("usr/share/games/enigma/music/game/*.ogg", "usr/share/games/enigma/music/menu/*.ogg"),
        licence="GPL-2", composer_from_copyright=False, size_mb=30.3, verified=True,
        notes="9 tracks (19 min); free-form copyright: the whole package GPL-2 (music not "
              "itemised); artist tags: Clifford J. Tasner (menu/esprit.ogg untagged)"),
    MusicPackage(
        "zaz-data", "Zaz", ("usr/share/games/zaz/mus*.ogg",),
        composers=(("mus*.ogg", "Leonard Ritter"),), source_dir=("usr/share/games/zaz/", "data/"),
        size_mb=19.9, verified=True,
        notes="4 tracks (18 min); stanza data/mus*.ogg: Leonard Ritter (paniq), "
              "CC-BY-SA-3.0; the other .ogg files are effects"),
    MusicPackage(
        "ardentryst", "Ardentryst", ("usr/share/games/ardentryst/Music/*.ogg",),
        size_mb=24.2, verified=True,
        notes="14 tracks (16 min); stanza Music/*: Jordan Trudgett, CC-BY-SA-3.0; "
              "*2.ogg and theme1_raw are variants (not byte copies) of their namesakes"),
    MusicPackage(
        "wordwarvi-sound", "Word War vi",
        ("usr/share/wordwarvi/sounds/dtox3monomix.ogg",
         "usr/share/wordwarvi/sounds/lucky13-steve-mono-mix.ogg",
         "usr/share/wordwarvi/sounds/lucky-holiday-cornbread-stuffing-mono.ogg",
         "usr/share/wordwarvi/sounds/destiny_facedown.ogg",
         "usr/share/wordwarvi/sounds/highscoremusic.ogg"),
        composer="Stephen M. Cameron", size_mb=8.6, verified=True,
        notes="5 tracks (15 min); stanzas sounds/* and the lucky13 files: Stephen M. "
              "Cameron, CC-BY-SA-3.0 (lucky13 co-written with Marty Kiel, Skip Kavanaugh "
              "per the tags); the other 56 files are effects"),
    MusicPackage(
        "adonthell-data", "Adonthell: Waste's Edge",
        ("usr/share/games/adonthell/games/wastesedge/audio/*.ogg",),
        composers=(("at-demo-*", "Joseph Toscano"),), composer_from_copyright=False,
        size_mb=14.2, verified=True,
        notes="10 cues, 8 >= 15 s (13 min); only Files: * (GPL-2+, Kai Sterker); "
              "composer tag Joseph Toscano (artist tag ZhayTee)"),
    MusicPackage(
        "btanks-data", "Battle Tanks", ("usr/share/games/btanks/data/tunes/*.ogg",),
        exclude=("*/boss-1.ogg", "*/boss-2.ogg", "*/glory.ogg"),
        composer_from_copyright=False, size_mb=26.4, verified=True,
        notes="5 tracks (11.5 min); only Files: * (Battle-Tanks-License: GPL with an "
              "exception; Vladimir Menshakov, Battle Tanks Team); boss-*/glory are 4-19 s "
              "stingers; sounds/ambient/*.ogg are environmental loops"),
    MusicPackage(
        "openarena-088-data", "OpenArena",
        ("usr/share/games/openarena/baseoa/pak6-patch088.pk3::music/*.ogg",),
        composer_from_copyright=False, size_mb=71.7, verified=True,
        notes="7 tracks (11 min) in pak6-patch088.pk3, artist tags Jute Gyte; only "
              "Files: * (GPL-2+, OpenArena Team and others)"),
    MusicPackage(
        "miceamaze", "MiceAmaze", ("usr/share/games/miceamaze/music/*.ogg",),
        composer_from_copyright=False, source_dir=("usr/share/games/miceamaze/", "data/"),
        size_mb=12.5, verified=True,
        notes="3 tracks (10.5 min); own stanzas CC-BY-3.0: Deceased Superior Technician "
              "(2), George Ellinas (remix of Dj Rkod's Pulse, ccMixter); composers from tags"),
    _kenta_cho("noiz2sa-data", "Noiz2sa", "usr/share/games/noiz2sa/sounds/stg*.ogg",
               8.3, "7 looping BGM tracks (10 min); free-form copyright: Kenta Cho, BSD "
                    "(whole package); composer = the sole author, no separate music credit"),
    MusicPackage(
        "hex-a-hop-data", "Hex-a-Hop", ("usr/share/games/hex-a-hop/hex-a-hop/music-*.ogg",),
        composers=(("music-*.ogg", "remaxim"),),
        source_dir=("usr/share/games/hex-a-hop/hex-a-hop/", "data/"), size_mb=9.2, verified=True,
        notes="3 tracks (9.4 min); own stanza data/music-*.ogg*: remaxim, CC-BY-SA-3.0"),
    MusicPackage(
        "amoebax-data", "Amoebax", ("usr/share/games/amoebax/music/*.ogg",),
        composers=(("*.ogg", "Àlex Almarza"),),  # some tags drop the accent
        source_dir=("usr/share/games/amoebax/", "data/"), size_mb=8.6, verified=True,
        notes="9 tracks (9 min); own stanza data/music/*: Àlex Almarza, "
              "Free-Art-License-1.2 (the tags say the same)"),
    MusicPackage(
        "powermanga-data", "Powermanga",
        ("usr/share/games/powermanga/sound/handheld_console/music_*.ogg",),
        composer_from_copyright=False, size_mb=9.9, verified=True,
        notes="3 tracks (7 min); only Files: * (GPL-3+, TLK Games); composer not credited"),
    MusicPackage(  # a .love game file is a zip
        "mrrescue", "Mr. Rescue",
        ("usr/share/games/mrrescue/mrrescue.love::data/sfx/*.ogg",),
        composer_from_copyright=False, size_mb=11.9, verified=True,
        source_dir=("usr/share/games/mrrescue/mrrescue.love!", ""),  # so data/* matches
        notes="7 tracks (6 min) inside the .love (zip); stanza data/*: Tangram Games, "
              "CC-BY-SA-3.0; the .wav files in data/sfx are effects"),
    MusicPackage(
        "torcs-data", "TORCS", ("usr/share/games/torcs/data/music/*.ogg",),
        composer_from_copyright=False, size_mb=333.3, verified=True,
        notes="1 track (5.8 min, artist tag Bernhard Wymann); only Files: * (GPL-2+)"),
    MusicPackage(
        "pinball-data", "Emilia Pinball",
        ("usr/share/games/pinball/tux/*.ogg", "usr/share/games/pinball/professor/*.ogg"),
        exclude=("*/professor/introp.ogg", "*/multiball.ogg"),
        composer_from_copyright=False, size_mb=4.4, verified=True,
        notes="3 tracks (5.7 min); only Files: * (GPL-2, Henrik Enqvist); professor/"
              "introp.ogg is a byte copy of tux/intro.ogg; multiball.ogg a 21 s loop"),
    MusicPackage(
        "plee-the-bear-data", "Plee the Bear",
        ("usr/share/games/plee-the-bear/music/*.ogg",),
        exclude=("*/1-up.ogg", "*/game-over.ogg"), licence="CC-BY-SA-3.0",
        composer_from_copyright=False, size_mb=32.4, verified=True,
        notes="7 cues (5.5 min); free-form copyright: most media files incl. musics "
              "CC-BY-SA-3.0; music/sequencer/** are single-instrument stems (not matched)"),
    MusicPackage(
        "tuxmath-data", "Tux, of Math Command", ("usr/share/tuxmath/sounds/*.ogg",),
        exclude=("*/tuxi.ogg",), composers=_TUXMATH, composer_from_copyright=False,
        source_dir=("usr/share/tuxmath/", "data/"), size_mb=8.8, verified=True,
        notes="3 tracks (4 min); own stanza, CC-BY-SA-3.0 (Jamendo); tuxi.ogg left out: "
              "its stanza's License: line is blank (public domain on the next line, which "
              "the DEP-5 reader does not take as the name) and it is also in tuxtype-data"),
    # Kenta Cho's other shooters (noiz2sa-data above is his too)
    _kenta_cho("torus-trooper-data", "Torus Trooper", "usr/share/games/torus-trooper/sounds/musics/*.ogg",
               5.6, "4 loops (4.2 min)"),
    _kenta_cho("titanion-data", "Titanion", "usr/share/games/titanion/sounds/musics/*.ogg",
               4.3, "3 loops (3.8 min)"),
    _kenta_cho("tumiki-fighters-data", "Tumiki Fighters", "usr/share/games/tumiki-fighters/sounds/*.ogg",
               4.3, "6 loops (4.6 min; return_to_home is 22 s)"),
    _kenta_cho("parsec47-data", "PARSEC47", "usr/share/games/parsec47/sounds/*.ogg",
               4.1, "4 loops (4.2 min); the .wav files are effects"),
    _kenta_cho("rrootage-data", "rRootage", "usr/share/games/rrootage/sounds/*.ogg",
               3.6, "3 loops (3 min)"),
    _kenta_cho("gunroar-data", "Gunroar", "usr/share/games/gunroar/sounds/musics/*.ogg",
               4.9, "4 loops (3.8 min)"),
    _kenta_cho("mu-cade-data", "Mu-cade", "usr/share/games/mu-cade/sounds/musics/*.ogg",
               4.9, "4 loops (4.4 min)"),
    _kenta_cho("a7xpg-data", "A7Xpg", "usr/share/games/a7xpg/sounds/*.ogg",
               3.5, "3 loops (3.4 min); the .wav files are effects"),
)
