"""The one-line runtime status under every screen."""

from console.tui.widgets.status_bar import render_status


def test_the_status_bar_counts_errors_given_as_a_dict_or_as_flat_counters() -> None:
    line = render_status(
        {
            "public_url": None,
            "local_url": "http://127.0.0.1:8765",
            "tunnel": "off",
            "webhook": "failed",
            "tiers": {"stt": "local (whisper)", "llm": "scripted", "tts": "local (piper)"},
            "protocol_errors": 3,
            "store_failures": 0,
            "errors": {"provider": 1},
        }
    ).plain
    assert line.startswith("http://127.0.0.1:8765  tunnel off  webhook failed")
    assert "stt local (whisper) llm scripted tts local (piper)" in line
    assert line.endswith("errors provider 1, protocol 3")


async def test_the_runtime_status_names_each_limits_refusals_and_an_unsigned_public_server(
    tmp_path,
) -> None:
    from console.config import load_settings
    from console.runtime import Runtime

    runtime = Runtime(load_settings(_env_file=None, data_db=tmp_path / "c.db",
                                    public_url="https://x.example", public_allow_unsigned=True))
    runtime.server.refuse("start-deadline")
    runtime.server.refuse("start-deadline")
    runtime.server.refuse("inbound-flood")
    line = render_status(runtime.status()).plain
    assert line.startswith("⚠ PUBLIC, SIGNATURES OFF https://x.example")
    assert "refused start-deadline 2" in line and "refused inbound-flood 1" in line
