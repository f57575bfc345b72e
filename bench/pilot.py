"""One checked request before each read scenario's load: the pilot.

MLflow answers some searches on PostgreSQL in tens of seconds to minutes (`tags.team = 'x'`:
10–30 s of PostgreSQL CPU per request at 1,000 models). Eight clients each sending a warm-up
and a timed request would then keep the machine busy for an hour, and time out. So every
server first gets one request of the scenario, alone; a server that needs more than
`SLOW_REQUEST_S` for it is measured by that request only (the report says so), and one that
does not answer within `PILOT_TIMEOUT_S` is reported without figures, its database queries
cancelled. Both servers get the pilot, so the requests they see stay the same.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from httpraw import Connection
from loadgen import Meter, Probe

SLOW_REQUEST_S = 3.0
PILOT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PilotOutcome:
    seconds: float  # NaN: no answer within PILOT_TIMEOUT_S
    reading: Any  # the meter's stop() over the one request
    problem: str | None  # a wrong answer

    @property
    def answered(self) -> bool:
        return not math.isnan(self.seconds)

    @property
    def slow(self) -> bool:
        return not self.answered or self.seconds > SLOW_REQUEST_S


def fly(host: str, port: int, probe: Probe, meter: Meter) -> PilotOutcome:
    conn = Connection(host, port, timeout_s=PILOT_TIMEOUT_S)
    meter.prepare()
    meter.start()
    started = time.perf_counter()
    try:
        status, body = conn.request(probe.raw)
    except OSError:  # socket timeout included
        return PilotOutcome(math.nan, meter.stop(), None)
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    reading = meter.stop()
    if probe.expect is not None:
        problem = probe.expect.problem(status, body)
    else:
        problem = None if status == 200 else f"HTTP {status}: {body[:300]!r}"
    return PilotOutcome(seconds, reading, problem)


def note(outcome: PilotOutcome) -> str:
    if not outcome.answered:
        return (f"not measured: one request got no answer within {PILOT_TIMEOUT_S:.0f} s "
                "(its database queries were cancelled)")
    return (f"measured by one request only: it took {outcome.seconds:.1f} s; answers slower "
            f"than {SLOW_REQUEST_S:.0f} s skip the load run")
