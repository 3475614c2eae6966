"""The live journal's file format, shared by its writer (the live runtime) and its readers (the drift sensor,
the `live_journal` observable source asset).

    <journal>/<market date>/<segment>-predictions.parquet  every scored snapshot: features, scores, versions
    <journal>/<market date>/<segment>-outcomes.parquet     labels resolved for earlier predictions
    <journal>/<market date>/<segment>-activity.parquet     decisions, orders, fills, model swaps, risk changes
                                                          and a checkpoint (stream position, cash, equity)

A segment is committed when its activity file exists (written last, renamed into place): readers take only
committed segments, so they never see half of one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

KINDS = ("predictions", "outcomes", "activity")


def segment_of(path: Path) -> str:
    return path.name.split("-")[0]


def segments(directory: Path, kind: str) -> list[Path]:
    """Files of `kind`, oldest segment first."""
    return sorted(Path(directory).glob(f"*/*-{kind}.parquet"), key=lambda p: p.name)


def committed(directory: Path) -> set[str]:
    return {segment_of(p) for p in segments(directory, "activity")}


def read(directory: Path, kind: str, since: pd.Timestamp | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Committed rows of `kind`, oldest first; `since` keeps rows with market time ts >= it (whole market-date
    folders before it are not read)."""
    done = committed(directory)
    paths = [p for p in segments(directory, kind) if segment_of(p) in done]
    if since is not None:
        first_day = str(pd.Timestamp(since).date())
        paths = [p for p in paths if p.parent.name >= first_day]
    if not paths:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(p, columns=columns) for p in paths], ignore_index=True)
    if since is not None and "ts" in frame:
        frame = frame[frame.ts >= pd.Timestamp(since)].reset_index(drop=True)
    return frame


def summary(directory: Path) -> dict:
    """What the journal holds: segments, rows per kind, the market-time span, the model versions seen."""
    done = sorted(committed(directory))
    out = {"segments": len(done), "last_segment": done[-1] if done else None}
    for kind in KINDS:
        frame = read(directory, kind, columns=None if kind != "predictions" else ["ts", "moon_version", "rug_version"])
        out[f"{kind}_rows"] = len(frame)
        if kind == "predictions" and len(frame):
            out["first_ts"], out["last_ts"] = str(frame.ts.min()), str(frame.ts.max())
            out["moon_versions"] = sorted(frame.moon_version.unique())
            out["rug_versions"] = sorted(frame.rug_version.unique())
        if kind == "activity" and len(frame):
            out["fills"] = int((frame.kind == "fill").sum())
            out["decisions"] = int((frame.kind == "decision").sum())
    return out


def latest_day(directory: Path) -> pd.Timestamp | None:
    """The newest market date holding a committed segment."""
    done = committed(directory)
    days = sorted({p.parent.name for p in segments(directory, "activity") if segment_of(p) in done})
    return pd.Timestamp(days[-1]) if days else None


def recent(directory: Path, kind: str, hours: float) -> pd.DataFrame:
    """Committed rows of `kind` in the last `hours` of market time the journal holds."""
    day = latest_day(directory)
    if day is None:
        return pd.DataFrame()
    frame = read(directory, kind, since=day - pd.Timedelta(hours=hours))
    if frame.empty:
        return frame
    return frame[frame.ts >= frame.ts.max() - pd.Timedelta(hours=hours)].reset_index(drop=True)
