"""What StartTraining (and `workflow plan-training`) split: human and machine labels, counted, and
machine labels below a confidence left out when the config says so.

`split_with_label_sources` wraps `manifests.split_manifest`:
- with `exclude_machine_below` (the config's `training.exclude_machine_labels_below`), machine labels
  (`"human-annotated": "no"`, automated data labeling) below it, or without a numeric confidence, are
  dropped before the split (`relabel.LabelSourceFilter`); human labels never are (their scores are on
  another scale: docs/labeling-cost.md);
- the summary gets `label_sources`: how many human- and machine-labeled objects the split used (counted
  on the train and validation lines it wrote, so after its own drops), and how many machine labels
  were excluded.

The relabel chain (which lines to split when the job relabels an earlier one) is `relabel_chain.py`
and `relabel.merge_chain`. Pure; standard library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from . import relabel
from .manifests import DataLocation, ManifestSplit, split_manifest

# The merged manifest of a relabel chain, written next to the split it fed (training/<job>/).
MERGED_MANIFEST_FILE = "merged.manifest"


def split_with_label_sources(
    lines: Iterable[bytes | str],
    *,
    label_attribute: str,
    categories: Sequence[str],
    labeling_job_name: str,
    location: DataLocation,
    validation_fraction: float,
    exclude_machine_below: float | Decimal | str | None = None,
) -> ManifestSplit:
    """`split_manifest` of `lines`, machine labels below `exclude_machine_below` left out, with
    `summary["label_sources"]`."""
    threshold = None if exclude_machine_below is None else relabel.threshold(exclude_machine_below)
    source_filter = relabel.LabelSourceFilter(label_attribute, exclude_machine_below=threshold)
    # Without a threshold nothing is dropped: no filter, one parse per line less.
    kept = lines if threshold is None else (line for line in lines if source_filter.accept(line))
    split = split_manifest(kept, label_attribute=label_attribute, categories=categories,
                           labeling_job_name=labeling_job_name, location=location,
                           validation_fraction=validation_fraction)
    used = relabel.count_label_sources([*split.train, *split.validation], label_attribute=label_attribute)
    sources: dict[str, Any] = {
        "human": used.human,
        "machine": used.machine,
        "unknown_source": used.unknown_source,
        "machine_excluded": source_filter.counts.machine_excluded,
        "exclude_machine_labels_below": None if threshold is None else str(threshold),
    }
    return dataclasses.replace(split, summary={**split.summary, "label_sources": sources})


def chain_summary(links: Sequence[relabel.ChainLink], merged: relabel.MergedManifest, merged_uri: str,
                  ) -> dict[str, Any]:
    """summary.json's `relabel_chain`: the jobs merged (oldest first), what the merge did, where it is."""
    return {
        "jobs": [links[0].from_job, *(link.job_name for link in links)],
        "label_attributes": [links[0].training_label_attribute, *(link.label_attribute for link in links)],
        "training_label_attribute": links[0].training_label_attribute,
        "merge": dataclasses.asdict(merged.counts),
        "merged_manifest": merged_uri,
    }
