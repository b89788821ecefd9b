"""Triplet sampling of thesis chapter 5 (sections 5.1.2-5.1.3, 5.2.3-5.2.4), seeded and exact.

An excerpt is (track index, start sample) of a `segment`-sample window; every random choice
comes from the `numpy.random.Generator` passed in, so a plan is reproducible from its seed.

- Tag triplets of a notion s (genre, mood, instrument, era): "two tracks are similar along a
  dimension if they share at least one tag in that category" (5.1.3). The anchor has a tag
  y_z of s; the positive is another track with y_z (5.2.3: "x_a and x_p are sampled to have
  the same positive label y_z"); the negative has none of the anchor's tags of s (so it is
  negative for y_z, and for the notion).
- Tempo triplets (5.1.3): positive within `tempo_tolerance` (5) BPM of the anchor, negative
  more than 5 BPM away; BPM is given per track (NaN: unknown, never sampled).
- Track triplets (5.1.2, 5.1.3): anchor and positive are excerpts of the same track
  overlapping by at most `max_overlap` (50%), the negative an excerpt of another track.
- Track-regularised samples (5.2.5, Eq. 5.5): a category triplet and a track triplet
  sharing the anchor excerpt, the five inputs of zoo's inception-csn-track-triplet.

Labels are an (N, T) multi-hot or soft matrix, binarised with `>= threshold`; each tag column
belongs to one notion (`tag_notions`) or to none (None: not sampled). An epoch plan takes every
eligible anchor track once, in random order, with a notion drawn among those it can anchor.
"""

import math
from dataclasses import dataclass

import numpy as np

TEMPO = "tempo"
# The 50 MSD Last.fm tags grouped as the thesis's reference [31] (Choi et al., CRNN, 2017) does:
# 28 genre, 12 mood, 5 instrument and 5 era tags (section 5.2.4). Where "oldies" and "acoustic"
# go is our reading (mood), the counts are the thesis's.
MSD_50_NOTIONS = {
    "genre": ("rock", "pop", "alternative", "indie", "electronic", "dance", "alternative rock", "jazz",
              "metal", "classic rock", "soul", "indie rock", "electronica", "folk", "punk", "blues",
              "hard rock", "ambient", "experimental", "Hip-Hop", "country", "funk", "electro",
              "heavy metal", "Progressive rock", "rnb", "indie pop", "House"),
    "mood": ("beautiful", "chillout", "Mellow", "chill", "oldies", "easy listening", "sexy", "catchy",
             "party", "sad", "happy", "acoustic"),
    "instrument": ("female vocalists", "male vocalists", "instrumental", "female vocalist", "guitar"),
    "era": ("60s", "70s", "80s", "90s", "00s"),
}


def tag_notions(tags, grouping=MSD_50_NOTIONS):
    """Per tag, the notion `grouping` ({notion: [tags]}) puts it in, or None."""
    notion_of = {tag: notion for notion, members in grouping.items() for tag in members}
    return [notion_of.get(tag) for tag in tags]


@dataclass(frozen=True)
class Excerpt:
    track: int
    start: int


@dataclass(frozen=True)
class Triplet:
    anchor: Excerpt
    positive: Excerpt
    negative: Excerpt
    notion: str  # a notion name, or "track"


@dataclass(frozen=True)
class RegularizedSample:
    """The five excerpts of one track-regularised sample: category triplet + track pair."""
    category: Triplet
    track_positive: Excerpt
    track_negative: Excerpt


