"""The simulated community: layout, residents and one state model per device.

Built from the site file and the seed only, so two worlds with the same inputs
behave identically; every random stream is derived from (seed, purpose), which
keeps streams independent (adding a device does not reshuffle the traffic).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from kernel.siteconfig import SiteConfig
from simulators.kinds import KindModel, make_model
from simulators.layout import Layout
from simulators.messages import Message
from simulators.population import Resident, build_population, site_persons

MessageMaker = Message | Callable[[KindModel], Message]


@dataclass(frozen=True)
class Planned:
    """A device message due at simulated time `t`.

    `message` is either fixed, or made from the device's model when it is due,
    for messages that change or read state (fence alarms pull voltages down).
    """

    t: float
    device: str
    message: MessageMaker

    def resolve(self, model: KindModel) -> Message:
        return self.message(model) if callable(self.message) else self.message


@dataclass
class CommunityWorld:
    site: SiteConfig
    layout: Layout
    seed: int
    models: dict[str, KindModel]
    residents: list[Resident]

    def rng(self, *purpose: object) -> random.Random:
        """An independent, reproducible random stream for one purpose."""
        return random.Random(":".join(str(p) for p in (self.seed, *purpose)))

    def kind_of(self, device_id: str) -> str:
        return self.layout.devices[device_id].kind

    @classmethod
    def build(cls, site: SiteConfig, seed: int) -> CommunityWorld:
        layout = Layout.from_site(site)

        def stream(*purpose: object) -> random.Random:
            return random.Random(":".join(str(p) for p in (seed, *purpose)))

        models = {
            dev.id: make_model(dev.kind, stream("model", dev.id), dev.attributes)
            for dev in layout.devices.values()
        }
        residents = build_population(layout, stream("population")) + site_persons(
            layout, site.persons, stream("persons")
        )
        return cls(site=site, layout=layout, seed=seed, models=models, residents=residents)
