"""The demo's catalogs: built once and cached, from free Debian soundtracks, a folder of the
user's music, or a Hugging Face dataset; plus the 2-D map of each, cached beside it.

    python -m demo.catalog default [--corpus DIR] [--preset ID] [--data data/demo]
    python -m demo.catalog folder MUSIC [--preset ID] [--data data/demo]
    python -m demo.catalog export CATALOG OUT   # a Hub dataset for a Space: OUT/catalog + OUT/audio

The first two print the catalog directory. A cached catalog is reused while it was made by the same
weights (its sha256 is in the directory name), so a new preset builds a new one.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

# Free soundtracks fetched for the default catalog (plain Ogg Vorbis; no MIDI/tracker renderer
# needed), about 260 tracks from ~800 MB of .debs: the five held out of disentangled-msd's training
# (validation) first, then more of the corpus builder's soundtracks.
DEFAULT_PACKAGES = ("singularity-music", "colobot-common-sounds", "openclonk-data", "pushover-data",
                    "fillets-ng-data", "drascula-music", "hyperrogue-music", "extremetuxracer-data",
                    "neverball-common", "supertux-data", "ardentryst", "blobwars-data", "amoebax-data",
                    "adonthell-data", "wizznic-data", "noiz2sa-data", "mrrescue", "torus-trooper-data",
                    "gunroar-data", "tumiki-fighters-data", "parsec47-data")
MAX_TRACKS = 300
SEARCHABLE = ["title", "soundtrack", "composer", "package", "folder"]
TOP_TAGS = 5
CATALOG_REPO_ENV = "DEMO_CATALOG_REPO"  # a Space: the Hub dataset repo holding catalog/ and audio


class NoDebianTools(RuntimeError):
    """apt-get / dpkg-deb are missing, so Debian soundtracks cannot be fetched."""


def weights_tag(model):
    sha = (model.metadata.get("files") or {}).get("model.weights.h5") or "nosha"
    name = str(model.preset_id).replace("/", "_").replace(":", "_")
    return f"{Path(name).name}-{sha[:10]}"


def fetch_corpus(out, packages=DEFAULT_PACKAGES, cache=None):
    """Fetch `packages` with the corpus builder into `out` (skips those already built)."""
    from training_recipes.corpus.build import build
    from training_recipes.corpus.packages.packages import RESERVED

    if set(packages) & RESERVED:
        raise ValueError(f"reserved evaluation packages are never used: {sorted(set(packages) & RESERVED)}")
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise NoDebianTools(
            f"The default demo catalog is made of free game soundtracks fetched from Debian, which needs "
            f"{' and '.join(missing)} (not found: this is not a Debian/Ubuntu machine). Serve your own "
            "music instead: make demo MUSIC=/path/to/a/folder/of/audio")
    fetch = lambda: build(out, list(packages), cache=str(cache or Path(out).parent / "debs"))
    results = fetch()
    failed = [r for r in results if str(r["status"]).startswith("failed")]
    if len(failed) == len(results):  # a fresh machine: apt's package lists may be empty
        import subprocess

        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False)
        results = fetch()
        failed = [r for r in results if str(r["status"]).startswith("failed")]
    if len(failed) == len(results):
        raise RuntimeError(f"no soundtrack could be fetched ({failed[0]['status']}); try `sudo apt-get update`")
    return Path(out) / "manifest.jsonl"


def manifest_entries(manifest, packages=DEFAULT_PACKAGES, limit=MAX_TRACKS):
    """(id, path, metadata) of a corpus manifest's tracks of `packages` (never reserved ones)."""
    from sdk.catalog_sources import read_source
    from training_recipes.corpus.packages.packages import RESERVED

    entries = [e for e in read_source(manifest) if e[2].get("package") in packages
               and e[2].get("package") not in RESERVED and e[2].get("use", "training") == "training"]
    if not entries:
        raise ValueError(f"{manifest}: none of the packages {', '.join(packages)}")
    return entries[:limit]


def build_catalog(model, entries, out, progress=True):
    """Embed and tag each (id, path, metadata) once; save the catalog at `out` with each item's
    title, soundtrack, composer, licence, path and top tags."""
    from sdk import Catalog
    from sdk.catalog_models import model_identity

    catalog = Catalog(model.embedding_size, model.subspace_layout, fields=SEARCHABLE, **model_identity(model))
    add_tracks(model, catalog, entries, progress)
    if not len(catalog):
        raise ValueError(f"none of the {len(entries)} tracks could be read: {catalog.skipped[:1]}")
    catalog.save(out)
    return Path(out)


