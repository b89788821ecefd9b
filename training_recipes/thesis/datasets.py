"""Adapters for the benchmark datasets of the thesis (Lee 2021, sections 3.1.5 / 4.1.3).

Each loader reads a dataset's public on-disk layout and returns a `Dataset` with
`splits: {name: [Track]}`; `to_manifest` writes one split as JSON lines that
`sdk.Catalog.build` reads ("path" column + metadata). Loaders only read metadata;
audio files are not opened (GTZAN checks which extension exists).

- load_mtat(root): <root>/annotations_final.csv (tab-separated, quoted or bare
  "0"/"1"), audio <root>/mp3/<dir>/<file>.mp3, optional <root>/clip_info_final.csv
  for artist/album. Tags: the `top_n` most frequent tag columns (ties: column
  order). Split by the first hex character of the mp3 folder: 0-b train, c valid,
  d-f test. With drop_untagged=True (default) clips with none of the top-n tags are
  dropped, giving the common 15,244 / 1,529 / 4,332 split for top_n=50; with
  drop_untagged=False all 25,863 clips are kept.
- load_msd(root): split lists <root>/{train,valid,test}.txt (one MSD track id per
  line, first whitespace/comma token; '#' comments allowed), tags <root>/tags.csv
  with header "track_id,tags[,artist,album]" and ';'-separated tags. Audio
  <root>/audio/<id[2]>/<id[3]>/<id[4]>/<id>.mp3 (TRAAAAW128F429D538 -> A/A/A/).
  Tags: the `top_n` most frequent among the listed tracks (ties: alphabetical);
  tracks without any kept tag are dropped when drop_untagged. The pickled lists of
  the sota-music-tagging split must be converted to these text files first.
- load_gtzan(root): audio <root>/genres/<genre>/<genre>.000NN.{wav,au} (also
  genres_original/), split lists <root>/{train,valid,test}_filtered.txt with lines
  like "blues/blues.00012.au" (Kereliuk/Sturm fault-filtered split, 443/197/290).
  A listed .au that is missing while the .wav exists maps to the .wav (and back).
- load_fma(root, subset="small"): <root>/fma_metadata/tracks.csv with its two-row
  column header (group, field; first column track_id; a third "track_id,,,..."
  row as in the released file is skipped). Keeps set.subset <= subset (small <
  medium < large), split from set.split (training/validation/test -> train/valid/
  test), label track.genre_top, audio <root>/fma_<subset>/<id6[:3]>/<id6>.mp3.
- load_folder(root): <root>/<label>/**/audio, or <root>/<split>/<label>/... when
  the top folders are all split names. load_csv(path): columns path, label(s)
  (';'-separated), optional split / id / artist / album; paths relative to the CSV.
"""

import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".mp3", ".au", ".flac", ".ogg", ".m4a", ".aiff", ".aif")
SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid",
               "val": "valid", "test": "test"}
_MSD_ID = re.compile(r"^TR[A-Z0-9]{16}$")


@dataclass(frozen=True)
class Track:
    id: str
    path: Path
    labels: list = field(default_factory=list)
    artist: str = None
    album: str = None


@dataclass
class Dataset:
    name: str
    tags: list
    splits: dict

    def __len__(self):
        return sum(len(t) for t in self.splits.values())

    def counts(self):
        return {name: len(tracks) for name, tracks in self.splits.items()}


def _require(path, what):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path


def _top(counter, n, order):
    """The n most frequent keys of `counter`; ties broken by position in `order`."""
    rank = {k: i for i, k in enumerate(order)}
    return sorted(sorted(counter, key=lambda k: (-counter[k], rank[k]))[:n], key=rank.get)


def _finish(name, tags, splits, drop_untagged):
    keep = set(tags)
    out = {}
    for split, tracks in splits.items():
        tracks = [Track(t.id, t.path, [l for l in t.labels if l in keep], t.artist, t.album)
                  for t in tracks]
        out[split] = [t for t in tracks if t.labels or not drop_untagged]
    return Dataset(name, list(tags), out)


# ---------------------------------------------------------------- MagnaTagATune
def mtat_split(mp3_path):
    """"c/x.mp3" -> "valid": folders 0-b train, c valid, d-f test."""
    first = str(mp3_path).replace("\\", "/").split("/")[0][:1].lower()
    if not first or first not in "0123456789abcdef":
        raise ValueError(f"{mp3_path!r}: folder does not start with a hex digit")
    return "train" if first in "0123456789ab" else "valid" if first == "c" else "test"


