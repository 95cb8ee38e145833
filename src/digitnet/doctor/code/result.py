"""What the doctor found in a learner's code, in words and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import Diagnosis, jsonable


@dataclass
class CodeDiagnosis(Diagnosis):
    """The doctor's result for a learner's code: findings (as ``Diagnosis``), what it found in
    the code, and the cost before and after the brief training."""

    #: lines saying which function plays which role, and the network's shape
    found: list[str] = field(default_factory=list)
    #: lines saying what was compared, and how well it agreed
    checked: list[str] = field(default_factory=list)
    #: the cross-entropy in the learner's notation and its values
    cost: dict[str, Any] = field(default_factory=dict)
    #: the network as read: sizes, layout, activations, bound functions
    network: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """``{"findings": [...], "cost": {...}, "network": {...}}``"""
        return {"findings": [f.as_dict() for f in self.findings], "cost": jsonable(self.cost),
                "network": jsonable(self.network)}

    def __str__(self) -> str:
        lines = list(self.found) + list(self.checked)
        if self.cost:
            c = self.cost
            lines.append(f"cost: {c['formula']}")
            lines.append(f"      in NumPy: {c['numpy']}")
            if c.get("before") is not None:
                lines.append(f"      J = {c['before']:.4g} on {c['batch']} sample images with the "
                             "initial weights" + (f" (your {c['function']}() gives "
                                                  f"{c['yours']:.4g})" if c.get("yours")
                                                  is not None else ""))
            if c.get("after") is not None:
                lines.append(f"      J = {c['after']:.4g} on {c['probe']} other images after "
                             f"{c['steps']} training steps with your functions")
        if self.summary:
            lines.append(self.summary)
        return "\n".join(lines + self.table() + self.findings_text())
