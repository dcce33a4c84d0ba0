"""What an estimate returns: its rows, the bytes live at each phase, the peak, and its table."""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnlab.diagnostics.params import ModelSpec

CATEGORIES = ("parameters", "gradients", "optimizer", "autocast", "activations")
MIB = 1024 * 1024


def mib(nbytes: int) -> float:
    return nbytes / MIB


@dataclass(frozen=True)
class MemoryItem:
    category: str       # one of CATEGORIES
    name: str
    nbytes: int
    formula: str = ""


@dataclass
class MemoryEstimate:
    spec: ModelSpec
    batch_size: int
    seq_len: int
    precision: str
    optimizer: str
    items: list[MemoryItem]
    forward_activation_peak: int      # activations + transient buffers, fullest forward moment
    backward_extra: int               # gradients the backward pass adds on top of activations
    backward_end: int                 # held tensors + last transients, when all grads exist
    optimizer_step_temporaries: int
    notes: list[str] = field(default_factory=list)

    def total(self, category: str | None = None) -> int:
        return sum(i.nbytes for i in self.items if category is None or i.category == category)

    @property
    def total_bytes(self) -> int:
        """Every item at once (parameters, gradients, optimizer, autocast, activations)."""
        return self.total()

    @property
    def phases(self) -> dict[str, int]:
        """Bytes live at the fullest moment of each phase of a steady-state step (the phases are
        described in rnnlab.diagnostics.memory.estimate)."""
        fixed = self.total("parameters") + self.total("optimizer") + self.total("autocast")
        acts = self.total("activations")
        return {
            "forward": fixed + self.forward_activation_peak,
            "backward": fixed + acts + self.backward_extra,
            "end of backward": fixed + self.total("gradients") + self.backward_end,
            "optimizer step": (self.total("parameters") + self.total("gradients")
                               + self.total("optimizer") + self.optimizer_step_temporaries),
        }

    @property
    def peak_bytes(self) -> int:
        return max(self.phases.values())

    def format_table(self, detail: bool = True) -> str:
        """The table `rnnlab memory` prints: a row per item (activations: per tensor only with
        `detail`), a total per category, the sum of the rows, the peak and each phase."""
        rows: list[tuple[str, str, int]] = []
        for category in CATEGORIES:
            items = [i for i in self.items if i.category == category]
            if not items:
                continue
            if category == "activations":
                if detail:
                    rows += [(category, i.name, i.nbytes) for i in items]
                name = "(total)" if detail else "saved for backward + held by the caller"
            else:
                name = items[0].name if len(items) == 1 else "(total)"
            rows.append((category, name, self.total(category)))
        name_width = max(len(r[1]) for r in rows + [("", "item", 0)])
        byte_width = max(len(f"{max(self.total_bytes, self.peak_bytes):,}"), len("bytes"))
        header = f"{'category':<12} {'item':<{name_width}}  {'bytes':>{byte_width}}  {'MiB':>10}"
        lines = [header, "-" * len(header)]
        for category, name, nbytes in rows:
            lines.append(f"{category:<12} {name:<{name_width}}  {nbytes:>{byte_width},}  "
                         f"{nbytes / MIB:>10.3f}")
        lines.append("-" * len(header))
        width = 12 + 1 + name_width
        for label, value in (("sum of the rows above", self.total_bytes),
                             ("estimated peak (fullest moment of a step)", self.peak_bytes)):
            lines.append(f"{label:<{width}}  {value:>{byte_width},}  {value / MIB:>10.3f}")
        phases = ", ".join(f"{name} {value / MIB:.3f}" for name, value in self.phases.items())
        lines.append(f"  fullest moment of each phase (MiB): {phases}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines) + "\n"
