"""Embedding a large collection with Ray Data, and a Catalog from what it wrote (docs/scale.md).

    summary = embed_dataset("manifest.csv", "samplecnn-msd", "shards/")   # a local Ray instance
    summary = embed_dataset("manifest.csv", "samplecnn-msd", "shards/", address="auto")   # on a cluster node
    catalog = catalog_from_parquet("shards/")                            # or Catalog.from_parquet

The source (a folder of audio or a .csv / .jsonl manifest, sdk.catalog_sources.read_source) becomes
a Ray dataset of (row, id, path, metadata JSON); a pool of actors each loads the preset once and
embeds (and tags) its files; Parquet shards are written to a staging directory beside `out`, which
is renamed into place only when the job has finished, with `_embed_dataset.json` naming the preset,
its weights' sha256, the layout and the shards. A file that cannot be read becomes a row with an
`error` and no embedding: the job goes on, and the summary lists every such file.
"""

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from sdk.catalog_sources import read_source
from sdk.files import clean_stale, fsync_directory, staging_directory, swap_directory

__all__ = ["ScaleError", "embed_dataset", "catalog_from_parquet", "read_shards_metadata", "SHARDS_FILE"]

SHARDS_FILE = "_embed_dataset.json"  # a leading "_": Parquet readers skip it when scanning the folder
FORMAT, FORMAT_VERSION = "music-zoo-embeddings", 1
RAY_REQUIREMENT = "ray[data]>=2.60"


class ScaleError(ValueError):
    """A problem the user can fix (Ray missing, a bad address, shards of another model); one line."""


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ScaleError(f"Ray Data is not installed ({error}); install it with "
                         f"pip install 'music-retrieval-zoo[scale]' (or '{RAY_REQUIREMENT}')") from None
    return ray


class EmbedFiles:
    """The Ray Data UDF: one per actor. Loads the preset once, then embeds (and tags) the files of
    each batch; a file that fails gives a row with an error message instead of failing the job."""

    def __init__(self, preset, sha256, tags):
        from sdk.catalog_models import model_identity
        from sdk.model import load

        self.model = load(preset)
        self.model.progress = False
        found = model_identity(self.model)["model_sha256"]
        if sha256 and found != sha256:  # e.g. another version of a directory preset on this node
            raise RuntimeError(f"preset {preset}: weights sha256 {found} on this node, {sha256} on the driver")
        self.tags = bool(tags and self.model.tags)

    def __call__(self, batch):
        import pyarrow as pa

        embeddings, scores, errors = [], [], []
        for path in batch["path"]:
            try:
                vector, tag_scores = self.model.embed_and_tag(str(path))
                vector = np.asarray(vector, np.float32)
                if not np.all(np.isfinite(vector)):
                    raise ValueError("the embedding has non-finite values")
                embeddings.append(vector)
                scores.append(np.asarray(tag_scores, np.float32))
                errors.append(None)
            except Exception as error:  # noqa: BLE001 - recorded per row, reported at the end
                text = str(error)
                embeddings.append(None)
                scores.append(None)
                errors.append(text if str(path) in text else f"{path}: {type(error).__name__}: {text}")
        columns = {"row": pa.array(np.asarray(batch["row"], np.int64)),
                   **{k: pa.array([str(v) for v in batch[k]], pa.string()) for k in ("id", "path", "metadata")},
                   "embedding": pa.array(embeddings, pa.list_(pa.float32()))}
        if self.tags:
            columns["tags"] = pa.array(scores, pa.list_(pa.float32()))
        columns["error"] = pa.array(errors, pa.string())
        return pa.table(columns)


def _connect(ray, address, num_cpus):
    """Start a local Ray instance (address None) or connect to a cluster; True if this call did."""
    effective = os.environ.get("RAY_ADDRESS") if address == "auto" else address  # "auto" reads RAY_ADDRESS
    if address is not None and str(effective).startswith("ray://"):
        # Ray Data's executor needs a real driver (ray-project/ray#48682: "ray client ... is not supported by Ray Data")
        raise ScaleError(f"--address {address}: Ray Data does not run over Ray Client (ray://); run the command on a "
                         "cluster node with --address auto (or the head's HOST:6379), or submit it with ray job submit")
    if ray.is_initialized():
        if address is not None:
            raise ScaleError(f"--address {address}: Ray is already initialised in this process; "
                             "call ray.shutdown() first or leave the address out to use it")
        return False
    try:
        with warnings.catch_warnings():  # Ray starts its processes with fork + exec: JAX's fork warning is moot
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            if address is None:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, configure_logging=False)
            else:
                backend = os.environ.get("KERAS_BACKEND")
                ray.init(address=address, runtime_env={"env_vars": {"KERAS_BACKEND": backend}} if backend else None)
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"--address {address}" if address else "a local Ray instance"
        hint = ("; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token and its token "
                "here (~/.ray/auth_token)") if address and "RAY_AUTH_MODE" not in os.environ else ""
        raise ScaleError(f"{where}: could not start or connect to Ray ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}){hint}") from None
    return True


