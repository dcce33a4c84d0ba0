"""Plots of the diagnostics, drawn with matplotlib's Agg backend straight to PNG files.

Figures are built with `matplotlib.figure.Figure` on an Agg canvas rather than through pyplot,
so nothing touches global backend state or needs a display, and figures are freed with their
last reference. Each PNG is rendered to memory, checked to be a non-empty PNG, and written
atomically (temporary file, then rename).

Values that cannot appear on a log axis (zero, negative, inf, NaN) are left out of log panels
as gaps rather than drawn at an arbitrary floor.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rnnlab.errors import RnnlabError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def new_figure(columns: int, width: float = 6.0, height: float = 4.5):
    """A figure with `columns` side-by-side axes (always returned as a list) on an Agg canvas."""
    fig = Figure(figsize=(width * columns, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, list(axes)


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Render `fig` as PNG and write it atomically to `path`; returns the path."""
    from rnnlab.atomic import atomic_write_bytes

    path = Path(path)
    if path.is_dir():
        raise RnnlabError(f"{path} is a directory; expected a file name for the PNG")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    assert data.startswith(PNG_SIGNATURE), "matplotlib did not produce a PNG"
    atomic_write_bytes(path, data)
    return path


def _log_safe(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def plot_gradient_flow(report, path: str | Path) -> Path:
    """‖∂L/∂h_t‖ against step t, linear and log panels; solid = loss at last step, dashed = every step."""
    fig, (linear, log) = new_figure(2)
    steps = np.arange(1, report.seq_len + 1)
    last, every = report.last.mean_norms, report.every.mean_norms
    for layer in range(report.num_layers):
        color = f"C{layer}"
        for values, style, name in ((last[layer], "-", "loss at last step"),
                                    (every[layer], "--", "loss at every step")):
            label = f"layer {layer + 1}, {name}"
            linear.plot(steps, values, style, color=color, label=label)
            log.plot(steps, _log_safe(values), style, color=color, label=label)
    log.set_yscale("log")
    for ax, scale in ((linear, "linear"), (log, "log")):
        ax.set_xlabel("time step t (loss at the right end)")
        ax.set_ylabel("‖∂L/∂h_t‖ (mean over batch)")
        ax.set_title(f"gradient flow through time ({scale} scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report.description}\n{report.summary()}", fontsize=9)
    return save_figure(fig, path)


def plot_jacobians(layers, path: str | Path, title: str = "") -> Path:
    """Left: log10 ‖∂s_T/∂s_(T-k)‖ against k. Right: σ_max of each step's Jacobian."""
    fig, (product, steps) = new_figure(2)
    for item in layers:
        color = f"C{item.layer}"
        k = np.arange(len(item.product_log10))
        product.plot(k, item.product_log10, color=color, label=f"layer {item.layer + 1}")
        if len(item.spectral_radii) == 1:  # Elman RNN: the linear-dynamics reference ρ^k
            rho = next(iter(item.spectral_radii.values()))
            if rho > 0:
                product.plot(k, k * np.log10(rho), ":", color=color,
                             label=f"ρ(W_hh)^k, ρ = {rho:.3f}")
        t = np.arange(1, len(item.sigma_max) + 1)
        steps.plot(t, item.sigma_max, color=color, label=f"layer {item.layer + 1}")
    steps.axhline(1.0, color="gray", linestyle="--", linewidth=1, label="σ = 1")
    product.set_xlabel("k (steps back from T)")
    product.set_ylabel("log10 ‖∂s_T / ∂s_(T-k)‖₂")
    product.set_title("norm of the Jacobian product")
    steps.set_xlabel("time step t")
    steps.set_ylabel("σ_max(∂s_t / ∂s_(t-1))")
    steps.set_title("largest singular value of each step's Jacobian")
    for ax in (product, steps):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_scalar_flow(w_values, steps: int, tanh_derivative: float, path: str | Path,
                     sweep_max: float | None = None) -> Path:
    """Three panels: g_n against n (linear, log) for each w, and log10 g_steps swept over w."""
    from rnnlab.diagnostics import scalar_flow as sf

    fig, (linear, log, sweep) = new_figure(3, width=5.0)
    n = np.arange(steps + 1)
    boundary = sf.boundary_weight(tanh_derivative)
    for index, w in enumerate(w_values):
        gradients = sf.simulate(w, steps, tanh_derivative)
        label = f"w = {w:g} ({sf.regime(w, tanh_derivative)})"
        linear.plot(n, gradients, color=f"C{index}", label=label)
        log.plot(n, _log_safe(np.abs(gradients)), color=f"C{index}", label=label)
    log.set_yscale("log")
    for ax, scale in ((linear, "linear"), (log, "log")):
        ax.set_xlabel("n, steps back from the loss")
        ax.set_ylabel(f"g_n = ({tanh_derivative:g}·w)^n")
        ax.set_title(f"gradient n steps back ({scale} scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    top = sweep_max or max(2 * boundary, 1.2 * max(abs(w) for w in w_values))
    grid = np.linspace(0.0, top, 400)[1:]
    sweep.plot(grid, sf.sweep_log10(grid, steps, tanh_derivative), color="k")
    sweep.axvline(boundary, color="red", linestyle="--",
                  label=f"{tanh_derivative:g}·w = 1 (w = {boundary:g})")
    sweep.axhline(0.0, color="gray", linewidth=1)
    for index, w in enumerate(w_values):
        sweep.plot([w], sf.sweep_log10(np.array([w]), steps, tanh_derivative), "o",
                   color=f"C{index}")
    sweep.set_xlabel("w")
    sweep.set_ylabel(f"log10 g_{steps}")
    sweep.set_title(f"gradient after {steps} steps against w")
    sweep.grid(alpha=0.3)
    sweep.legend(fontsize=8)
    return save_figure(fig, path)


def plot_init_scale(results, path: str | Path) -> Path:
    """One panel per cell, one line per init scale: ‖∂L/∂h‖ against distance, log y."""
    cells = list(dict.fromkeys(r.cell for r in results))
    fig, axes = new_figure(len(cells), width=5.0)
    for ax, cell in zip(axes, cells):
        for index, result in enumerate(r for r in results if r.cell == cell):
            d = np.arange(len(result.norms_by_distance))
            ax.plot(d, _log_safe(result.norms_by_distance), color=f"C{index}",
                    label=f"scale {result.scale:g}")
        ax.set_yscale("log")
        ax.set_xlabel("distance from the loss (steps)")
        ax.set_ylabel("‖∂L/∂h_t‖ (mean over batch)")
        ax.set_title(f"{cell}: W_hh ~ N(0, scale²/H)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
