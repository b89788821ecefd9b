"""One Debian package's music for the corpus builder: where it lives and who made it.

Each `MusicPackage` says where the music lives inside the package: glob patterns
relative to the package root (no leading slash, `**` allowed). A pattern may name
archives (.pk3 / .zip / .love): every audio file inside a matched archive is unpacked, or
only the members matching an inner glob given after "::", e.g.
"usr/share/games/x/*.pk3::music/*.ogg". Files without an extension are taken
when their first bytes say Ogg, FLAC, WAV or MP3. MIDI scores and tracker modules are
rendered to FLAC (render.py); a Doom .wad is read like an archive whose inner glob
names music lumps ("x.wad::D_*"), each a MIDI score. `exclude` globs (on the path inside the
package, file names compared case-insensitively) drop matched files: sped-up
copies of other tracks, or files whose licence the copyright file leaves unclear.

`licence` overrides the licence read from the copyright file (free-form copyright
files, or a credits file inside the package naming the music's licence);
`composers` are (glob on the file name, composer) pairs from the package's own
music credits; otherwise a file's artist tag names its composer, then (unless
`composer_from_copyright=False`: they are the code's authors there) the holders
in the copyright file. `source_dir` maps the
install directory to the source directory the DEP-5 "Files:" globs are written
against. `raw` = (sample_rate, channels, soundfile subtype) decodes headerless PCM
files (converted to FLAC in the corpus). `own_stanza_only` skips (to skipped.jsonl)
files with no DEP-5 stanza of their own, where only the catch-all "Files: *" (the
code's licence and authors) would speak for them.

`verified=True` means the paths were checked with `dpkg-deb -c` against the real
.deb and the package was built for real. `size_mb` is the .deb size.
"""

from dataclasses import dataclass, field

__all__ = ["MusicPackage"]


@dataclass(frozen=True)
class MusicPackage:
    name: str
    soundtrack: str  # album-level label
    patterns: tuple  # globs relative to the package root; "archive-glob::inner-glob"
    composer: str | None = None  # default when neither file names nor copyright name one
    size_mb: float | None = None  # .deb size
    verified: bool = False  # paths checked against the real package contents
    notes: str = field(default="", compare=False)
    exclude: tuple = ()  # globs of matched files to leave out
    licence: str | None = None  # overrides the copyright file's licence
    composers: tuple = ()  # ((file-name glob, composer), ...) from the package's credits
    composer_from_copyright: bool = True  # copyright holders may name the composer
    source_dir: tuple | None = None  # (install prefix, source prefix) for DEP-5 globs
    raw: tuple | None = None  # (sample_rate, channels, subtype) of headerless PCM
    own_stanza_only: bool = False  # skip files only the catch-all "Files: *" covers
