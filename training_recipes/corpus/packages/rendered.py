"""Packages whose music ships as notes, not audio: MIDI scores and tracker modules.

The builder renders them to FLAC (render.py: fluidsynth with FluidR3_GM for MIDI,
openmpt123 for modules) and each manifest row says so in "rendered_with". They widen the
corpus beyond recorded game soundtracks: boogie-woogie, blues and ragtime (OpenMSX), rock and
metal (Freedoom), tracker chiptune and techno. Same fields as packages.PACKAGES.
"""

from training_recipes.corpus.music_package import MusicPackage

__all__ = ["RENDERED_PACKAGES"]

_OPENMSX = "usr/share/games/openttd/baseset/openmsx/"
# The readme's "Musicians" credits, matched to file names through openmsx.obm's [names].
_MODERN = ("ultimate_run", "midnight_snow_run", "run_for_your_life", "coconut_run2", "harp_harmony",
           "mighty_giant_run", "wood_whistles", "linns_basket", "relax_song", "chemistry_lab")
_OPENMSX_COMPOSERS = (
    ("*_redfarn.mid", "Jim Redfarn"),
    *((f"{name}.mid", "Tistou Blomberg") for name in _MODERN),
    *((f"{name}.mid", "imuh3") for name in ("ttsong_iv_imuh3", "ttsong_iii_imuh3",
                                            "train_filled_with_cash", "flying_scotsman",
                                            "chuggachugga")),
    ("busy_schedule.mid", "mimm"), ("the_fast_route.mid", "mimm"),
    ("modern_motion.mid", "Kyle Timmerman"), ("keep_on_rolling.mid", "Trolley Trev"),
    ("tttheme2.mid", "-lucas-"),
)

