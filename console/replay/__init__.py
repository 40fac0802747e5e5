"""Replay of stored call recordings: read the WAV, play it at 1x/1.5x/2x on the operator's sound
card, find the transcript turn under the playhead, and copy the recording out as an export.

Face-side code without Textual: the console's call record screen and `voiceconsole calls play`
both use it. File and device work here blocks; async callers run it in threads.
"""
