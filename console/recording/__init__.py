"""Per-call stereo recordings true to what the caller heard (issue 14).

Left: the caller, in frame order on the inbound clock. Right: everything sent to the caller,
placed on a model of Twilio's playout (each frame plays in order from when it arrives, queued
behind earlier audio; `clear` drops what has not played), so a barge-in cut is in the file.

- `tracks`: the two channels as pure bookkeeping on the 8 kHz call clock;
- `recorder`: one call's recorder, a MediaSender wrapper plus a tap on caller frames;
- `wavfile`, `writer`: the file, written incrementally by one thread (never the event loop);
- `service`: the runtime's piece (settings, profiles, the flush and retention tasks, events);
- `retention`: the purge of old files.
"""
