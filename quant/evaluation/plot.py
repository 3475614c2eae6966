"""Equity curves as a PNG, for asset metadata."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display in Dagster steps
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def equity_png(curves: dict[str, pd.Series], start_balance: float, title: str, unit: str = "SOL",
               ylabel: str = "equity, SOL (realised)") -> bytes:
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for name, eq in curves.items():
        if len(eq):
            ax.step(eq.index, eq.to_numpy(), where="post", label=f"{name} ({eq.iloc[-1] - start_balance:+.2f} {unit})")
        else:
            ax.axhline(start_balance, linestyle=":", label=f"{name} (no trades)")
    ax.axhline(start_balance, color="grey", linewidth=0.5)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
