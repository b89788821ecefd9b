"""`sdk.maps.subspace_maps` and `music-zoo visualize map --by-subspace`: one panel per sub-space plus "full"."""

import json

import numpy as np
import pytest

from sdk.cli import main as cli
from sdk.index import Catalog
from sdk.maps import subspace_maps

LAYOUT = {"genre": (0, 8), "mood": (8, 16)}
GENRES, MOODS = ["rock", "jazz", "folk"], ["calm", "tense"]


def assert_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert min(image.shape[:2]) >= 200 and image[..., :3].std() > 0.01, image.shape


def two_notion_vectors(n=24, seed=0):
    """Unit-norm-per-slice vectors whose genre slice clusters by genre and mood slice by mood,
    the two labels independent of each other."""
    rng = np.random.default_rng(seed)
    genre = [GENRES[i % 3] for i in range(n)]
    mood = [MOODS[(i // 3) % 2] for i in range(n)]
    centres_g, centres_m = 4 * rng.standard_normal((3, 8)), 4 * rng.standard_normal((2, 8))
    vectors = np.concatenate([
        np.stack([centres_g[GENRES.index(g)] for g in genre]) + 0.2 * rng.standard_normal((n, 8)),
        np.stack([centres_m[MOODS.index(m)] for m in mood]) + 0.2 * rng.standard_normal((n, 8))], axis=1)
    return vectors, genre, mood


def two_notion_catalog(n=24):
    vectors, genre, mood = two_notion_vectors(n)
    catalog = Catalog(16, LAYOUT, model="test-model")
    catalog.add([f"t{i}" for i in range(n)], vectors,
                [{"top_genre": g, "mood": m, "soundtrack": "AB"[i % 2]} for i, (g, m) in enumerate(zip(genre, mood))])
    return catalog, genre, mood


def neighbour_agreement(points, labels):
    """Fraction of points whose nearest other point on the map carries the same label."""
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
    return np.mean([labels[j] == labels[i] for i, j in enumerate(distances.argmin(1))])


def test_one_panel_per_subspace_plus_full_each_from_its_own_slice(tmp_path):
    catalog, genre, mood = two_notion_catalog()
    result = subspace_maps(catalog, "top_genre", tmp_path / "maps" / "by-subspace.png", method="pca")
    assert result["panels"] == ["genre", "mood", "full"]
    assert_png(tmp_path / "maps" / "by-subspace.png")
    axes = result["figure"].axes
    assert [ax.get_title().split(":")[0] for ax in axes] == ["genre", "mood", "full"]
    assert axes[0].get_title() == "genre: dims 0-7" and axes[2].get_title() == "full: all 16 dims"
    # The same labels colour every panel, under one shared legend (not one per panel).
    assert len(result["figure"].legends) == 1 and all(ax.get_legend() is None for ax in axes)
    assert [t.get_text() for t in result["figure"].legends[0].get_texts()] == ["folk (8)", "jazz (8)", "rock (8)"]
    # Each panel is laid out by its own slice: genre groups by genre, mood by mood, and not the other way.
    points = result["points"]
    assert all(p.shape == (24, 2) for p in points.values())
    assert neighbour_agreement(points["genre"], genre) == 1.0
    assert neighbour_agreement(points["mood"], mood) == 1.0
    assert neighbour_agreement(points["genre"], mood) < 0.8 and neighbour_agreement(points["mood"], genre) < 0.8


def test_slices_are_renormalised_and_subsets_are_drawn(tmp_path):
    vectors, genre, _ = two_notion_vectors()
    scaled = vectors.copy()
    scaled[:5, 8:] *= 10.0  # the mood slice of five tracks 10x longer: the same directions
    first = subspace_maps(vectors, genre, tmp_path / "a.png", LAYOUT, method="pca")["points"]
    second = subspace_maps(scaled, genre, tmp_path / "b.png", LAYOUT, method="pca")["points"]
    for name in ("genre", "mood", "full"):
        np.testing.assert_allclose(first[name], second[name], atol=1e-9)
    catalog, _, _ = two_notion_catalog()
    assert subspace_maps(catalog, "mood", tmp_path / "m.png", ["mood"], method="pca")["panels"] == ["mood", "full"]
    result = subspace_maps(catalog, "mood", tmp_path / "g.png", "mood, genre", method="pca", full=False)
    assert result["panels"] == ["mood", "genre"] and len(result["figure"].axes) == 2
    import sdk.visualize

    assert sdk.visualize.subspace_maps is subspace_maps  # the old import path still works


def test_a_panel_coloured_by_its_own_field(tmp_path):
    catalog, _, _ = two_notion_catalog()
    result = subspace_maps(catalog, "soundtrack", tmp_path / "c.png", method="pca", panel_labels={"genre": "top_genre"})
    genre_ax, mood_ax, _ = result["figure"].axes
    assert genre_ax.get_title() == "genre: dims 0-7 (by top_genre)" and genre_ax.get_legend() is not None
    assert mood_ax.get_legend() is None
    assert result["figure"].legends[0].get_title().get_text() == "by soundtrack: 2 labels"


def test_bad_input_is_named(tmp_path):
    catalog, genre, _ = two_notion_catalog()
    with pytest.raises(ValueError, match=r"^my/catalog: unknown sub-space 'tempo'; it has genre, mood$"):
        subspace_maps(catalog, "top_genre", tmp_path / "x.png", ["genre", "tempo"], source="my/catalog")
    with pytest.raises(ValueError, match="an array needs subspaces="):
        subspace_maps(np.ones((4, 16)), genre[:4], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"sub-space 'mood' spans \[8, 40\], outside the 16 dims"):
        subspace_maps(np.ones((4, 16)), genre[:4], tmp_path / "x.png", {"genre": (0, 8), "mood": (8, 40)})
    with pytest.raises(ValueError, match="panel_labels names 'era', not a panel drawn"):
        subspace_maps(catalog, "top_genre", tmp_path / "x.png", panel_labels={"era": "mood"})
    with pytest.raises(ValueError, match="method must be 'tsne', 'pca', 'umap', not 'mds'"):
        subspace_maps(catalog, "top_genre", tmp_path / "x.png", method="mds")
    with pytest.raises(ValueError, match="no 'decade' field"):
        subspace_maps(catalog, "decade", tmp_path / "x.png")
    plain = Catalog(16)
    plain.add(["a", "b", "c"], np.eye(3, 16), [{"soundtrack": "x"}] * 3)
    with pytest.raises(ValueError, match=r"plain has a single sub-space \('all', all 16 dims\)"):
        subspace_maps(plain, "soundtrack", tmp_path / "x.png", source="plain")
    assert not (tmp_path / "x.png").exists()


def test_cli_by_subspace(tmp_path, capsys):
    catalog, _, _ = two_notion_catalog(12)
    catalog.save(tmp_path / "catalog")
    out = tmp_path / "panels.png"
    assert cli(["--json", "visualize", "map", "--catalog", str(tmp_path / "catalog"), "--by-subspace",
                "--label", "top_genre", "--out", str(out)]) == 0  # t-SNE, the default
    summary = json.loads(capsys.readouterr().out)
    assert summary["panels"] == ["genre", "mood", "full"] and summary["count"] == 12 and summary["labels"] == 3
    assert_png(out)
    assert cli(["visualize", "map", "--catalog", str(tmp_path / "catalog"), "--by-subspace", "mood",
                "--color-by", "mood=mood", "--method", "pca", "--out", str(out)]) == 0
    assert "12 songs, 2 soundtrack labels, 2 panels (mood, full)" in capsys.readouterr().out

    def error(*argv):
        assert cli(["visualize", "map", "--catalog", str(tmp_path / "catalog"), *argv]) == 2
        message = capsys.readouterr().err
        assert len(message.splitlines()) == 1, message
        return message

    assert f"{tmp_path / 'catalog'}: unknown sub-space 'tempo'; it has genre, mood" in error("--by-subspace", "tempo")
    assert "--color-by takes SUBSPACE=FIELD" in error("--by-subspace", "--color-by", "genre")
    assert "add --by-subspace" in error("--color-by", "genre=top_genre")
    assert "items.jsonl: no 'decade' field" in error("--by-subspace", "--color-by", "genre=decade")

    plain = Catalog(8, model="test")
    plain.add([f"t{i}" for i in range(5)], np.random.default_rng(0).standard_normal((5, 8)), [{"soundtrack": "x"}] * 5)
    plain.save(tmp_path / "plain")
    assert cli(["visualize", "map", "--catalog", str(tmp_path / "plain"), "--by-subspace"]) == 2
    assert f"{tmp_path / 'plain'} has a single sub-space ('all'" in capsys.readouterr().err
