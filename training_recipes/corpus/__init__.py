"""The free-music corpus: Debian game-soundtrack packages -> audio files + manifest.jsonl.

    python -m training_recipes.corpus list | build | build-evaluation     (cli.py)

build.py fetches and unpacks each package and writes the manifest; collect.py finds its music
files, render.py renders MIDI scores and tracker modules, copyright.py reads licences and
composers, manifest.py reads and writes the manifests (and keeps training code away from the
evaluation-only rows); packages/ holds the table of packages (music_package.py says what each
field means).
"""
