"""Which live call needs a person: a risk score per call, with its reasons in words.

Pure: imports only `console.events` (and no ring), so the rules are table-tested and any face can
use them. `score.assess` turns a call's signals into a score; `tracker.RiskTracker` folds one
call's events into those signals, one event at a time (no rescans); `words` holds the text rules
(a near miss of an emergency phrase, angry words, a question asked again, an apology).
"""

from console.risk.score import Assessment, Reason, RiskWeights, Signals, assess
from console.risk.tracker import ProfileCues, RiskTracker

__all__ = ["Assessment", "ProfileCues", "Reason", "RiskTracker", "RiskWeights", "Signals", "assess"]
