"""Gradio demo: search a music catalog along separate musical dimensions.

    python -m demo.app --catalog DIR [--preset disentangled-msd] [--port 7860]

Without --catalog: the Hub dataset named by $DEMO_CATALOG_REPO (a Hugging Face Space), else the
last catalog `python -m demo.catalog` built. The query is embedded once; the sliders and the
thumbs re-rank its cached vector (demo/engine.py).
"""

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # app.py at the root of a Hugging Face Space: this folder is `demo`
    import importlib.util

    _spec = importlib.util.spec_from_file_location("demo", Path(__file__).with_name("__init__.py"),
                                                   submodule_search_locations=[str(Path(__file__).parent)])
    sys.modules["demo"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["demo"])

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from demo import views  # noqa: E402
from demo.catalog import audio_roots, catalog_map, resolve_audio  # noqa: E402
from demo.engine import FULL, QueryError, SearchEngine  # noqa: E402

DEFAULT_PRESET = "disentangled-msd"
CLIP = "__clip__"  # the mix-and-match choice meaning "the uploaded clip"


def build_app(model, catalog, catalog_dir=None, map_method="tsne", k=10, engine=None, **limits):
    """The Blocks app over `catalog` (built by `model`). `limits`: max_upload_mb, max_seconds."""
    engine = engine or SearchEngine(model, catalog, k=k, **limits)
    points = catalog_map(catalog, catalog_dir, map_method)
    roots = audio_roots(catalog_dir) if catalog_dir else []
    audio = {item["id"]: resolve_audio(item, roots) for item in catalog.items}
    names = [*engine.subspaces, FULL]
    tags_by_home = engine.tag_choices()
    tracks = engine.track_choices()
    metadata = engine.metadata_choices()
    # What a query may name: the choices offered, nothing else (never a path on the server).
    known = {id for _, id in tracks} | {value for _, value in metadata} | {f"tag:{t}" for t in engine.tag_homes}

    def checked(values):
        unknown = [v for v in values if v not in known]
        if unknown:
            raise QueryError(f"{unknown[0]!r} is not in this catalog's choices.")
        return values

    def outputs_for(query, sliders, panel):
        """[shown ids, map, status, k row visibilities, k result cards] of a cached query."""
        hits = engine.rank(query, sliders)
        ratings = {**{p: "liked" for p in query.positives}, **{n: "disliked" for n in query.negatives}}
        spread = engine.spread(query)
        cards = [views.result_html(rank, hit, audio[hit["id"]], engine.subspaces, ratings.get(hit["id"]), spread)
                 for rank, hit in enumerate(hits, 1)]
        feedback = f" · {len(query.positives)} liked, {len(query.negatives)} disliked" if ratings else ""
        return [[hit["id"] for hit in hits], draw(query, hits, panel), f"Results for **{query.label}**{feedback}",
                *[gr.update(visible=i < len(hits)) for i in range(engine.k)], *(cards + [""] * (engine.k - len(cards)))]

    def draw(query, hits, panel):
        frame = views.map_frame(engine, points, panel, query, hits, query.positives if query else ())
        return views.map_figure(frame, panel, map_method)

    def new_query(spec, label, panel):
        query = engine.make_query(spec, label)
        sliders = engine.default_sliders(spec)
        fallback = catalog.get(spec).get("top_tags") if isinstance(spec, str) and spec in catalog else None
        tags = views.tags_markdown(engine.top_tags(query), fallback)
        return [query, *outputs_for(query, sliders, panel), tags, *[gr.update(value=sliders[n]) for n in names]]

    def guarded(fn, count):
        """fn's outputs, or on a QueryError only the status (output 3 of `results`) set to its message."""
        def run(*args):
            try:
                return fn(*args)
            except QueryError as error:
                return [gr.update()] * 3 + [f"**Could not search:** {error}"] + [gr.update()] * (count - 4)
        return run

    with gr.Blocks(title="Music search along dimensions") as app:
        gr.Markdown(f"## Search music along separate dimensions\nPreset **{model.preset_id}** · "
                    f"{len(catalog)} tracks · dimensions: {', '.join(engine.subspaces) or 'one space'}. "
                    "Query by a clip, catalog tracks, a model tag, a soundtrack or composer, or mix them per "
                    "dimension; weigh the dimensions with the sliders; rate results to refine.")
        query_state, ids_state = gr.State(None), gr.State([])  # the cached query; the ids shown, in order
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Audio clip"):
                        clip = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Upload or record",
                                        elem_id="query-audio")
                        clip_go = gr.Button("Search with this clip", variant="primary", elem_id="search-clip")
                    with gr.Tab("Catalog tracks", elem_id="tab-tracks"):
                        picked = gr.Dropdown(tracks, multiselect=True, label="One or several tracks (their mean)",
                                             elem_id="query-tracks")
                        tracks_go = gr.Button("Search like these", variant="primary", elem_id="search-tracks")
                    with gr.Tab("Model tags"):
                        tag_boxes = {home: gr.Dropdown([("—", "")] + [(t, t) for t in tags], value="", label=home,
                                                       elem_id=f"tag-{home}") for home, tags in tags_by_home.items()}
                        if not tag_boxes:
                            gr.Markdown(f"{model.preset_id} scores its tags outside its embedding space, so they "
                                        "cannot be searched with.")
                        tags_go = gr.Button("Search by tags", variant="primary", visible=bool(tag_boxes))
                    with gr.Tab("Soundtrack / composer"):
                        meta = gr.Dropdown(metadata, label="The prototype (mean) of its tracks", elem_id="query-meta")
                        meta_go = gr.Button("Search like this", variant="primary")
                    with gr.Tab("Mix and match", visible=bool(engine.subspaces)):
                        gr.Markdown("A different query per dimension: e.g. the genre of one track, the mood of "
                                    "another, a tag for the era. *(uploaded clip)* is the Audio clip tab's.")
                        mix_boxes = {name: gr.Dropdown(_mix_choices(name, tracks, tags_by_home, metadata), value="",
                                                       label=name, elem_id=f"mix-{name}") for name in engine.subspaces}
                        mix_go = gr.Button("Search with this mix", variant="primary")
            with gr.Column(scale=2):
                gr.Markdown("**Weights** (move to re-rank; nothing is re-embedded)")
                sliders = [gr.Slider(0, 1, value=1.0 if n == FULL else 0.0, step=0.05, label=n,
                                     elem_id=f"slider-{n}") for n in names]
                panel = gr.Dropdown(names, value=FULL, label="Map laid out by", elem_id="map-by")
        status = gr.Markdown("Pick a query and search.", elem_id="status")
        tags_md = gr.Markdown("", elem_id="query-tags")
        with gr.Row():
            with gr.Column(scale=3, elem_id="results"):
                rows, cards, thumbs = [], [], []
                for i in range(engine.k):  # fixed rows, filled per search: no handler goes stale
                    with gr.Row(visible=False, elem_classes=["result"], equal_height=True) as row:
                        cards.append(gr.HTML("", padding=False))
                        with gr.Column(scale=0, min_width=120):
                            thumbs += [(i, True, gr.Button("More like this", size="sm", elem_classes=["thumb-up"])),
                                       (i, False, gr.Button("Less like this", size="sm", elem_classes=["thumb-down"]))]
                    rows.append(row)
            with gr.Column(scale=2):
                plot = gr.Plot(draw(None, (), FULL), label="Catalog map", elem_id="map", format="png")

        results = [query_state, ids_state, plot, status, *rows, *cards]

        def rate(query, ids, index, liked, panel_name, slider_values):
            if query is None or index >= len(ids):
                raise QueryError("Search first.")
            query = query.rated(ids[index], liked)
            return [query, *outputs_for(query, dict(zip(names, slider_values)), panel_name)]

        def rerank(query, panel_name, *slider_values):
            if query is None:
                return [None, gr.update(), draw(None, (), panel_name)] + [gr.update()] * (len(results) - 3)
            return [query, *outputs_for(query, dict(zip(names, slider_values)), panel_name)]

        for index, liked, button in thumbs:
            button.click(guarded(lambda q, ids, p, *s, i=index, up=liked: rate(q, ids, i, up, p, s), len(results)),
                         [query_state, ids_state, panel, *sliders], results, concurrency_limit=4, api_name="rate")
        searched = [*results, tags_md, *sliders]
        search = lambda fn: guarded(fn, len(searched))
        embed = dict(concurrency_id="embed", concurrency_limit=1)  # one embedding at a time per server
        lookup = dict(concurrency_limit=4)  # queries of catalog vectors and tags: nothing to embed
        clip_go.click(search(lambda path, p: new_query(engine.check_audio(path), Path(path or "").name, p)),
                      [clip, panel], searched, api_name="search_clip", **embed)
        tracks_go.click(search(lambda ids, p: new_query(_one_or_many(checked(ids or [])), _labels(ids, tracks), p)),
                        [picked, panel], searched, api_name="search_tracks", **lookup)
        tags_go.click(search(lambda p, *chosen: new_query(*_tag_query(dict(zip(tag_boxes, chosen)), checked), p)),
                      [panel, *tag_boxes.values()], searched, api_name="search_tags", **lookup)
        meta_go.click(search(lambda value, p: new_query(checked([_required(value, "a soundtrack or composer")])[0], value, p)),
                      [meta, panel], searched, api_name="search_metadata", **lookup)
        if engine.subspaces:
            mix_go.click(search(lambda path, p, *parts: new_query(*_mix_query(dict(zip(mix_boxes, parts)), path,
                                                                               engine, tracks, checked), p)),
                         [clip, panel, *mix_boxes.values()], searched, api_name="search_mix", **embed)
        for control in [*sliders, panel]:
            event = control.input if control in sliders else control.change
            event(guarded(rerank, len(results)), [query_state, panel, *sliders], results,
                  trigger_mode="always_last", concurrency_limit=8, api_name="rerank")
    app.demo_css = views.CSS
    app.allowed_paths = sorted({p for p in audio.values() if p})  # exactly the catalog's audio files
    app.engine = engine
    return app