class TripletSampler:
    """Category, tempo and track triplets over N tracks (see the module docstring).

    Args:
        labels: (N, T) multi-hot or soft labels; None for no tag notions.
        notions_of_tags: length-T notion name (or None) per tag column.
        lengths: (N,) audio length of each track in samples.
        segment: excerpt length in samples.
        bpm: optional (N,) tempo per track (NaN where unknown) for the "tempo" notion.
        notions: the notions to sample, in order (default: the tag notions, then tempo if bpm).
    """

    def __init__(self, labels, notions_of_tags, lengths, segment, bpm=None, notions=None, threshold=0.5,
                 max_overlap=0.5, tempo_tolerance=5.0, max_tries=64):
        self.lengths = np.asarray(lengths, np.int64)
        count = len(self.lengths)
        self.labels = (np.zeros((count, 0), bool) if labels is None
                       else np.asarray(labels, np.float64) >= threshold)
        if self.labels.shape[0] != count or self.labels.shape[1] != len(notions_of_tags):
            raise ValueError(f"labels {self.labels.shape} for {count} tracks and {len(notions_of_tags)} tags")
        self.segment, self.tolerance, self.max_tries = int(segment), float(tempo_tolerance), int(max_tries)
        self.bpm = None if bpm is None else np.asarray(bpm, np.float64)
        if self.bpm is not None and self.bpm.shape != (count,):
            raise ValueError(f"bpm has shape {self.bpm.shape}, expected ({count},)")
        self.columns = {}
        for column, notion in enumerate(notions_of_tags):
            if notion is not None:
                self.columns.setdefault(notion, []).append(column)
        if notions is None:
            notions = list(self.columns) + ([TEMPO] if self.bpm is not None else [])
        self.notions = list(notions)
        self.members = [np.flatnonzero(self.labels[:, z]) for z in range(self.labels.shape[1])]
        # Track triplets: the positive starts at least `shift` samples from the anchor.
        self.shift = max(1, math.ceil((1.0 - max_overlap) * self.segment))
        self.track_eligible = self.lengths - self.segment >= self.shift
        if self.bpm is not None:
            known = np.flatnonzero(np.isfinite(self.bpm))
            self._tempo_order = known[np.argsort(self.bpm[known], kind="stable")]
            self._tempo_sorted = self.bpm[self._tempo_order]
        self.eligible = {notion: self._eligible(notion) for notion in self.notions}

    # ----- eligibility
    def _shared_tags(self, anchor, notion):
        """The anchor's tags of `notion` that another track has too (a positive exists)."""
        return [z for z in self.columns.get(notion, ()) if self.labels[anchor, z] and len(self.members[z]) > 1]

    def _tempo_window(self, anchor):
        low = np.searchsorted(self._tempo_sorted, self.bpm[anchor] - self.tolerance, "left")
        high = np.searchsorted(self._tempo_sorted, self.bpm[anchor] + self.tolerance, "right")
        return low, high

    def _eligible(self, notion):
        """Boolean (N,): tracks that can anchor a triplet of `notion`."""
        count = len(self.lengths)
        if notion == TEMPO:
            ok = np.zeros(count, bool)
            if self.bpm is None:
                return ok
            total = len(self._tempo_order)
            for anchor in self._tempo_order:
                low, high = self._tempo_window(anchor)
                ok[anchor] = high - low > 1 and low + total - high > 0
            return ok
        columns = self.columns.get(notion)
        if not columns:
            return np.zeros(count, bool)
        tagged = self.labels[:, columns]
        ok = np.array([bool(self._shared_tags(i, notion)) for i in range(count)])
        if tagged.any(1).all():  # no track free of the notion: check a negative exists per anchor
            ok &= np.array([(~tagged[:, tagged[i]].any(1)).any() for i in range(count)])
        return ok

    def anchor_notions(self, track):
        return [notion for notion in self.notions if self.eligible[notion][track]]

    # ----- excerpts
    def crop(self, rng, track):
        """A random excerpt of `track` (start 0 when it is shorter than a segment)."""
        return Excerpt(int(track), int(rng.integers(0, max(0, self.lengths[track] - self.segment) + 1)))

    def _track_anchor(self, rng, track):
        """An anchor start that leaves room for a track positive (at least `shift` away)."""
        last, shift = int(self.lengths[track] - self.segment), self.shift
        if last - shift >= shift - 1:  # [0, last - shift] and [shift, last] cover every start
            return Excerpt(int(track), int(rng.integers(0, last + 1)))
        k = int(rng.integers(0, 2 * (last - shift + 1)))
        return Excerpt(int(track), k if k <= last - shift else shift + k - (last - shift + 1))

    def track_positive(self, rng, anchor):
        """Another excerpt of the anchor's track, overlapping it by at most `max_overlap`."""
        last, start = int(self.lengths[anchor.track] - self.segment), anchor.start
        before = max(0, start - self.shift + 1)  # starts 0 .. start - shift
        after = max(0, last - (start + self.shift) + 1)  # starts start + shift .. last
        if before + after == 0:
            raise ValueError(f"track {anchor.track}: no excerpt {self.shift} samples from {start}")
        k = int(rng.integers(0, before + after))
        return Excerpt(anchor.track, k if k < before else start + self.shift + k - before)

    def _other_track(self, rng, track):
        other = int(rng.integers(0, len(self.lengths) - 1))
        return other + (other >= track)

    # ----- triplets
    def category_triplet(self, rng, track, notion, anchor=None):
        anchor = anchor or self.crop(rng, track)
        if notion == TEMPO:
            low, high = self._tempo_window(track)
            window = [int(i) for i in self._tempo_order[low:high] if i != track]
            positive = window[int(rng.integers(len(window)))]
            k = int(rng.integers(0, low + len(self._tempo_order) - high))
            negative = int(self._tempo_order[k if k < low else high + k - low])
        else:
            shared = self._shared_tags(track, notion)
            members = self.members[shared[int(rng.integers(len(shared)))]]
            positive = int(members[int(rng.integers(len(members) - 1))])
            positive = int(members[-1]) if positive == track else positive  # uniform over the others
            negative = self._tag_negative(rng, track, notion)
        return Triplet(anchor, self.crop(rng, positive), self.crop(rng, negative), notion)

    def _tag_negative(self, rng, track, notion):
        """A track with none of the anchor's tags of `notion` (rejection, then exhaustive)."""
        tags = [z for z in self.columns[notion] if self.labels[track, z]]
        for _ in range(self.max_tries):
            candidate = int(rng.integers(len(self.lengths)))
            if not self.labels[candidate, tags].any():
                return candidate
        pool = np.flatnonzero(~self.labels[:, tags].any(1))
        return int(pool[int(rng.integers(len(pool)))])

    def track_triplet(self, rng, track, anchor=None):
        anchor = anchor or self._track_anchor(rng, track)
        return Triplet(anchor, self.track_positive(rng, anchor), self.crop(rng, self._other_track(rng, track)),
                       "track")

    def regularized_sample(self, rng, track, notion):
        anchor = self._track_anchor(rng, track)
        category = self.category_triplet(rng, track, notion, anchor)
        return RegularizedSample(category, self.track_positive(rng, anchor),
                                 self.crop(rng, self._other_track(rng, track)))

    # ----- epoch plans
    def plan(self, rng, kind="category", anchors=None):
        """One pass over the anchors (default: every track) in random order, each eligible one
        giving one sample: "category" Triplets (notion drawn among the track's), "track"
        Triplets, or "regularized" RegularizedSamples (category + track, section 5.2)."""
        if kind not in ("category", "track", "regularized"):
            raise ValueError(f"kind must be category, track or regularized, got {kind!r}")
        anchors = np.arange(len(self.lengths)) if anchors is None else np.asarray(anchors, np.int64)
        samples = []
        for track in anchors[rng.permutation(len(anchors))]:
            track = int(track)
            if kind == "track":
                if self.track_eligible[track] and len(self.lengths) > 1:
                    samples.append(self.track_triplet(rng, track))
                continue
            notions = self.anchor_notions(track)
            if not notions or (kind == "regularized" and not self.track_eligible[track]):
                continue
            notion = notions[int(rng.integers(len(notions)))]
            samples.append(self.category_triplet(rng, track, notion) if kind == "category"
                           else self.regularized_sample(rng, track, notion))
        return samples
