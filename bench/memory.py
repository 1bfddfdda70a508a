"""Resident memory of a server holding N finished Neural Analog jobs (run as a fresh process).

Jobs are made by the same service code a request goes through (plan, IDs, store), without
the HTTP round trip, so 100,000 of them take seconds instead of minutes.
"""

from __future__ import annotations

import sys

from mockserver import ServerConfig, create_app
from mockserver.engine.artifacts import AudioInfo
from mockserver.engine.ids import new_uuid
from mockserver.engine.jobs import Job
from mockserver.engine.scenarios import Scenario


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def fill(count: int) -> None:
    app = create_app(ServerConfig(clock="manual", store_capacity=count))
    state, service = app.state.mock, app.state.services["neuralanalog"]
    for index in range(count):
        tenant = f"tenant-{index % 100}"
        scenario = Scenario("completed", {}, "default")
        audio_id = new_uuid(state.ids.rng(service.name, tenant))
        data = {
            "audio_id": audio_id,
            "info": AudioInfo(30.0),
            "tone": 440,
            "source": "from_link",
            "name": "https://example.com/track.wav",
        }
        job = Job(
            service.name,
            tenant,
            audio_id,
            "audio",
            state.now(),
            service.plan("audio", scenario, data),
            data,
            scenario.describe(),
        )
        state.store.add(job)
    state.clock.advance(3600)
    assert len(state.store) == count and all(
        j.snapshot(state.now()).terminal for j in state.store.jobs()
    )


if __name__ == "__main__":
    fill(int(sys.argv[1]))
    print(f"{resident_mb():.1f}")
