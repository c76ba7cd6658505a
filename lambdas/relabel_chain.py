"""Find a relabel chain from AWS: which job a relabel job relabels, back to the first job.

A relabel job (`python -m workflow relabel`, started by StartLabeling) is marked twice:

- its `relabel-of` tag names the job it relabels. DescribeLabelingJob returns a job's Tags, so a job
  is known to be a relabel job (or not) from its description alone. Asking S3 for a `relabel.json`
  that may not exist would not do: without s3:ListBucket, S3 answers a missing key with 403
  AccessDenied, not 404 ("If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP
  status code 403", GetObject API reference), which cannot be told from a real denial;
- `relabel.json` (`relabel.ChainLink`) next to its frozen inputs, `<prefix>/labeling/<job>/`, says
  what it relabeled (the job, the label attributes, the criteria). It must exist for a tagged job.

`ChainReader.chain(job)` walks the links back to the first job (`relabel.chain_to`): [] for a plain
job. The pure rules (selection, attributes, the merge) are `relabel.py`; the facts and sources,
docs/labeling-cost.md. Standard library only; the AWS calls are the caller's (`describe`,
`read_object`), so StartLabeling, StartTraining and the CLI share this with their own clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import relabel
from .labeling_request import CHAIN_LINK_FILE, input_key
from .settings import RELABEL_OF_TAG_KEY

Describe = Callable[[str], Mapping[str, Any]]  # DescribeLabelingJob's answer for a job name
ReadObject = Callable[[str], bytes]  # the bytes of a key in the data bucket


def tag(description: Mapping[str, Any], key: str) -> str | None:
    """The value of tag `key` in a DescribeLabelingJob answer, or None."""
    for entry in description.get("Tags") or ():
        if isinstance(entry, Mapping) and entry.get("Key") == key and isinstance(entry.get("Value"), str):
            return str(entry["Value"])
    return None


def relabel_of(description: Mapping[str, Any]) -> str | None:
    """The job a labeling job relabels (its `relabel-of` tag), or None for a plain job."""
    return tag(description, RELABEL_OF_TAG_KEY)


@dataclass
class ChainReader:
    """Reads the links of a chain: `describe(job)` once per job (cached), `read_object(key)` for relabel.json."""

    prefix: str
    describe: Describe
    read_object: ReadObject
    _descriptions: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def description(self, job_name: str) -> Mapping[str, Any]:
        if job_name not in self._descriptions:
            self._descriptions[job_name] = self.describe(job_name)
        return self._descriptions[job_name]

    def remember(self, description: Mapping[str, Any]) -> None:
        """A description the caller already has (no second DescribeLabelingJob)."""
        self._descriptions[str(description["LabelingJobName"])] = description

    def link(self, job_name: str) -> relabel.ChainLink | None:
        """The job's relabel.json when its tag says it is a relabel job; None for a plain job."""
        description = self.description(job_name)
        of = relabel_of(description)
        if of is None:
            return None
        key = input_key(self.prefix, job_name, CHAIN_LINK_FILE)
        link = relabel.ChainLink.from_json(self.read_object(key))
        if link.job_name != job_name or link.from_job != of:
            raise relabel.RelabelError(
                f"{key} links job {link.job_name!r} to {link.from_job!r}, but job {job_name!r} is tagged "
                f"{RELABEL_OF_TAG_KEY}={of!r}")
        attribute = description.get("LabelAttributeName")
        if attribute is not None and attribute != link.label_attribute:
            raise relabel.RelabelError(f"{key} says job {job_name!r} labels {link.label_attribute!r}, but the job's "
                                       f"LabelAttributeName is {attribute!r}")
        return link

    def chain(self, job_name: str) -> list[relabel.ChainLink]:
        """The links from the chain's first job to `job_name`, oldest first; [] for a plain job."""
        return relabel.chain_to(job_name, self.link)

    def output_uri(self, job_name: str) -> str:
        """Where a job of the chain wrote its output manifest; RelabelError if it wrote none."""
        description = self.description(job_name)
        uri = (description.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri")
        if not uri:
            raise relabel.RelabelError(f"labeling job {job_name} ({description.get('LabelingJobStatus')}) has no "
                                       "output manifest (LabelingJobOutput.OutputDatasetS3Uri)")
        return str(uri)

    def training_label_attribute(self, job_name: str, links: list[relabel.ChainLink] | None = None) -> str:
        """The label attribute training reads for `job_name`: the chain's first job's, else the job's own."""
        links = self.chain(job_name) if links is None else links
        if links:
            return links[0].training_label_attribute
        return str(self.description(job_name)["LabelAttributeName"])
