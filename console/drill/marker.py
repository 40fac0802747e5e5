"""How a drill call says it is one: two `<Parameter>`s on its media stream.

Only a simulated caller can add them: on Twilio a stream's parameters are the ones our own TwiML
names (/voice), so a real call is never taken for a drill. Kept free of heavy imports: the runtime
reads it for every call.
"""

from __future__ import annotations

DRILL_PARAMETER = "drill"  # the run's id, e.g. "d-20261205-101200"
SCENARIO_PARAMETER = "drill_scenario"  # the scenario's name, e.g. "chest-pain"
MAX_LENGTH = 64  # an id or a name; anything longer is cut, never trusted whole


def drill_marker(parameters: dict[str, str]) -> tuple[str, str] | None:
    """(drill id, scenario name) when the stream is a drill's, else None."""
    drill = parameters.get(DRILL_PARAMETER, "").strip()[:MAX_LENGTH]
    if not drill:
        return None
    return drill, parameters.get(SCENARIO_PARAMETER, "").strip()[:MAX_LENGTH]
