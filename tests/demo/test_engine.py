"""demo/engine.py: a query is embedded once; sliders and feedback re-rank its cached vector."""

import numpy as np
import pytest
import soundfile

import sdk
from demo.engine import FULL, QueryError, SearchEngine
from helpers import tone
from sdk.catalog_models import model_identity


def hand_made(model):
    """A 16-d catalog (low = dims 0-7, high = 8-15) where "low-twin" matches the query only in
    the low sub-space and "high-twin" only in the high one."""
    rng = np.random.default_rng(0)
    query = rng.standard_normal(16)
    other = lambda: rng.standard_normal(8)
    noise_a = np.r_[other(), other()]
    vectors = {"low-twin": np.r_[query[:8], -query[8:]], "high-twin": np.r_[-query[:8], query[8:]],
               "noise-a": noise_a, "noise-b": np.r_[other(), other()],
               "near-high": np.r_[-query[:8], query[8:] + 0.6 * other()],
               "near-a": noise_a + 0.3 * rng.standard_normal(16)}
    catalog = sdk.Catalog(16, model.subspace_layout, **model_identity(model))
    catalog.add(list(vectors), np.stack(list(vectors.values())),
                [{"title": id, "soundtrack": "hand-made"} for id in vectors])
    return catalog, query


@pytest.fixture(scope="module")
def model(tagger_dir):
    model = sdk.load(tagger_dir)
    model.progress = False
    return model


def ranked(hits):
    return [h["id"] for h in hits]


def test_sliders_and_feedback_rerank_without_embedding_again(model, tmp_path, monkeypatch):
    catalog, _ = hand_made(model)
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, tone(300, seconds=1.0), 8000)
    calls = []
    embed = model.embed
    monkeypatch.setattr(model, "embed", lambda *a, **k: calls.append(a) or embed(*a, **k))
    engine = SearchEngine(model, catalog, k=3)
    query = engine.make_query(engine.check_audio(str(clip)))
    assert len(calls) == 1
    orders = [ranked(engine.rank(query, sliders)) for sliders in
              ({FULL: 1.0}, {"low": 1.0}, {"high": 1.0}, {"low": 0.3, "high": 0.9, FULL: 0.2})]
    orders.append(ranked(engine.rank(query.rated(orders[0][0], up=False), {FULL: 1.0})))
    orders.append(ranked(engine.rank(query.rated("noise-a", up=True), {"high": 1.0})))
    assert len(calls) == 1, "re-ranking embedded the audio again"
    assert all(len(order) == 3 for order in orders)


def test_slider_weights_change_the_order(model):
    catalog, vector = hand_made(model)
    engine = SearchEngine(model, catalog, k=5)
    query = engine.make_query(vector, "hand-made query")
    assert ranked(engine.rank(query, {"low": 1.0}))[0] == "low-twin"
    assert ranked(engine.rank(query, {"high": 1.0}))[:2] == ["high-twin", "near-high"]
    # FULL adds the same weight to every sub-space: the whole-space cosine.
    assert engine.weights({FULL: 1.0, "low": 0.5}) == pytest.approx({"low": 1.0, "high": 0.5})
    with pytest.raises(QueryError, match="zero"):
        engine.rank(query, {"low": 0.0, "high": 0.0, FULL: 0.0})


def test_feedback_changes_the_ranking(model):
    catalog, vector = hand_made(model)
    engine = SearchEngine(model, catalog, k=5)
    query = engine.make_query(vector, "hand-made query")
    before = ranked(engine.rank(query, {"high": 1.0}))
    disliked = query.rated("high-twin", up=False)
    after = ranked(engine.rank(disliked, {"high": 1.0}))
    assert before[0] == "high-twin" and "high-twin" not in after and after[0] == "near-high"
    # Liking a track pulls the query toward it: its neighbour near-a scores higher; rated tracks
    # leave the results, as in model.similar.
    scores = lambda hits: {h["id"]: h["score"] for h in hits}
    plain = scores(engine.rank(query, {FULL: 1.0}, k=6))
    liked = scores(engine.rank(query.rated("noise-a", up=True), {FULL: 1.0}, k=6))
    assert "noise-a" in plain and "noise-a" not in liked
    assert liked["near-a"] > plain["near-a"] + 0.05
    # Rating again the same way takes the rating back.
    assert disliked.rated("high-twin", up=False).negatives == ()