def load_mtat(root, top_n=50, drop_untagged=True):
    root = Path(root)
    path = _require(root / "annotations_final.csv", "MagnaTagATune annotations file")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or len(rows[0]) < 3 or rows[0][0] != "clip_id" or rows[0][-1] != "mp3_path":
        raise ValueError(f"{path}: header must be clip_id, <tag columns>, mp3_path")
    columns = rows[0][1:-1]
    info = _mtat_info(root / "clip_info_final.csv")
    counts, clips = Counter({c: 0 for c in columns}), []
    for line, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(rows[0]) or any(v not in ("0", "1") for v in row[1:-1]) or not row[-1]:
            raise ValueError(f"{path} line {line}: expected {len(rows[0])} tab-separated "
                             f"fields with 0/1 tag values and an mp3_path")
        labels = [c for c, v in zip(columns, row[1:-1]) if v == "1"]
        counts.update(labels)
        clips.append((row[0], row[-1], labels))
    tags = _top(counts, top_n, columns)
    splits = {"train": [], "valid": [], "test": []}
    for clip_id, mp3, labels in clips:
        try:
            split = mtat_split(mp3)
        except ValueError as exc:
            raise ValueError(f"{path}: clip {clip_id}: {exc}") from None
        artist, album = info.get(clip_id, (None, None))
        splits[split].append(Track(clip_id, root / "mp3" / mp3, labels, artist, album))
    return _finish("mtat", tags, splits, drop_untagged)


def _mtat_info(path):
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        return {r["clip_id"]: (r.get("artist") or None, r.get("album") or None)
                for r in csv.DictReader(f, delimiter="\t")}


# ---------------------------------------------------------- MSD + Last.fm tags
def msd_audio_path(root, track_id):
    return Path(root) / "audio" / track_id[2] / track_id[3] / track_id[4] / f"{track_id}.mp3"


