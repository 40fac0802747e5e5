"""Drills (issue 15): scripted simulated calls placed into the running console, and a score of
how the operator reacted to each (README, "Drills")."""
