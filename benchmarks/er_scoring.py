"""Pairwise scoring of entity resolution: how many pairs of records that are one real entity the
resolution put together (recall), and how many it put together that are one entity (precision).

A pair is two records in one cluster. The counts come from the contingency of true entity and
predicted cluster, so a cluster of n records costs O(n), not O(n²) pairs: TP = Σ C(n_ij, 2) over
(entity i, cluster j), true pairs = Σ C(n_i, 2), predicted pairs = Σ C(n_j, 2). Only records with a
label are scored; a labelled record the resolution never returned (missing from the view) counts as
a singleton there: its true pairs are false negatives, and it is counted in `missing`.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass, field

Record = Hashable  # (connection id, source id) in the eval; anything hashable here


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass
class PairwiseScore:
    records: int  # labelled records scored
    entities: int  # distinct true entities among them
    clusters: int  # distinct predicted clusters among them (missing records each their own)
    true_pairs: int
    predicted_pairs: int
    true_positives: int
    missing: int = 0  # labelled records the resolution did not return
    false_positives: list[tuple[Record, Record]] = field(default_factory=list)  # examples, at most `examples`
    false_negatives: list[tuple[Record, Record]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        # no predicted pair: nothing was wrongly merged
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(precision=round(self.precision, 4), recall=round(self.recall, 4), f1=round(self.f1, 4))
        return out


def pairwise_score(truth: Mapping[Record, Hashable], predicted: Mapping[Record, Hashable], *,
                   examples: int = 10) -> PairwiseScore:
    """Score `predicted` (record → cluster id) against `truth` (record → entity id).

    Records of `predicted` that `truth` does not label are left out (they are not scored);
    labelled records `predicted` lacks are singletons. Up to `examples` false-positive and
    false-negative pairs are listed for diagnosis (the first found, in a stable order)."""
    missing = object()  # a fresh cluster per missing record: never equal to another
    cluster_of = {r: predicted.get(r, (missing, r)) for r in truth}
    by_entity: dict[Hashable, list[Record]] = defaultdict(list)
    by_cluster: dict[Hashable, list[Record]] = defaultdict(list)
    cells: Counter = Counter()
    for record, entity in truth.items():
        cluster = cluster_of[record]
        by_entity[entity].append(record)
        by_cluster[cluster].append(record)
        cells[(entity, cluster)] += 1
    score = PairwiseScore(
        records=len(truth),
        entities=len(by_entity),
        clusters=len(by_cluster),
        true_pairs=sum(_pairs(len(rs)) for rs in by_entity.values()),
        predicted_pairs=sum(_pairs(len(rs)) for rs in by_cluster.values()),
        true_positives=sum(_pairs(n) for n in cells.values()),
        missing=sum(1 for r in truth if r not in predicted),
    )
    if examples > 0:
        score.false_positives = _examples(by_cluster.values(), truth, examples)
        score.false_negatives = _examples(by_entity.values(), cluster_of, examples)
    return score


def _examples(groups, other: Mapping[Record, Hashable], limit: int) -> list[tuple[Record, Record]]:
    """Pairs inside one group that `other` puts apart (a false positive when the groups are the
    clusters and `other` the truth; a false negative the other way round)."""
    found: list[tuple[Record, Record]] = []
    for group in sorted((g for g in groups if len(g) > 1), key=lambda g: sorted(map(str, g))):
        for a, b in itertools.combinations(sorted(group, key=str), 2):
            if other[a] != other[b]:
                found.append((a, b))
                if len(found) >= limit:
                    return found
    return found
