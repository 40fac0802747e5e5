"""A fleet: many media workers and operator consoles sharing one Redis (issue 17).

With `VOICECONSOLE_FLEET_URL` unset nothing here runs: one process is the embedded default. Set,
the roles are one binary's:
- `voiceconsole serve` is a media worker: it beats a heartbeat, routes new calls to the least
  loaded healthy worker, publishes every call event to the fleet's stream, keeps a snapshot of
  each live call, and runs operator actions that arrive on its own control stream;
- `voiceconsole` (the console) reads the snapshots, follows the stream, and sends actions to the
  owning worker;
- `voiceconsole recorder` stores the stream into the SQLite history through a consumer group.

Redis is the shared engine (its streams, consumer groups and keys with TTLs); the keys are named
in keys.py and the stream's entries are read and written only by wire.py.
"""