def _check_out(out):
    if out.exists() and not (out / SHARDS_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise ScaleError(f"--out {out}: exists and is not an embed-dataset output; refusing to replace it")


def embed_dataset(source, preset, out, *, address=None, num_actors=2, batch_size=16, tags=True,
                  cpus_per_actor=1.0, progress=True):
    """Embed every file of `source` with `preset` on Ray Data; write Parquet shards to `out`.

    `address`: None starts a local Ray instance (shut down at the end); "auto" or the head's
    "HOST:PORT" connects to a cluster (run this on one of its nodes: Ray Data does not run over Ray
    Client, ray://), whose nodes must have this package and the preset (a registered id or hf://
    handle is fetched on each node) and see `source`'s files and `out` at the same paths. A Ray
    already initialised in this process is used as it is.
    Returns {"out", "rows", "embedded", "errors": [[id, path, message]], "shards", "seconds"}.
    """
    from sdk import checks

    num_actors = checks.count(num_actors, "num_actors")
    batch_size = checks.count(batch_size, "batch_size")
    ray = _import_ray()
    started = time.time()
    entries = read_source(source)
    if not entries:
        raise ScaleError(f"{source}: no audio files")
    out = Path(out).absolute()
    _check_out(out)
    from sdk.catalog_models import model_identity
    from sdk.model import load

    model = load(preset)
    identity = model_identity(model)
    remote_preset = str(Path(preset).absolute()) if Path(str(preset)).is_dir() else str(preset)
    rows = [{"row": i, "id": id, "path": str(path), "metadata": json.dumps(meta, ensure_ascii=False, default=str)}
            for i, (id, path, meta) in enumerate(entries)]
    started_ray = _connect(ray, address, max(os.cpu_count() or 1, int(np.ceil(num_actors * cpus_per_actor)) + 2))
    staging, context = None, ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    try:
        staging = staging_directory(out)
        context.enable_progress_bars = bool(progress)
        blocks = min(len(rows), max(4 * num_actors, len(rows) // 2000))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            EmbedFiles, fn_constructor_kwargs={"preset": remote_preset, "sha256": identity["model_sha256"],
                                               "tags": tags},
            batch_size=batch_size, batch_format="numpy", num_cpus=cpus_per_actor,
            compute=ray.data.ActorPoolStrategy(size=num_actors))
        dataset.write_parquet(str(staging))
        shards = sorted(p.name for p in staging.glob("*.parquet"))
        errors, count = _scan_errors(staging, shards)
        if count != len(rows):
            raise ScaleError(f"{out}: the job wrote {count} rows for {len(rows)} files")
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **identity, "preset": str(preset),
                "embedding_size": model.embedding_size, "subspaces": model.subspace_layout,
                "tags": model.tags if tags else [], "rows": count, "errors": len(errors),
                "source": str(Path(source).absolute()) if isinstance(source, (str, os.PathLike)) else None,
                "shards": shards, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / SHARDS_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        for path in [*staging.iterdir(), staging]:
            fsync_directory(path) if path.is_dir() else _fsync(path)
        swap_directory(staging, out)
    finally:
        context.enable_progress_bars = bars
        if started_ray:
            ray.shutdown()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)  # gone already after a good swap
    clean_stale(out, lambda t: (t / SHARDS_FILE).is_file())
    return {"out": str(out), "rows": count, "embedded": count - len(errors), "errors": errors,
            "shards": len(shards), "seconds": round(time.time() - started, 3)}