RENDERED_PACKAGES = (
    MusicPackage(
        "openttd-openmsx", "OpenMSX (OpenTTD)", (_OPENMSX + "*.mid",),
        composers=_OPENMSX_COMPOSERS, composer_from_copyright=False, size_mb=0.1, verified=True,
        notes="31 General MIDI scores (boogie-woogie, blues, ragtime, light orchestral); Files: * "
              "GPL-2.0 (OpenMSX authors); composers from readme.txt's Musicians list, file names "
              "from openmsx.obm [names]. 'Careless Love' is a traditional tune (public domain)"),
    MusicPackage(
        "freedoom", "Freedoom",
        ("usr/share/games/doom/freedoom1.wad::D_*", "usr/share/games/doom/freedoom2.wad::D_*"),
        exclude=("*freedoom1.wad!D_E2M6.mid",), licence="BSD-3-clause",
        composer="Freedoom project contributors", composer_from_copyright=False,
        size_mb=15.8, verified=True,
        notes="67 MIDI music lumps in the two IWADs (rock, metal, ambient); Files: * "
              "freedoom-license, which is the BSD 3-clause text; CREDITS names the musicians "
              "but not per track. freedoom1's D_E2M6 is a byte copy of its D_E1M5"),
    MusicPackage(
        "pingus-data", "Pingus",
        tuple(f"usr/share/games/pingus/data/music/{name}" for name in (
            "pingus-[1-9].it", "goin_march.it", "rough_journey.it", "the_big_march_in_space.it")),
        composers=(("pingus-*.it", "Joseph Toscano"), ("*.it", "Yuri R. Sucupira")),
        licence="GPL-2+", composer_from_copyright=False, size_mb=11.7, verified=True,
        notes="12 of its 20 Impulse Tracker modules (19 min), those written for the game by the "
              "composers data/credits/pingus.credits lists and the modules sign (Joseph Toscano, "
              "Yuri R. Sucupira); free-form copyright: the whole package GPL-2+. Left out: the gd-* "
              "modules and sorcerer.it (no composer; gd-matth.it says 'dunno who tracked it') and "
              "two jingles"),
    MusicPackage(
        "tomatoes-data", "I Have No Tomatoes", ("usr/share/tomatoes/music/*.it",),
        composer_from_copyright=False, size_mb=8.3, verified=True,
        notes="one 6.5-min Impulse Tracker module; Files: * Zlib (Mika Halttunen, the game's "
              "author; the music's composer is not named)"),
    MusicPackage(
        "heroes-sound-tracks", "Heroes", ("usr/share/games/heroes/mod/*.xm",),
        composers=(("heroes0[267].xm", "ToalNkor"), ("heroes05.xm", None), ("heroes10.xm", None),
                   ("*.xm", "Alexandre Liverneaux (Alexel)")),
        composer_from_copyright=False, size_mb=1.0, verified=True,
        notes="13 FastTracker modules (29 min), the game's whole soundtrack; Files: * GPL-2+ "
              "(its authors, Alexandre Liverneaux among them) and the package README says the "
              "files are GPL; composers from the modules' own credits (two carry none)"),
    MusicPackage(
        "tecnoballz-data", "TecnoballZ", ("usr/share/games/tecnoballz/musics/*.mod",),
        exclude=("*/area1-game2.mod",),
        composers=(("*_reg-zbb.mod", "Régis Parret and ZBB"), ("*.mod", "Régis Parret")),
        composer_from_copyright=False, size_mb=1.6, verified=True,
        notes="14 ProTracker modules (51 min; some hold jingles as extra subsongs, rendered in "
              "order); Files: * GPL-3+ (TLK Games); 'music from reg' = Régis Parret of TLK Games, "
              "three signed 'REG & ZBB'; area1-game2.mod is a re-save of area1-game.mod"),
    MusicPackage(
        "biniax2-data", "Biniax 2", ("usr/share/games/biniax2/music/*.it",),
        composer="Jordan Tuzsuzov", composer_from_copyright=False, size_mb=2.4, verified=True,
        notes="8 Impulse Tracker modules (20 min); Files: * Zlib (Jordan Tuzsuzov), who signs "
              "them as Mordred"),
    MusicPackage(
        "gl-117-data", "GL-117", ("usr/share/games/gl-117/music/*.s3m",),
        composer="Thomas A. Drexl", composer_from_copyright=False, size_mb=1.3, verified=True,
        notes="8 Scream Tracker modules (9 min); Files: * GPL-2 (Thomas Drexl, the game's "
              "author), whose name each module's message carries"),
    MusicPackage(
        "pachi-data", "Pachi el marciano", ("usr/share/pachi/music/*.s3m",),
        exclude=("*/menu.s3m",), composer="Peter Hajba (Skaven)", composer_from_copyright=False,
        licence="GPL-2+",
        size_mb=2.6, verified=True,
        notes="4 Scream Tracker modules by Skaven of Future Crew (13 min); free-form copyright "
              "naming Peter Hajba among the holders, GPL-2+. menu.s3m carries no credit; "
              "stage2.stm (an S3M under another extension) is not taken"),
    MusicPackage(
        "monsterz-data", "Monsterz", ("usr/share/games/monsterz/sound/music.s3m",),
        composer="MenTaLguY", composer_from_copyright=False, size_mb=1.3, verified=True,
        notes="one module (3 min) with its own stanza: public domain, dedicated so in its message"),
    MusicPackage(
        "dodgindiamond2", "Dodgin' Diamond 2", ("usr/share/games/dodgindiamond2/bgm*.xm",),
        composer="Juan J. Martinez", composer_from_copyright=False, size_mb=0.2, verified=True,
        notes="2 FastTracker modules (3 min); Files: * GPL-2+ (Juan J. Martinez, who signs them)"),
    MusicPackage(
        "ballz-data", "B.A.L.L.Z.", ("usr/share/games/ballz/*.xm",),
        composer="Per Larsson (finalman)", composer_from_copyright=False, size_mb=0.05,
        verified=True,
        notes="one FastTracker module (1.6 min); Files: * BSD-3 (Per Larsson is a holder; "
              "the file name carries his handle)"),
)
