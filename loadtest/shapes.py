"""Load shapes as stage tables, scaled to a peak user count.

Each stage runs until ``until`` seconds into the test, at ``users`` (a fraction of the
peak) reached at ``rate`` (a fraction of the peak per second), with only the named
user classes being spawned (None: all of them). The flash sale opens
``flash_opens_in`` seconds into the run, so the stage tables are written around it.

``ScenarioShape`` in the locustfile picks one of these by name (``--shape``); with no
name it simply holds ``-u`` users at ``-r`` for ``-t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from locust import LoadTestShape

# The user classes by name: the locustfile defines them, and importing it here would
# put its shape (and users) twice into locust's view.
ROOM = ("Viewer", "Platform", "Leader")
EVERYONE = None


@dataclass(frozen=True)
class Stage:
    until: float
    users: float
    rate: float
    classes: tuple[str, ...] | None = EVERYONE


class StagedShape(LoadTestShape):
    """A stage table; subclasses give ``stages(flash_opens_in)``."""

    abstract = True
    name: ClassVar[str] = ""

    def __init__(self, peak: int, flash_opens_in: float, run_time: float | None,
                 classes_by_name: dict[str, type] | None = None) -> None:
        super().__init__()
        self.peak = max(1, peak)
        self.table = self.stages(flash_opens_in)
        self.run_time = run_time
        self.classes_by_name = classes_by_name or {}

    @staticmethod
    def stages(flash_opens_in: float) -> list[Stage]:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | tuple[int, float, list[type] | None] | None:
        now = self.get_run_time()
        if self.run_time is not None and now >= self.run_time:
            return None
        for stage in self.table:
            if now < stage.until:
                users = max(1, round(stage.users * self.peak))
                rate = max(1.0, stage.rate * self.peak)
                if not self.classes_by_name:
                    return users, rate
                # Always a list: None would keep whatever classes the previous stage named.
                names = stage.classes if stage.classes is not None else sorted(self.classes_by_name)
                return users, rate, [self.classes_by_name[n] for n in names if n in self.classes_by_name]
        return None


class LiveStartSpike(StagedShape):
    """The room fills in two seconds, then the flash sale opens and the buyers pile in.

    40 % of the peak (viewers, the platform, leaders) within 2 s of the start; a second
    before the flash sale opens everyone else arrives within a second (the flash-sale
    buyers among them); the spike holds for 20 s, half the room leaves, and the run
    ends a minute after the sale opened.
    """

    name = "LiveStartSpike"

    @staticmethod
    def stages(flash_opens_in: float) -> list[Stage]:
        spike = max(3.0, flash_opens_in - 1)
        return [
            Stage(until=spike, users=0.4, rate=0.2, classes=ROOM),
            Stage(until=spike + 20, users=1.0, rate=1.0),
            Stage(until=spike + 60, users=0.5, rate=0.1),
        ]


class SteadyLive(StagedShape):
    """An ordinary live hour, compressed: ramp to the peak over 30 s, hold for 10 minutes."""

    name = "SteadyLive"

    @staticmethod
    def stages(flash_opens_in: float) -> list[Stage]:
        return [
            Stage(until=30, users=1.0, rate=1 / 30),
            Stage(until=630, users=1.0, rate=1 / 30),
        ]


SHAPES: dict[str, type[StagedShape]] = {cls.name: cls for cls in (LiveStartSpike, SteadyLive)}