def handler(app, api_name):
    """The Python function behind one of the app's named events (for tests and scripting)."""
    return next(f.fn for f in app.fns.values() if f.api_name == api_name)


def _required(value, what):
    if not value:
        raise QueryError(f"Pick {what} first.")
    return value


def _one_or_many(ids):
    ids = list(_required(ids, "at least one track"))
    return ids[0] if len(ids) == 1 else ids


def _labels(ids, tracks):
    by_id = {id: label for label, id in tracks}
    return " + ".join(by_id.get(i, i) for i in ids or ())


def _tag_query(chosen, checked):
    chosen = {home: tag for home, tag in chosen.items() if tag}
    checked([f"tag:{tag}" for tag in _required(chosen, "a tag").values()])
    label = "; ".join(f"{home}: {tag}" for home, tag in chosen.items())
    spec = {home: f"tag:{tag}" for home, tag in chosen.items() if home != FULL}
    plain = [f"tag:{tag}" for home, tag in chosen.items() if home == FULL]
    if spec and plain:
        raise QueryError("Pick tags of the named dimensions or whole-space tags, not both.")
    return (spec or (plain[0] if len(plain) == 1 else plain)), label


def _mix_choices(name, tracks, tags_by_home, metadata):
    tags = tags_by_home.get(name, []) + tags_by_home.get(FULL, [])
    return ([("—", ""), ("(uploaded clip)", CLIP)] + [(f"tag: {t}", f"tag:{t}") for t in tags]
            + [(f"track: {label}", id) for label, id in tracks] + list(metadata))


