"""`voiceconsole calls play SID` and `voiceconsole calls export SID --wav|--json|--csv`.

    voiceconsole calls play SID [--speed 1|1.5|2] [--from SECONDS]
    voiceconsole calls export SID (--wav | --json | --csv) [--out PATH]

`play` blocks until the recording ends (Ctrl-C stops it) and fails, saying why, where there is
no sound card; `export` needs none. Exports are 0600 and never overwrite: by default a new
`<SID>-<time>.<ext>` in the exports folder beside the database (as the console's), or `--out`:
an existing folder, or a new file there. Numpy and the replay code load only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.safe_text import printable

if TYPE_CHECKING:
    from console.audio_io import AudioDevices
    from console.storage.records import CallDetail

SPEEDS = {"1": 1.0, "1.5": 1.5, "2": 2.0}
KINDS = ("wav", "json", "csv")


class Refused(Exception):
    """What to tell the operator on stderr, exit status 1."""


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    play = actions.add_parser("play", help="play a call's recording on this machine's speaker")
    play.add_argument("sid", metavar="SID", help="the Twilio call SID (CA...)")
    play.add_argument("--speed", choices=SPEEDS, default="1", help="1, 1.5 or 2 (same pitch)")
    play.add_argument("--from", dest="start", type=float, default=0.0, metavar="SECONDS",
                      help="start this many seconds into the call")  # fmt: skip
    play.set_defaults(func=play_command)
    export = actions.add_parser("export", help="copy a call's recording, or its record, to a file")
    export.add_argument("sid", metavar="SID", help="the Twilio call SID (CA...)")
    kinds = export.add_mutually_exclusive_group(required=True)
    for kind in KINDS:
        kinds.add_argument(f"--{kind}", dest="kind", action="store_const", const=kind,
                           help=f"write {'the recording' if kind == 'wav' else 'the call'} "
                                f"as {kind.upper()}")  # fmt: skip
    export.add_argument("--out", type=Path, metavar="PATH",
                        help="a folder, or a new file (default: the exports folder)")  # fmt: skip
    export.set_defaults(func=export_command)


def audio_devices() -> AudioDevices:
    """The sound card (tests replace this with fakes, as the console's `audio=` does)."""
    from console.audio_io import AudioDevices

    return AudioDevices()


def play_command(args: argparse.Namespace) -> int:
    try:
        return _play(args)
    except Refused as refusal:
        print(printable(f"voiceconsole calls play: {refusal}"), file=sys.stderr)
        return 1


def export_command(args: argparse.Namespace) -> int:
    try:
        print(printable(f"exported to {_export(args)}"))
    except Refused as refusal:
        print(printable(f"voiceconsole calls export: {refusal}"), file=sys.stderr)
        return 1
    return 0


# -- play -------------------------------------------------------------------------------------


def _play(args: argparse.Namespace) -> int:
    from console.replay.engine import ReplayEngine, ReplayOutput

    samples = _samples(_recording(args.sid))
    devices = audio_devices()
    reason = devices.why_unavailable("output")
    if reason is not None:
        raise Refused(f"cannot play here: {reason}. "
                      f"The recording still exports: voiceconsole calls export {args.sid} --wav")
    engine = ReplayEngine(samples)
    engine.set_speed(SPEEDS[args.speed])
    if not 0 <= args.start < engine.length:
        raise Refused(f"--from {args.start:g}: the recording is {engine.length:.1f} s long")
    engine.seek(args.start)
    print(printable(f"playing {args.sid} from {_clock(engine.position)} of "
                    f"{_clock(engine.length)} at {args.speed}x (Ctrl-C stops)"))  # fmt: skip
    return _play_through(engine, ReplayOutput(engine, devices.open_output))


def _play_through(engine: Any, output: Any) -> int:
    engine.play()
    try:
        output.start()
        while not engine.ended.wait(0.2):  # a timeout, so that Ctrl-C is seen at once
            pass
    except KeyboardInterrupt:
        engine.pause()
        print(f"\nstopped at {_clock(engine.position)}")
        return 130  # as a shell reports a command ended by SIGINT: 128 + 2
    finally:
        output.close()  # drains what the device still holds: the last words are heard
    print("done")
    return 0


def _samples(path: Path) -> Any:
    from console.replay.recording import RecordingUnavailable, read_recording

    try:
        return read_recording(path)
    except RecordingUnavailable as error:
        raise Refused(str(error)) from None


def _recording(sid: str) -> Path:
    from console.replay.recording import RecordingUnavailable, recording_of

    try:
        return recording_of(_call(sid))
    except RecordingUnavailable as error:
        raise Refused(str(error)) from None


def _call(sid: str) -> CallDetail:
    from console.commands.call_store import store_path, with_repository

    db_path = store_path()
    call = with_repository(db_path, lambda repo: repo.get_call(sid)) if db_path.exists() else None
    if call is None:
        raise Refused(f"no call {sid} in {db_path}")
    return call


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


# -- export -----------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> Path:
    from console.replay.recording import RecordingUnavailable, export_recording

    try:
        if args.kind == "wav":
            source = _recording(args.sid)
            return export_recording(source, _destination(args), private_parent=args.out is None)
        return _export_record(args)
    except RecordingUnavailable as error:
        raise Refused(str(error)) from None


def _export_record(args: argparse.Namespace) -> Path:
    from console.commands.call_store import store_path, with_repository

    _call(args.sid)  # an unknown SID is refused, not exported as an empty file
    path = _destination(args)
    write = lambda repo: getattr(repo, f"export_calls_{args.kind}")(path, [args.sid])  # noqa: E731
    with_repository(store_path(), write)
    return path


def _destination(args: argparse.Namespace) -> Path:
    """A new file for the export: in the exports folder, in the folder `--out` names, or
    `--out` itself when that file does not exist yet and ends in the right suffix."""
    from console.commands.call_store import store_path
    from console.tui.records import export_stem

    stem, suffix = export_stem(args.sid), f".{args.kind}"
    out: Path | None = args.out
    if out is None:
        out = store_path().parent / "exports"
        return out.resolve() / _name(stem, suffix)
    if out.is_dir():
        return out.resolve() / _name(stem, suffix)
    if out.exists() or out.is_symlink():
        raise Refused(f"{out} already exists: not overwritten")
    if out.suffix.lower() != suffix:
        raise Refused(f"{out} does not end in {suffix}")
    if not out.parent.is_dir():
        raise Refused(f"no folder {out.parent}")
    return out


def _name(stem: str, suffix: str) -> str:
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
