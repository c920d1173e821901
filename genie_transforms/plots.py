"""Pictures people look at, written as PNG: image grids (PIL only; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def image_grid(
    rows: Sequence[Sequence[Image.Image | None]],
    col_labels: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    cell: int = 72,
    pad: int = 4,
    title: str | None = None,
    groups: Sequence[tuple[int, int, str]] = (),
    dividers: Sequence[int] = (),
) -> Image.Image:
    """Lay out images in a labelled grid; `None` leaves a cell empty. Images are scaled (nearest) to `cell` px.

    `title` goes on top; `groups` are headings over column spans `(first, last, text)`; `dividers` draws a vertical
    line before each of those columns (e.g. between generated and real images)."""
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one row with images.")
    font, title_font = _font(13), _font(15)
    line = 20  # px per line of text
    n_cols = max(len(r) for r in rows)
    left = 12 + max((int(font.getlength(s)) for s in row_labels), default=0)
    top = (line + 6 if title else 0) + (line if groups else 0) + (line if col_labels else pad)
    width = max(left + n_cols * (cell + pad) + pad, 24 + int(title_font.getlength(title or "")))
    height = top + len(rows) * (cell + pad) + pad
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)

    def x_of(j):
        return left + j * (cell + pad)

    if title:
        draw.text((width // 2, line // 2 + 3), title, fill="black", font=title_font, anchor="mm")
    y_group = line + 6 if title else 0
    for first, last, text in groups:
        mid = (x_of(first) + x_of(last) + cell) // 2
        draw.text((mid, y_group + line // 2 - 2), text, fill="black", font=font, anchor="mm")
        draw.line((x_of(first), y_group + line - 3, x_of(last) + cell, y_group + line - 3), fill="black")
    for j, label in enumerate(col_labels):
        draw.text((x_of(j) + cell // 2, top - line // 2), label, fill="black", font=font, anchor="mm")
    for i, row in enumerate(rows):
        y = top + i * (cell + pad)
        if i < len(row_labels):
            draw.text((4, y + cell // 2), row_labels[i], fill="black", font=font, anchor="lm")
        for j, image in enumerate(row):
            if image is not None:
                tile = image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
                grid.paste(tile, (x_of(j), y))
    for j in dividers:
        x = x_of(j) - pad // 2 - 1
        draw.line((x, top - line, x, height), fill="black", width=2)
    return grid


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at `size` px (readable, with real spaces); its small bitmap font where Pillow
    was built without FreeType."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # a Pillow built without FreeType
        return ImageFont.load_default()


def _figure_class():
    """matplotlib's `Figure`, drawn without pyplot: headless, and the caller's backend is never switched."""
    from .extras import require

    require("matplotlib", "matplotlib", "evaluation")
    from matplotlib.figure import Figure

    return Figure


def ada_curves(table: Sequence[dict], path: str, max_pairs: int = 8, title: str = "GeNIe-Ada curves") -> str:
    """Plot projection vs r for up to `max_pairs` noise-table rows, with each r* circled, and save a PNG.

    Rows may carry `source_name` and `target_name` (else class indices are shown). The r* circles grow with the
    row's rank, so curves that choose the same point stay visible as concentric rings."""
    Figure = _figure_class()
    rows = list(table)[:max_pairs]
    if not rows:
        raise ValueError("ada_curves needs at least one noise-table row.")
    fig = Figure(figsize=(6.8, 4.4), dpi=120)
    ax = fig.subplots()
    for i, row in enumerate(rows):
        grid, s = list(row["grid"]), list(row["projections"])
        source = row.get("source_name", row.get("source_label", "?"))
        target = row.get("target_name", row.get("target", "?"))
        (line,) = ax.plot(grid, s, marker="o", ms=3, lw=1.5, label=f"{source} -> {target} (r* = {row['r_star']:g})")
        k = min(range(len(grid)), key=lambda j: abs(grid[j] - row["r_star"]))
        ax.scatter(
            [grid[k]], [s[k]], s=70 + 55 * i, facecolors="none", edgecolors=line.get_color(), linewidths=1.5, zorder=3
        )
    ax.set_xlabel("noise ratio r")
    ax.set_ylabel("projection on p - e_source")
    ax.set_title(f"{title} (rings: r*, the sample after the largest jump)", fontsize=9)
    ax.legend(fontsize=7, ncol=2, title="source class -> target class", title_fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def pca_plot(
    source: np.ndarray,
    target: np.ndarray,
    generated: dict[float, np.ndarray],
    path: str,
    source_name: str = "source",
    target_name: str = "target",
) -> str:
    """The paper's PCA picture: real embeddings of the source and target classes and the hard negatives at each r,
    projected on the two principal components of all of them. Large circles are the class means; the black path
    joins the mean of the hard negatives at each r, showing them bridge the two classes. Saves a PNG."""
    Figure = _figure_class()
    from .extras import require

    require("scikit-learn", "sklearn", "evaluation")
    from matplotlib import colormaps
    from sklearn.decomposition import PCA

    ratios = sorted(generated)
    if not ratios:
        raise ValueError("pca_plot needs generated embeddings for at least one r.")
    stacked = np.concatenate([source, target, *[generated[r] for r in ratios]])
    points = PCA(n_components=2).fit_transform(stacked)
    src, tgt = points[: len(source)], points[len(source) : len(source) + len(target)]
    gen = points[len(source) + len(target) :].reshape(len(ratios), -1, 2)
    fig = Figure(figsize=(6.4, 5.0), dpi=120)
    ax = fig.subplots()
    ax.scatter(*src.T, c="tab:blue", s=22, alpha=0.6, label=f"real {source_name}")
    ax.scatter(*tgt.T, c="tab:red", s=22, alpha=0.6, label=f"real {target_name}")
    cmap = colormaps["viridis"]
    for i in range(len(ratios)):
        ax.scatter(*gen[i].T, color=cmap(i / max(1, len(ratios) - 1)), marker="^", s=22, alpha=0.5, zorder=2)
    centres = gen.mean(axis=1)
    ax.plot(
        *src.mean(axis=0)[:, None], "o", c="tab:blue", ms=13, mec="k", zorder=3, label=f"mean of real {source_name}"
    )
    ax.plot(*tgt.mean(axis=0)[:, None], "o", c="tab:red", ms=13, mec="k", zorder=3, label=f"mean of real {target_name}")
    ax.plot(centres[:, 0], centres[:, 1], c="k", lw=1.5, zorder=3)
    for i, r in enumerate(ratios):
        ax.scatter(
            *centres[i],
            color=cmap(i / max(1, len(ratios) - 1)),
            marker="^",
            s=140,
            edgecolors="k",
            zorder=4,
            label=f"GeNIe r={r} (mean)",
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Hard negatives from {source_name} towards {target_name} (backbone features, PCA)", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    return path


__all__ = [
    "ada_curves",
    "image_grid",
    "pca_plot",
]