def _mix_query(parts, clip_path, engine, tracks, checked):
    parts = {name: value for name, value in parts.items() if value}
    _required(parts, "a query for at least one dimension")
    checked([v for v in parts.values() if v != CLIP])
    if CLIP in parts.values():
        clip_path = engine.check_audio(clip_path)
    spec = {name: clip_path if value == CLIP else value for name, value in parts.items()}
    by_id = {id: label for label, id in tracks}
    name = lambda v: "clip" if v == CLIP else by_id.get(v) or (f"tag {v[4:]}" if v.startswith("tag:") else v)
    label = "; ".join(f"{n}: {name(v)}" for n, v in parts.items())
    return spec, label


def launch(app, port=None, host=None, block=True, **kwargs):
    """Queue and launch `app`; prints and returns the local URL."""
    app.queue(max_size=64, default_concurrency_limit=2)
    _, url, _ = app.launch(server_name=host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                           server_port=port, prevent_thread_lock=True, quiet=True, css=app.demo_css,
                           allowed_paths=app.allowed_paths, max_file_size=f"{app.engine.max_upload_mb:g}mb",
                           **kwargs)
    print(f"music search demo: {url}", flush=True)
    if block:
        app.block_thread()
    return url


def find_catalog(args):
    """The catalog directory to serve: --catalog, the Hub dataset, or the last one built."""
    from demo.catalog import CATALOG_REPO_ENV, hub_catalog

    if args.catalog:
        return Path(args.catalog)
    if os.environ.get(CATALOG_REPO_ENV):
        return hub_catalog(os.environ[CATALOG_REPO_ENV])
    last = Path(args.data) / "last-catalog.json"
    if last.is_file():
        return Path(json.loads(last.read_text())["catalog"])
    raise SystemExit("no catalog: pass --catalog DIR, build one with `python -m demo.catalog default` "
                     f"(make demo), or set {CATALOG_REPO_ENV} to a Hub dataset")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo.app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", help="a saved catalog directory (made by the preset)")
    parser.add_argument("--preset", default=os.environ.get("DEMO_PRESET", DEFAULT_PRESET),
                        help="preset id, hf:// handle or directory (default %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--host", default=None, help="default 127.0.0.1 ($GRADIO_SERVER_NAME)")
    parser.add_argument("--data", default="data/demo", help="where `python -m demo.catalog` caches catalogs")
    parser.add_argument("--map", default="tsne", choices=["tsne", "pca", "umap"])
    args = parser.parse_args(argv)
    import sdk

    directory = find_catalog(args)
    try:
        model = sdk.load(args.preset)
        catalog = sdk.Catalog.load(directory)
        app = build_app(model, catalog, directory, map_method=args.map)
    except (ValueError, FileNotFoundError) as error:  # sdk's PresetNotFoundError too
        raise SystemExit(f"error: {error}") from None
    launch(app, port=args.port, host=args.host)


if __name__ == "__main__":
    main()
