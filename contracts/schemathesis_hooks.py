"""schemathesis hooks shipped with the kit: lifecycles walked in stateful runs.

    python -m mockserver.schemathesis_config > schemathesis.toml
    SCHEMATHESIS_HOOKS=mockserver.contracts.schemathesis_hooks st \\
        --config-file schemathesis.toml run http://127.0.0.1:8000/camb/apis/openapi.json \\
        --phases=stateful ...

(the kit's settings: without them schemathesis counts the mock's welcome of any key as a
failure, and waits for ever on an event stream whose job never ends).

Importing this module registers, globally, an `after_call` hook (`WALK.after_call`) that moves
the mock's virtual clock while polled jobs run, so the links from a create to its status reach
every state, and counts the lifecycle transitions seen. At exit the coverage per API goes to
standard error, and as JSON to the file `MOCKSERVER_LIFECYCLE_REPORT` names, if set. The mock is
reached at the origin of the calls (its admin API at `/__mock__`), or at `MOCKSERVER_URL`.

A clock move is also when Neural Draft delivers webhooks: a stateful run of it posts each event
to the endpoints schemathesis registered, at hosts it made up. Run it where outgoing traffic is
blocked (docs/ci-recipe.md, "Outgoing requests").
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

import schemathesis

from mockserver.contracts.lifecycle_walk import LifecycleWalk

REPORT_ENV = "MOCKSERVER_LIFECYCLE_REPORT"
WALK = LifecycleWalk()


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """After every call of the run: the walk's step (see LifecycleWalk.after_call)."""
    WALK.after_call(context, case, response)


@atexit.register
def report() -> None:
    """Where the run took the lifecycles: a line per API, and the JSON file if asked for."""
    text = WALK.summary()
    if text:
        print(f"lifecycle coverage:\n{text}", file=sys.stderr)
    path = os.environ.get(REPORT_ENV)
    if path:
        try:
            with open(path, "w") as handle:
                json.dump(WALK.coverage(), handle, indent=2)
        except OSError as exc:  # at exit a traceback would bury the run's own summary
            print(
                f"lifecycle coverage: cannot write {REPORT_ENV}={path}: {exc.strerror}",
                file=sys.stderr,
            )
