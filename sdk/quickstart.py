"""The README quick start as a script: `python -m sdk.quickstart <folder of music>`.

Loads a bundled preset (offline; default the flagship `samplecnn-msd`), embeds and tags one
file, builds a catalog of the folder whose items carry each track's top tags, then searches
it by example (the first track) and by tag (the commonest tag not on every track).
"""

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

import sdk
from sdk.audio import AudioError, list_audio_files


def tagged_catalog(model, files, root, top_k, computed=None):
    """A catalog of `files` (ids relative to `root`) whose items carry each one's top-k tags,
    from one pass of the model over each file (`computed` maps a file already run to its
    (vector, scores) or its AudioError); unreadable files are listed in `skipped`."""
    from sdk.catalog_models import model_identity

    catalog = sdk.Catalog(model.embedding_size, model.subspace_layout, **model_identity(model))
    computed = {Path(f).resolve(): result for f, result in (computed or {}).items()}
    for file in tqdm(files, desc="embedding and tagging", unit="file"):
        file = Path(file).resolve()
        try:
            result = computed[file] if file in computed else model.embed_and_tag(file)
            if isinstance(result, AudioError):
                raise result
            vector, scores = result
        except AudioError as error:
            catalog.skipped.append((str(file), str(error)))
            continue
        item = {"path": str(file)}
        if len(scores):
            item["tags"] = [model.tags[i] for i in np.argsort(-scores)[:top_k]]
        catalog.add(str(file.relative_to(root)), vector, [item])
    return catalog


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sdk.quickstart", description=__doc__)
    parser.add_argument("music", help="a folder of audio files")
    parser.add_argument("--preset", default="samplecnn-msd", help="preset id, hf:// handle or directory")
    parser.add_argument("--catalog", default="data/quickstart-catalog", help="where to save the catalog")
    parser.add_argument("--limit", type=int, default=24, help="index at most this many files")
    parser.add_argument("--top-tags", type=int, default=3, help="tags stored with each catalog item")
    args = parser.parse_args(argv)

    model = sdk.load(args.preset)
    print(f"loaded {model} from {model.directory}")
    root = Path(args.music).resolve()
    files = list_audio_files(root)[: args.limit]
    if not files:
        raise SystemExit(f"{args.music}: no audio files")
    first, vector, start, computed = None, None, time.time(), {}
    for file in files:  # the first file that decodes
        try:
            first, (vector, scores) = file, model.embed_and_tag(file)
            computed[file] = (vector, scores)
            break
        except AudioError as error:
            computed[file] = failure = error  # reported with the catalog's skipped files
    if first is None:
        raise SystemExit(f"{args.music}: none of the first {len(files)} audio files could be decoded "
                         f"(last: {failure})")
    print(f"embedded and tagged {first.name}: {vector.shape[0]}-d, norm {np.linalg.norm(vector):.2f} "
          f"({time.time() - start:.1f} s)")
    if model.tags:  # as model.tag(first, top_k=5) gives them, from the same pass
        top = np.argsort(-scores)[:5]
        print(f"tags of {first.name}: " + ", ".join(f"{model.tags[i]} {scores[i]:.2f}" for i in top))

    catalog = tagged_catalog(model, files, root, args.top_tags, computed)
    catalog.save(args.catalog)
    print(f"catalog of {len(catalog)} tracks saved to {args.catalog} ({len(catalog.skipped)} skipped)")
    for _, message in catalog.skipped:
        print(f"  skipped {message}")

    query = catalog.ids[0]
    print(f"tracks most similar to {query}:")
    for hit in model.similar(query, catalog, k=5):
        print(f"  {hit['score']:.3f}  {hit['id']}")
    tags = Counter(t for item in catalog.items for t in item.get("tags") or ())
    if tags:
        # The commonest tag that not every track has: a tag on every track would rank the
        # catalog by its overall centroid.
        tag, count = next(((t, n) for t, n in tags.most_common() if n < len(catalog)), tags.most_common(1)[0])
        print(f"tracks closest to the tag '{tag}' (the prototype of its {count} tracks, thesis Eq. 2.9):")
        for hit in model.similar(tag, catalog, k=5):
            print(f"  {hit['score']:.3f}  {hit['id']}")


if __name__ == "__main__":
    main()
