"""The README quick start as a script: `python -m sdk.quickstart <folder of music>`.

Loads the bundled `artist-siamese-msd` preset (offline), embeds one file, builds a
catalog of the folder, and searches it with the first track as the query.
"""

import argparse
import time

import numpy as np

import sdk
from sdk.audio import list_audio_files


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sdk.quickstart", description=__doc__)
    parser.add_argument("music", help="a folder of audio files")
    parser.add_argument("--catalog", default="data/quickstart-catalog", help="where to save the catalog")
    parser.add_argument("--limit", type=int, default=24, help="index at most this many files")
    args = parser.parse_args(argv)

    model = sdk.load("artist-siamese-msd")
    print(f"loaded {model} from {model.directory}")
    files = list_audio_files(args.music)[: args.limit]
    start = time.time()
    vector = model.embed(files[0])
    print(f"embedded {files[0].name}: {vector.shape[0]}-d, norm {np.linalg.norm(vector):.2f} "
          f"({time.time() - start:.1f} s)")

    catalog = sdk.Catalog.build(files, model.embed, model="artist-siamese-msd",
                                embedding_size=model.embedding_size, subspaces=model.subspace_layout)
    catalog.save(args.catalog)
    print(f"catalog of {len(catalog)} tracks saved to {args.catalog} ({len(catalog.skipped)} skipped)")

    query = catalog.ids[0]
    print(f"tracks most similar to {query}:")
    for hit in model.similar(query, catalog, k=5):
        print(f"  {hit['score']:.3f}  {hit['id']}")


if __name__ == "__main__":
    main()
