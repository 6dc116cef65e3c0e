"""``qbslt check-annotations``: parse annotation files and summarise what the join would drop.

Only what one file can tell is checked here (empty question, duplicate name); the join step
adds the checks that need the corpus and the frames. Malformed lines raise AnnotationError.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from qbslt.data import annotations
from qbslt.data.datasets import get_dataset


def detect_kind(dataset: str, path: Path) -> str:
    """'qa' or the kind of the dataset's video list ('corpus': PHOENIX corpus csv, 'split': CSL
    split_1.txt), from the first line."""
    video_list = get_dataset(dataset).video_list
    try:
        with open(path, encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
    except FileNotFoundError:
        raise annotations.AnnotationError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise annotations.AnnotationError(path, None, f"not UTF-8 text ({exc.reason})") from None
    return video_list.kind if video_list.matches(first.rstrip("\r\n")) else "qa"


def check_file(dataset: str, path: Path) -> dict:
    spec = get_dataset(dataset)
    kind = detect_kind(dataset, path)
    if kind != "qa":
        return {"path": str(path), "kind": kind, "rows": len(spec.video_list.read(path)), "dropped": []}
    expected = path.stem if path.stem in annotations.SPLITS else None
    records = spec.read_qa(path, expected_split=expected)
    seen: set[str] = set()
    dropped = []
    for record in records:
        reason = "duplicate name" if record.name in seen else ("empty question" if not record.question else None)
        seen.add(record.name)
        if reason:
            dropped.append({"source": record.source, "name": record.name, "reason": reason})
    return {"path": str(path), "kind": kind, "rows": len(records), "dropped": dropped}


def check_files(dataset: str, paths: list[Path]) -> dict:
    files = [check_file(dataset, p) for p in paths]
    reasons = Counter(d["reason"] for f in files for d in f["dropped"])
    return {"dataset": dataset, "rows": sum(f["rows"] for f in files), "dropped": dict(sorted(reasons.items())),
            "files": files}
