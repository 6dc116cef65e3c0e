"""The three profiles of params.yaml, and everything that differs between them besides the config.

A profile's config lives in ``params.yaml`` (``overrides.<profile>``); what the *code* does
differently per profile lives here, as fields of :class:`Profile`, so that no module compares a
profile's name: it asks ``Profile.named(name).rendered_video`` and the like.
"""

from __future__ import annotations

from dataclasses import dataclass

from qbslt.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    name: str
    # The sign renderer draws the videos (40x32 synthetic signers): keypoints come from the
    # renderer, isolated-sign clips are cut at its gloss boundaries, `qbslt translate` warns.
    rendered_video: bool
    # The paper's own datasets and model sizes: the FLOP constants and the published dataset
    # figures of `qbslt plan` apply, and our numbers are comparable with the paper's.
    paper_data: bool
    # Captions: the sentence about the data of a table on dataset {key} ({title}: its full name).
    data_statement: str
    # Table 10's caption: what the isolated-sign clips were cut from (rendered profiles).
    clip_videos: str

    @classmethod
    def named(cls, name: str) -> "Profile":
        try:
            return PROFILES[name]
        except KeyError:
            raise ConfigError(f"key 'profile': unknown profile {name!r} (known: {', '.join(PROFILES)})") from None

    def statement(self, dataset_key: str, title: str) -> str:
        return self.data_statement.format(key=dataset_key, title=title)

    def __str__(self) -> str:
        return self.name


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="embedded",
            rendered_video=True,
            paper_data=False,
            data_statement=(
                "Embedded synthetic data, not the paper's datasets: the {key} data here is this project's synthetic "
                "stand-in for {title} (docs/embedded-data.md), so only the pattern across rows, not the values, can "
                "be compared with the paper."),
            clip_videos="embedded synthetic data",
        ),
        Profile(
            name="realtext",
            rendered_video=True,
            paper_data=False,
            data_statement=(
                "Realtext profile: the real {title} texts (translation, question and gloss of every sample, test "
                "split), with each video rendered from the sample's real gloss sequence and small models trained "
                "from scratch on a CPU. The rendered video carries exactly the glosses, so sign input here is "
                "closer to a gloss-to-text system (the paper's gloss-based rows of Table 1, e.g. GBT with question "
                "and gloss: 34.31 BLEU-4) than to its video-only rows."),
            clip_videos="videos rendered from the real PHOENIX-2014T glosses (realtext profile)",
        ),
        Profile(
            name="paper",
            rendered_video=False,
            paper_data=True,
            data_statement="Dataset: {title}, test split.",
            clip_videos="rendered videos",
        ),
    )
}
PROFILE_NAMES = tuple(PROFILES)