def test_bad_files_give_a_message_not_a_traceback(model, tmp_path):
    catalog, _ = hand_made(model)
    engine = SearchEngine(model, catalog, max_upload_mb=0.1, max_seconds=1.0)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.wav").write_text("this is not audio")
    soundfile.write(tmp_path / "long.wav", tone(300, seconds=2.0), 8000)
    soundfile.write(tmp_path / "big.wav", np.random.default_rng(0).uniform(-1, 1, 8000 * 8), 8000)
    cases = {"notes.txt": "not an audio file", "broken.wav": "could not read it as audio",
             "long.wav": "over the 1 s limit", "big.wav": "MB is over the 0.1 MB limit"}
    for name, message in cases.items():
        with pytest.raises(QueryError, match=message) as error:
            engine.check_audio(str(tmp_path / name))
        assert name in str(error.value) and str(tmp_path) not in str(error.value)
    with pytest.raises(QueryError, match="upload or record"):
        engine.check_audio(None)


def test_a_catalog_of_another_model_is_refused(model):
    catalog = sdk.Catalog(16, model.subspace_layout, model="another-model", model_sha256="0" * 64)
    with pytest.raises(ValueError, match="another-model"):
        SearchEngine(model, catalog)


def test_queries_name_what_is_wrong(model):
    catalog, _ = hand_made(model)
    engine = SearchEngine(model, catalog)
    with pytest.raises(QueryError, match="unknown sub-space"):
        engine.make_query({"tempo": "low-twin"})
    with pytest.raises(QueryError, match="no such tag|not scored"):
        engine.make_query("tag:jazz")
    assert engine.default_sliders({"high": "low-twin"}) == {"low": 0.0, "high": 1.0, FULL: 0.0}
    assert engine.default_sliders("low-twin") == {"low": 0.0, "high": 0.0, FULL: 1.0}


def test_model_tags_by_sub_space_and_the_query_top_tags(model):
    """Tags with vectors in the embedding space (here fitted prototypes: the whole space)."""
    catalog, vector = hand_made(model)
    tagged = model.fit_prototypes(catalog, {"low-twin": "warm", "near-high": "bright", "high-twin": "bright"})
    engine = SearchEngine(tagged, catalog, k=3)
    assert engine.tag_choices() == {FULL: ["bright", "warm"]}
    hits = ranked(engine.rank(engine.make_query("tag:bright"), {FULL: 1.0}))
    assert set(hits[:2]) == {"near-high", "high-twin"}
    top = engine.top_tags(engine.make_query(catalog.vector("near-high")), n=1)
    assert top[FULL][0][0] == "bright"


def test_top_tags_rank_by_the_heads_score_not_the_bare_cosine(model):
    """A disentangled head's logit is |class vector| x cosine: a long class vector at a wider
    angle can outscore a short one the query points straight at."""
    catalog, vector = hand_made(model)
    tagged = model.fit_prototypes(catalog, {"noise-a": "warm", "near-high": "bright"})
    engine = SearchEngine(tagged, catalog)
    vectors = engine.model.tag_embeddings()
    query = engine.make_query(2 * vectors["bright"] + vectors["warm"])  # nearer bright
    assert engine.top_tags(query, n=2)[FULL][0][0] == "bright"  # prototype heads: scale 1
    tagged._tag_norms = {"bright": 1.0, "warm": 100.0}
    assert [tag for tag, _ in engine.top_tags(query, n=2)[FULL]] == ["warm", "bright"]


def test_top_tags_skip_the_sub_spaces_a_mix_leaves_out(model):
    catalog, vector = hand_made(model)
    tagged = model.fit_prototypes(catalog, {"low-twin": "warm", "near-high": "bright"})
    engine = SearchEngine(tagged, catalog)
    engine.tag_homes = {"warm": "low", "bright": "high"}  # as a disentangled head's tags would lie
    query = engine.make_query({"low": "low-twin"})
    assert list(engine.top_tags(query)) == ["low"]


def test_the_similarity_bars_spread_is_the_query_cosines_to_the_catalog(model):
    catalog, vector = hand_made(model)
    engine = SearchEngine(model, catalog)
    spread = engine.spread(engine.make_query(vector, "q"), low=0, high=100)
    hits = engine.catalog.search(vector, k=len(catalog), weights={"low": 1.0})[0]
    cos = [h["subspace_scores"]["low"] for h in hits]
    assert spread["low"] == pytest.approx((min(cos), max(cos)), abs=1e-5) and set(spread) == {"low", "high", FULL}