def add_tracks(model, catalog, entries, progress=True):
    """Embed, tag and add each (id, path, metadata), batched across files (unreadable files go
    to catalog.skipped)."""
    from sdk.audio import AUDIO_EXTENSIONS

    keep = ("title", "soundtrack", "composer", "licence", "package", "folder", "duration", "artist", "album")
    readable = lambda path: Path(path).is_file() and Path(path).suffix.lower() in AUDIO_EXTENSIONS
    catalog.skipped += [(str(path), f"{path}: not an audio file that exists") for _, path, _ in entries
                        if not readable(path)]
    entries = [e for e in entries if readable(e[1])]
    if not entries:
        return
    model.progress, was = progress, model.progress
    try:
        outputs = model.embed_and_tag_many([str(path) for _, path, _ in entries])
        for (id, path, meta), (_, vector, scores) in zip(entries, outputs):
            if vector is None:
                catalog.skipped.append((str(path), str(scores)))
                continue
            item = {"path": str(path), "title": meta.get("title") or Path(path).stem, "stat": file_stat(path),
                    **{k: meta[k] for k in keep if meta.get(k) not in (None, "") and k != "title"}}
            if len(scores):
                item["top_tags"] = [model.tags[i] for i in np.argsort(-scores)[:TOP_TAGS]]
            catalog.add(id, vector, [item])
    finally:
        model.progress = was


def file_stat(path):
    """[size, mtime in ns] of a file: how a folder catalog sees that a file changed."""
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns]


def cached_catalog(model, entries_fn, out, progress=True):
    """`out` if a catalog is there, else one built from entries_fn() (called only then)."""
    out = Path(out)
    if (out / "catalog.json").is_file():
        return out
    return build_catalog(model, entries_fn(), out, progress)


def refreshed_catalog(model, entries, out, progress=True):
    """The catalog at `out` brought up to date with `entries` (a folder's files now): files added
    or changed since are embedded, those gone are dropped; saved (atomically) only if anything
    changed. Builds it when there is none."""
    from sdk import Catalog

    out = Path(out)
    if not (out / "catalog.json").is_file():
        return build_catalog(model, entries, out, progress)
    catalog = Catalog.load(out)
    now = {id: (path, meta) for id, path, meta in entries}
    stale = [id for id in catalog.ids
             if id not in now or catalog.get(id).get("stat") != file_stat(now[id][0])]
    catalog.remove(stale)
    fresh = [(id, path, meta) for id, (path, meta) in now.items() if id not in catalog]
    catalog.skipped = []
    add_tracks(model, catalog, fresh, progress)
    if stale or fresh:
        if not len(catalog):
            raise ValueError(f"none of the {len(entries)} tracks could be read: {catalog.skipped[:1]}")
        catalog.save(out)
        print(f"{out}: {len(fresh) - len(catalog.skipped)} tracks added or changed, "
              f"{len(set(stale) - set(now))} removed", file=sys.stderr)
    return out


def default_catalog(model, data="data/demo", corpus=None, progress=True):
    """The default catalog: soundtracks of DEFAULT_PACKAGES from `corpus` (a corpus builder
    output), else fetched from Debian into data/corpus; built once per preset weights."""
    data = Path(data)

    def entries():
        manifest = Path(corpus) / "manifest.jsonl" if corpus else fetch_corpus(data / "corpus")
        return manifest_entries(manifest)

    return cached_catalog(model, entries, data / f"catalog-{weights_tag(model)}", progress)


def folder_catalog(model, music, data="data/demo", progress=True):
    """A catalog of the user's folder of audio, built once per folder and preset weights and
    brought up to date (files added, changed or removed) each time it is served."""
    from sdk.catalog_sources import read_source

    music = Path(music).expanduser().resolve()
    if not music.is_dir():
        raise ValueError(f"MUSIC={music}: not a folder")
    key = hashlib.sha256(str(music).encode()).hexdigest()[:8]
    entries = [(i, p, {"folder": m.get("folder") or music.name, **m}) for i, p, m in read_source(music)]
    return refreshed_catalog(model, entries, Path(data) / f"music-{music.name}-{key}-{weights_tag(model)}", progress)