def _fsync(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _scan_errors(directory, shards):
    """([[id, path, message]] of the error rows in source order, total rows) of written shards."""
    import pyarrow.parquet as pq

    found, count = [], 0
    for name in shards:
        table = pq.read_table(directory / name, columns=["row", "id", "path", "error"])
        count += table.num_rows
        for row in table.to_pylist():
            if row["error"] is not None:
                found.append((row["row"], [row["id"], row["path"], row["error"]]))
    return [entry for _, entry in sorted(found)], count


def read_shards_metadata(directory):
    """The `_embed_dataset.json` of an embed-dataset output, checked against the shards there."""
    directory = Path(directory)
    path = directory / SHARDS_FILE
    if not directory.is_dir():
        raise ScaleError(f"{directory}: not found (the --out folder of music-zoo embed-dataset)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScaleError(f"{path}: missing; {directory} is not an embed-dataset output") from None
    except ValueError as error:
        raise ScaleError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ScaleError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} description")
    present = sorted(p.name for p in directory.glob("*.parquet"))
    if present != sorted(meta.get("shards", [])):
        missing, extra = set(meta["shards"]) - set(present), set(present) - set(meta["shards"])
        raise ScaleError(f"{directory}: shards do not match {SHARDS_FILE} (missing {sorted(missing)[:3]}, "
                         f"not listed {sorted(extra)[:3]})")
    return meta


def catalog_from_parquet(directory, preset=None, *, top_tags=0, backend="auto"):
    """A Catalog of the rows embed_dataset wrote to `directory` (error rows go to `catalog.skipped`),
    in the source's order, recording the model that made them. `preset` (an id, directory or loaded
    MusicModel), when given, must be that model (same weights sha256), else ScaleError. `top_tags=N`
    stores each item's N best-scored tags as "top_tags" (shards written with tags)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sdk.index import Catalog

    if isinstance(top_tags, bool) or not isinstance(top_tags, int) or top_tags < 0:
        raise ScaleError(f"top_tags must be a whole number >= 0, got {top_tags!r}")
    meta = read_shards_metadata(directory)
    if preset is not None:
        _check_preset(directory, meta, preset)
    size = int(meta["embedding_size"])
    columns = ["row", "id", "path", "metadata", "embedding", "error"] + (["tags"] if top_tags else [])
    if top_tags and not meta.get("tags"):
        raise ScaleError(f"{directory}: top_tags: the shards hold no tag scores (embedded without tags)")
    tables = [pq.read_table(Path(directory) / name, columns=columns) for name in meta["shards"]]
    import pyarrow as pa

    table = pa.concat_tables(tables).sort_by("row")
    failed = table.filter(pc.is_valid(table["error"]))
    table = table.filter(pc.is_null(table["error"]))
    lengths = pc.list_value_length(table["embedding"]).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != size).any():
        raise ScaleError(f"{directory}: embeddings of {sorted(set(lengths.tolist()))} values, "
                         f"{SHARDS_FILE} says {size}")
    vectors = pc.list_flatten(table["embedding"]).to_numpy(zero_copy_only=False).reshape(-1, size)
    items = [{"path": path, **json.loads(text)} for path, text in
             zip(table["path"].to_pylist(), table["metadata"].to_pylist())]
    if top_tags:
        names = meta["tags"]
        for item, scores in zip(items, table["tags"].to_pylist()):
            item["top_tags"] = [names[i] for i in np.argsort(-np.asarray(scores))[:int(top_tags)]]
    catalog = Catalog(size, meta["subspaces"], model=meta["model"], backend=backend,
                      model_sha256=meta["model_sha256"], model_source=meta.get("model_source"))
    if len(table):
        catalog.add(table["id"].to_pylist(), vectors, items)
    catalog.skipped = [(p, e) for p, e in zip(failed["path"].to_pylist(), failed["error"].to_pylist())]
    return catalog


def _check_preset(directory, meta, preset):
    from sdk.catalog_models import model_identity
    from sdk.model import MusicModel, load

    model = preset if isinstance(preset, MusicModel) else load(preset)
    ours = model_identity(model)
    if ours["model_sha256"] != meta.get("model_sha256"):
        raise ScaleError(f"{directory}: the shards were made by {meta.get('model')!r} (weights sha256 "
                         f"{meta.get('model_sha256')}), not by {ours['model']!r} (weights sha256 "
                         f"{ours['model_sha256']}): vectors of different models are not comparable; ingest "
                         f"them with the preset that made them, or re-embed")
