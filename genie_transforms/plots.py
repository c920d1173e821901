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
) -> Image.Image:
    """Lay out images in a labelled grid; `None` leaves a cell empty. Images are scaled (nearest) to `cell` px."""
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one row with images.")
    font = ImageFont.load_default()
    n_cols = max(len(r) for r in rows)
    left = 8 + max((int(font.getlength(s)) for s in row_labels), default=0)
    top = 18 if col_labels else pad
    width = left + n_cols * (cell + pad) + pad
    height = top + len(rows) * (cell + pad) + pad
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    for j, label in enumerate(col_labels):
        draw.text((left + j * (cell + pad) + cell // 2, top // 2), label, fill="black", font=font, anchor="mm")
    for i, row in enumerate(rows):
        y = top + i * (cell + pad)
        if i < len(row_labels):
            draw.text((4, y + cell // 2), row_labels[i], fill="black", font=font, anchor="lm")
        for j, image in enumerate(row):
            if image is not None:
                tile = image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
                grid.paste(tile, (left + j * (cell + pad), y))
    return grid


def ada_curves(table: Sequence[dict], path: str, max_pairs: int = 8, title: str = "GeNIe-Ada curves") -> str:
    """Plot projection vs r for up to `max_pairs` noise-table rows, with each r* marked, and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(table)[:max_pairs]
    if not rows:
        raise ValueError("ada_curves needs at least one noise-table row.")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for row in rows:
        grid, s = list(row["grid"]), list(row["projections"])
        source = row.get("source_id", row.get("source_index", "?"))
        classes = f"{row['source_label']} -> {row.get('target', '?')}" if row.get("source_label") is not None else ""
        label = f"#{source}: {classes}" if classes else f"#{source} -> {row.get('target', '?')}"
        (line,) = ax.plot(grid, s, marker="o", lw=1.5, label=label)
        k = min(range(len(grid)), key=lambda i: abs(grid[i] - row["r_star"]))
        ax.scatter([grid[k]], [s[k]], s=160, facecolors="none", edgecolors=line.get_color(), linewidths=2)
    ax.set_xlabel("noise ratio r")
    ax.set_ylabel("projection on p - e_source")
    ax.set_title(f"{title} (circles: r*, the sample after the largest jump)", fontsize=9)
    ax.legend(fontsize=7, ncol=2, title="source row: class -> target", title_fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pca_plot(source: np.ndarray, target: np.ndarray, generated: dict[float, np.ndarray], path: str,
             source_name: str = "source", target_name: str = "target") -> str:  # fmt: skip
    """The paper's PCA picture: real embeddings of the source and target classes and the hard negatives at each r,
    projected on the two principal components of all of them. Large circles are the class means; the black path
    joins the mean of the hard negatives at each r, showing them bridge the two classes. Saves a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    ratios = sorted(generated)
    if not ratios:
        raise ValueError("pca_plot needs generated embeddings for at least one r.")
    stacked = np.concatenate([source, target, *[generated[r] for r in ratios]])
    points = PCA(n_components=2).fit_transform(stacked)
    src, tgt = points[: len(source)], points[len(source) : len(source) + len(target)]
    gen = points[len(source) + len(target) :].reshape(len(ratios), -1, 2)
    fig, ax = plt.subplots(figsize=(6.4, 5.0), dpi=120)
    ax.scatter(*src.T, c="tab:blue", s=22, alpha=0.6, label=f"real {source_name}")
    ax.scatter(*tgt.T, c="tab:red", s=22, alpha=0.6, label=f"real {target_name}")
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(ratios):
        ax.scatter(*gen[i].T, color=cmap(i / max(1, len(ratios) - 1)), marker="^", s=22, alpha=0.5, zorder=2)
    centres = gen.mean(axis=1)
    ax.plot(*src.mean(axis=0)[:, None], "o", c="tab:blue", ms=13, mec="k", zorder=3)
    ax.plot(*tgt.mean(axis=0)[:, None], "o", c="tab:red", ms=13, mec="k", zorder=3)
    ax.plot(centres[:, 0], centres[:, 1], c="k", lw=1.5, zorder=3)
    for i, r in enumerate(ratios):
        ax.scatter(*centres[i], color=cmap(i / max(1, len(ratios) - 1)), marker="^", s=140, edgecolors="k",
                   zorder=4, label=f"GeNIe r={r} (mean)")  # fmt: skip
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Hard negatives from {source_name} towards {target_name} (backbone features, PCA)", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
