"""A day of comings and goings: residents, visitors and cars through gates and cameras.

The rhythm of an older residential community: commuters and pupils leave
between 7 and 9 and come back from 16:30 into the evening, retirees go to the
market in the morning and walk in the afternoon, deliveries peak at lunch and
dinner, visitors' cars come and go during the day. A walk out is the courtyard
gate, then a main gate a few minutes later (face cameras capture people at both);
a drive out is the courtyard gate, then the plate camera at a vehicle entrance.
"""

from __future__ import annotations

import random

from simulators.clock import DAY
from simulators.kinds import AccessGateModel, FaceCameraModel, PlateCameraModel
from simulators.layout import Courtyard, MainGate
from simulators.plates import local_plate, random_plate
from simulators.population import ELDER, HOUSEBOUND, Resident
from simulators.rand import MINUTE, clock_gauss, clock_uniform, poisson
from simulators.world import CommunityWorld, Planned

VISITORS_PER_COURTYARD = 6.0  # deliveries and guests per courtyard per day
VISITOR_CARS_PER_COURTYARD = 2.0


class TrafficPlanner:
    """Plans one day's traffic; all randomness comes from the rng passed per day."""

    def __init__(self, world: CommunityWorld) -> None:
        self.world = world
        self.layout = world.layout
        self.courtyards = {c.id: c for c in self.layout.courtyards}
        self.gates: dict[str, AccessGateModel] = {
            d: m for d, m in world.models.items() if isinstance(m, AccessGateModel)
        }
        self.faces: dict[str, FaceCameraModel] = {
            d: m for d, m in world.models.items() if isinstance(m, FaceCameraModel)
        }
        self.plates: dict[str, PlateCameraModel] = {
            d: m for d, m in world.models.items() if isinstance(m, PlateCameraModel)
        }

    def plan_day(self, day: int, rng: random.Random) -> list[Planned]:
        """Everything that moves on simulated day `day`, in time order."""
        base = day * DAY
        out: list[Planned] = []
        for resident in self.world.residents:
            for leave, back, by_car in self._trips(resident, rng):
                self._trip(resident, base + leave, base + back, by_car, rng, out)
        if self.layout.courtyards:
            self._visitors(base, rng, out)
        if self.layout.plate_cameras:
            self._visitor_cars(base, rng, out)
        out.sort(key=lambda p: p.t)  # stable: ties keep planning order
        return out

    # --- who goes out when ------------------------------------------------
    @staticmethod
    def _trips(r: Resident, rng: random.Random) -> list[tuple[float, float, bool]]:
        """(leave, back, by car) times of day for one resident."""
        trips: list[tuple[float, float, bool]] = []
        if r.role == "commuter":
            if rng.random() < 0.9:
                by_car = r.car is not None and rng.random() < 0.85
                trips.append(
                    (clock_gauss(rng, 7.67, 25, 6.5, 9.5), clock_gauss(rng, 18.17, 50, 16.5, 22.5), by_car)
                )
            if rng.random() < 0.15:
                t = clock_uniform(rng, 19.5, 21)
                trips.append((t, t + rng.uniform(30, 90) * MINUTE, False))
        elif r.role == "student":
            if rng.random() < 0.95:
                trips.append(
                    (clock_gauss(rng, 7.08, 10, 6.5, 7.75), clock_gauss(rng, 16.83, 25, 15.5, 19), False)
                )
        elif r.role == "retiree":
            for chance, lo, hi, stay_lo, stay_hi in (
                (0.7, 7.5, 10, 40, 120),
                (0.5, 15, 17, 30, 90),
                (0.3, 19, 19.75, 60, 100),
            ):
                if rng.random() < chance:
                    t = clock_uniform(rng, lo, hi)
                    trips.append((t, t + rng.uniform(stay_lo, stay_hi) * MINUTE, False))
        elif r.role == ELDER:  # the market most mornings, else (and sometimes as well) a walk: out every day
            market = rng.random() < 0.8
            if market:
                t = clock_uniform(rng, 7.5, 10)
                trips.append((t, t + rng.uniform(40, 100) * MINUTE, False))
            if not market or rng.random() < 0.4:
                t = clock_uniform(rng, 15, 17)
                trips.append((t, t + rng.uniform(30, 80) * MINUTE, False))
        elif r.role == HOUSEBOUND:
            pass  # stays in the flat: only the button shows them
        elif rng.random() < 0.3:  # homebody
            t = clock_uniform(rng, 10, 20)
            trips.append((t, t + rng.uniform(20, 120) * MINUTE, False))
        return trips

    def _trip(
        self, r: Resident, leave: float, back: float, by_car: bool, rng: random.Random, out: list[Planned]
    ) -> None:
        court = self.courtyards[r.courtyard]
        main = self.layout.main_gates[r.main_gate] if self.layout.main_gates else None
        if by_car and r.car is not None and main is not None and main.plate_camera is not None:
            plate, color = r.car
            self._resident_pass(r, court.gate, court.face_camera, leave, "out", rng, out)
            self._plate(main.plate_camera, leave + rng.uniform(120, 360), plate, color, "out", rng, out)
            self._plate(main.plate_camera, back, plate, color, "in", rng, out)
            self._resident_pass(r, court.gate, court.face_camera, back + rng.uniform(90, 300), "in", rng, out)
            return
        self._resident_pass(r, court.gate, court.face_camera, leave, "out", rng, out)
        if main is not None:
            self._resident_pass(r, main.gate, main.face_camera, leave + rng.uniform(60, 240), "out", rng, out)
            self._resident_pass(r, main.gate, main.face_camera, back, "in", rng, out)
        self._resident_pass(r, court.gate, court.face_camera, back + rng.uniform(60, 240), "in", rng, out)

    # --- one person or car at one device ---------------------------------
    def _resident_pass(
        self,
        r: Resident,
        gate: str,
        camera: str | None,
        t: float,
        direction: str,
        rng: random.Random,
        out: list[Planned],
    ) -> None:
        if r.role == ELDER:  # no phone for QR codes, no PINs: the face reader or the card
            method = "face" if r.face_enrolled and rng.random() < 0.6 else "card"
        elif r.face_enrolled:
            method = rng.choices(("face", "card", "qr", "pin"), weights=(55, 33, 7, 5))[0]
        else:
            method = rng.choices(("card", "qr", "pin"), weights=(80, 12, 8))[0]
        if method == "qr":
            credential = f"QR{rng.getrandbits(40):010X}"  # a one-time code from the resident's app
        else:
            credential = {"face": r.person_id, "card": r.card, "pin": r.home}[method]
        if camera is not None and rng.random() < (0.85 if direction == "in" else 0.5):
            if r.face_enrolled and rng.random() < 0.92:
                msg = self.faces[camera].recognised(r.person_id, rng.uniform(0.80, 0.99))
            else:
                msg = self.faces[camera].snapshot_only()
            out.append(Planned(t - rng.uniform(0.5, 2.0), camera, msg))
        gate_model = self.gates[gate]
        if rng.random() < 0.02:  # expired card, face not matched: denied, then the card works
            out.append(Planned(t, gate, gate_model.passage(direction, method, credential, "denied")))
            t += rng.uniform(5, 20)
            method, credential = "card", r.card
        out.append(Planned(t, gate, gate_model.passage(direction, method, credential, "granted")))

    def _plate(
        self,
        camera: str,
        t: float,
        plate: str,
        color: str,
        direction: str,
        rng: random.Random,
        out: list[Planned],
    ) -> None:
        clear = rng.random() < 0.93  # otherwise a dirty plate or bad light
        confidence = rng.uniform(0.90, 0.995) if clear else rng.uniform(0.55, 0.85)
        out.append(Planned(t, camera, self.plates[camera].plate(plate, color, direction, confidence)))

    # --- people and cars who do not live here ----------------------------
    def _visitors(self, base: float, rng: random.Random, out: list[Planned]) -> None:
        courts = list(self.courtyards.values())
        for _ in range(poisson(rng, VISITORS_PER_COURTYARD * len(courts))):
            delivery = rng.random() < 0.6
            if delivery:
                peak = rng.random()
                if peak < 0.4:
                    arrive = clock_gauss(rng, 11.75, 40, 9, 14)
                elif peak < 0.75:
                    arrive = clock_gauss(rng, 18.25, 50, 16, 21.5)
                else:
                    arrive = clock_uniform(rng, 9, 21)
                stay = rng.uniform(3, 10) * MINUTE
            else:
                arrive, stay = clock_uniform(rng, 9, 20.5), rng.uniform(30, 180) * MINUTE
            court = rng.choice(courts)
            main = rng.choice(self.layout.main_gates) if self.layout.main_gates else None
            qr = f"QR-V{rng.getrandbits(32):08X}"
            self._visit(base + arrive, base + arrive + stay, court, main, qr, rng, out)

    def _visit(
        self,
        arrive: float,
        leave: float,
        court: Courtyard,
        main: MainGate | None,
        qr: str,
        rng: random.Random,
        out: list[Planned],
    ) -> None:
        t = arrive
        if main is not None:
            self._visitor_pass(main.gate, main.face_camera, t, "in", qr, rng, out)
            t += rng.uniform(60, 180)
        self._visitor_pass(court.gate, court.face_camera, t, "in", qr, rng, out)
        self._visitor_pass(court.gate, None, leave, "out", qr, rng, out)
        if main is not None:
            self._visitor_pass(main.gate, None, leave + rng.uniform(60, 180), "out", qr, rng, out)

    def _visitor_pass(
        self,
        gate: str,
        camera: str | None,
        t: float,
        direction: str,
        qr: str,
        rng: random.Random,
        out: list[Planned],
    ) -> None:
        if camera is not None:
            out.append(Planned(t - rng.uniform(0.5, 2.0), camera, self.faces[camera].snapshot_only()))
        gate_model = self.gates[gate]
        if direction == "in" and rng.random() < 0.08:  # pass not yet valid: denied, resident re-sends it
            out.append(Planned(t, gate, gate_model.passage("in", "qr", qr, "denied")))
            t += rng.uniform(20, 60)
        out.append(Planned(t, gate, gate_model.passage(direction, "qr", qr, "granted")))

    def _visitor_cars(self, base: float, rng: random.Random, out: list[Planned]) -> None:
        cams = self.layout.plate_cameras
        for _ in range(poisson(rng, VISITOR_CARS_PER_COURTYARD * max(1, len(self.layout.courtyards)))):
            plate, color = random_plate(rng) if rng.random() < 0.25 else local_plate(rng)
            arrive = base + clock_uniform(rng, 8, 21)
            self._plate(rng.choice(cams), arrive, plate, color, "in", rng, out)
            self._plate(
                rng.choice(cams), arrive + rng.uniform(20, 240) * MINUTE, plate, color, "out", rng, out
            )