def hub_catalog(repo_id):
    """The catalog directory of a Hub dataset repo holding `catalog/` (item paths relative to the
    repo root) and its audio, downloaded into the Hub cache (HF_HOME; offline: from the cache)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        root = Path(snapshot_download(repo_id, repo_type="dataset"))
    except LocalEntryNotFoundError:
        raise ValueError(f"{CATALOG_REPO_ENV}={repo_id}: the dataset is not in the Hub cache and cannot be "
                         "downloaded (offline, or no such dataset)") from None
    if not (root / "catalog" / "catalog.json").is_file():
        raise ValueError(f"{repo_id}: no catalog/catalog.json in the dataset repo")
    return root / "catalog"


def export_for_hub(catalog_dir, out):
    """Copy a catalog and its audio into `out` as a Hub dataset: out/catalog (item paths
    relative to `out`) and out/audio/<id>. Upload it with
    `hf upload --repo-type dataset ORG/NAME OUT` and name it in $DEMO_CATALOG_REPO."""
    from sdk import Catalog

    catalog, out = Catalog.load(catalog_dir), Path(out)
    roots = audio_roots(catalog_dir)
    copy = Catalog(catalog.embedding_size, catalog.subspaces, catalog.model, model_sha256=catalog.model_sha256,
                   fields=catalog.fields, model_source=None)
    for item in catalog.items:
        source = resolve_audio(item, roots)
        if source is None:
            raise ValueError(f"{item['id']}: audio file {item.get('path')} not found")
        relative = Path("audio") / item["id"]
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / relative)
        copy.add(item["id"], catalog.vector(item["id"]), [{**item, "path": relative.as_posix()}])
    copy.save(out / "catalog")
    return out / "catalog"


def audio_roots(catalog_dir):
    """Folders an item's relative path may be relative to: the catalog's and its parent."""
    catalog_dir = Path(catalog_dir).resolve()
    return [catalog_dir, catalog_dir.parent]


def resolve_audio(item, roots):
    """The item's audio file as an absolute path that exists, or None."""
    path = Path(str(item.get("path") or ""))
    candidates = [path] if path.is_absolute() else [Path(root) / path for root in roots]
    return next((str(c.resolve()) for c in candidates if str(path) and c.is_file()), None)


# ----- the 2-D map, computed once per catalog and cached beside it ---------------------------
def catalog_map(catalog, catalog_dir=None, method="tsne"):
    """{sub-space or "full": (N, 2) coordinates} of the catalog, one layout per sub-space
    (sdk.maps.project). Cached as <catalog_dir>.map-<method>.npz while the vectors match."""
    vectors = np.stack([catalog.vector(i) for i in catalog.ids]) if len(catalog) else np.zeros((0, 2))
    fingerprint = hashlib.sha256(vectors.tobytes()).hexdigest()
    cache = Path(f"{Path(catalog_dir).resolve()}.map-{method}.npz") if catalog_dir else None
    if cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            if str(saved["fingerprint"]) == fingerprint:
                return {name: saved[name] for name in saved.files if name != "fingerprint"}
    layout = catalog.subspaces
    panels = {"full": vectors}
    if len(layout) > 1:
        panels.update({name: vectors[:, a:b] for name, (a, b) in layout.items()})
    points = {name: _project_or_line(rows, method) for name, rows in panels.items()}
    if cache:
        try:
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, fingerprint=np.array(fingerprint), **points)
            os.replace(tmp, cache)
        except OSError:  # a read-only place (a Space's download): keep it in memory
            pass
    return points


def _project_or_line(rows, method):
    from sdk.maps import project

    if len(rows) < 4:  # too few for t-SNE: spread them on a line
        return np.stack([np.arange(len(rows), dtype=float), np.zeros(len(rows))], 1)
    return np.asarray(project(rows, method=method), np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo.catalog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=["default", "folder", "export"])
    parser.add_argument("music", nargs="?", help="folder of audio (folder); the catalog (export)")
    parser.add_argument("out", nargs="?", help="where to write the Hub dataset (export)")
    parser.add_argument("--preset", default="disentangled-msd")
    parser.add_argument("--data", default="data/demo", help="where catalogs are cached")
    parser.add_argument("--corpus", help="an existing corpus builder output to take the soundtracks from")
    parser.add_argument("--map", default="tsne", choices=["tsne", "pca", "umap"])
    args = parser.parse_args(argv)
    import sdk

    if args.source == "export":
        if not (args.music and args.out):
            parser.error("export needs CATALOG and OUT")
        print(export_for_hub(args.music, args.out))
        return 0
    try:
        model = sdk.load(args.preset)
        model.progress = False
        if args.source == "folder":
            if not args.music:
                parser.error("folder needs MUSIC")
            directory = folder_catalog(model, args.music, args.data)
        else:
            directory = default_catalog(model, args.data, args.corpus)
        catalog_map(sdk.Catalog.load(directory), directory, args.map)
    except NoDebianTools as error:
        print(error, file=sys.stderr)
        return 3
    except (ValueError, RuntimeError, FileNotFoundError) as error:  # sdk's PresetNotFoundError too
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(directory)
    (Path(args.data) / "last-catalog.json").write_text(json.dumps({"catalog": str(directory),
                                                                    "preset": args.preset}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