def _read_ids(path, check=None):
    ids = []
    with open(_require(path, "split list"), encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            text = text.split("#")[0].strip()
            if not text:
                continue
            token = re.split(r"[\s,]+", text)[0]
            if check is not None and not check.match(token):
                raise ValueError(f"{path} line {line}: {token!r} is not a valid id")
            ids.append((line, token))
    return ids


def load_msd(root, top_n=50, drop_untagged=True, tag_file="tags.csv",
             split_files=(("train", "train.txt"), ("valid", "valid.txt"), ("test", "test.txt"))):
    root = Path(root)
    path = _require(root / tag_file, "MSD tag file")
    meta = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"track_id", "tags"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: header must contain track_id,tags")
        for line, row in enumerate(reader, 2):
            tid = (row["track_id"] or "").strip()
            if not _MSD_ID.match(tid) or row["tags"] is None:
                raise ValueError(f"{path} line {line}: malformed row {row!r}")
            labels = [t.strip() for t in row["tags"].split(";") if t.strip()]
            meta[tid] = (labels, row.get("artist") or None, row.get("album") or None)
    splits = {s: [i for _, i in _read_ids(root / name, _MSD_ID)] for s, name in split_files}
    counts = Counter(t for ids in splits.values() for i in ids for t in meta.get(i, ([],))[0])
    tags = _top(counts, top_n, sorted(counts))
    out = {s: [Track(i, msd_audio_path(root, i), *meta.get(i, ([], None, None))) for i in ids]
           for s, ids in splits.items()}
    return _finish("msd", tags, out, drop_untagged)


# ------------------------------------------------------------ GTZAN (filtered)
def load_gtzan(root, splits=(("train", "train_filtered.txt"), ("valid", "valid_filtered.txt"),
                             ("test", "test_filtered.txt"))):
    root = Path(root)
    audio = next((root / d for d in ("genres", "genres_original") if (root / d).is_dir()), None)
    if audio is None:
        raise FileNotFoundError(f"{root / 'genres'}: GTZAN audio folder not found")
    out, genres = {}, set()
    for split, name in splits:
        out[split] = []
        for line, entry in _read_ids(root / name):
            parts = entry.replace("\\", "/").split("/")
            if len(parts) != 2 or not parts[1].startswith(parts[0] + "."):
                raise ValueError(f"{root / name} line {line}: {entry!r} is not "
                                 f"<genre>/<genre>.000NN.au")
            path = audio / parts[0] / parts[1]
            if not path.exists():
                for ext in (".wav", ".au"):
                    if path.with_suffix(ext).exists():
                        path = path.with_suffix(ext)
                        break
            genres.add(parts[0])
            out[split].append(Track(Path(parts[1]).stem, path, [parts[0]]))
    return Dataset("gtzan", sorted(genres), out)


# ------------------------------------------------------------------ FMA
FMA_SUBSETS = ("small", "medium", "large")


def fma_audio_path(root, track_id, subset="small"):
    id6 = f"{int(track_id):06d}"
    return Path(root) / f"fma_{subset}" / id6[:3] / f"{id6}.mp3"


def load_fma(root, subset="small"):
    if subset not in FMA_SUBSETS:
        raise ValueError(f"subset {subset!r}: expected one of {FMA_SUBSETS}")
    root = Path(root)
    path = _require(root / "fma_metadata" / "tracks.csv", "FMA tracks file")
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        groups, fields = next(rows, []), next(rows, [])
        columns = {(g.strip(), n.strip()): i for i, (g, n) in enumerate(zip(groups, fields))}
        need = [("set", "subset"), ("set", "split"), ("track", "genre_top")]
        missing = [f"{g}.{n}" for g, n in need if (g, n) not in columns]
        if missing:
            raise ValueError(f"{path}: two-row header lacks {', '.join(missing)}")
        col = {n: columns[k] for n, k in zip(("subset", "split", "genre"), need)}
        col["artist"] = columns.get(("artist", "name"))
        col["album"] = columns.get(("album", "title"))
        rank = FMA_SUBSETS.index(subset)
        out, genres = {"train": [], "valid": [], "test": []}, set()
        for row in rows:
            if not row or row[0].strip() in ("", "track_id"):
                continue  # the released file's third header row "track_id,,,..."
            line = rows.line_num
            if len(row) != len(fields) or not row[0].strip().isdigit():
                raise ValueError(f"{path} line {line}: malformed row (track id {row[0]!r}, "
                                 f"{len(row)} fields, expected {len(fields)})")
            if row[col["subset"]] not in FMA_SUBSETS[:rank + 1]:
                continue
            split = SPLIT_NAMES.get(row[col["split"]])
            genre = row[col["genre"]]
            if split is None:
                raise ValueError(f"{path} line {line}: bad set.split {row[col['split']]!r}")
            artist, album = ((row[col[k]] or None) if col[k] is not None else None
                             for k in ("artist", "album"))
            tid = row[0].strip()
            genres.update([genre] if genre else [])  # empty in part of fma_large
            out[split].append(Track(tid, fma_audio_path(root, tid, subset), [genre] * bool(genre),
                                    artist, album))
    return Dataset(f"fma_{subset}", sorted(genres), out)


# ------------------------------------------------------------------ generic
def _audio_files(folder):
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def load_folder(root, name=None):
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found")
    top = sorted(d for d in root.iterdir() if d.is_dir())
    if top and all(d.name.lower() in SPLIT_NAMES for d in top):
        parts = [(SPLIT_NAMES[d.name.lower()], d) for d in top]
    else:
        parts = [("all", root)]
    out, labels = {}, set()
    for split, base in parts:
        out[split] = []
        for label_dir in sorted(d for d in base.iterdir() if d.is_dir()):
            labels.add(label_dir.name)
            out[split] += [Track(f.relative_to(root).as_posix(), f, [label_dir.name])
                           for f in _audio_files(label_dir)]
    return Dataset(name or root.name, sorted(labels), out)


def load_csv(path, name=None, label_column=None, sep=";"):
    path = _require(path, "dataset CSV")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        label_column = label_column or next((c for c in ("labels", "label", "tags", "genre")
                                             if c in header), None)
        if "path" not in header or label_column is None:
            raise ValueError(f"{path}: header needs a path column and a label column")
        out, labels = {}, Counter()
        for line, row in enumerate(reader, 2):
            if not row.get("path") or row.get(label_column) is None or None in row:
                raise ValueError(f"{path} line {line}: malformed row")
            split = SPLIT_NAMES.get((row.get("split") or "").lower(), row.get("split") or "all")
            tags = [t.strip() for t in row[label_column].split(sep) if t.strip()]
            labels.update(tags)
            p = Path(row["path"])
            out.setdefault(split, []).append(Track(row.get("id") or row["path"],
                                                   p if p.is_absolute() else path.parent / p,
                                                   tags, row.get("artist") or None,
                                                   row.get("album") or None))
    return Dataset(name or path.stem, sorted(labels), out)


# ------------------------------------------------------------------ manifest
def to_manifest(dataset, split, out_path):
    """Write `split` (or every split when None) as JSON lines for sdk.Catalog.build:
    path (relative to the manifest's folder when possible), id, labels, tags (same
    list), artist, album, split. Returns the number of rows."""
    if split is not None and split not in dataset.splits:
        raise KeyError(f"{dataset.name}: no split {split!r} (have {sorted(dataset.splits)})")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    base = os.path.abspath(out_path.parent)
    names = list(dataset.splits) if split is None else [split]
    count = 0
    with open(out_path, "w", encoding="utf-8") as f:
        for name in names:
            for t in dataset.splits[name]:
                try:
                    p = Path(os.path.relpath(os.path.abspath(t.path), base)).as_posix()
                except ValueError:  # another drive on Windows
                    p = Path(os.path.abspath(t.path)).as_posix()
                row = {"path": p, "id": f"{dataset.name}/{t.id}", "labels": list(t.labels),
                       "tags": list(t.labels), "artist": t.artist, "album": t.album,
                       "split": name}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count
