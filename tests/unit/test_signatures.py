"""X-Twilio-Signature: the verified vectors of PROTOCOLS.md 1.4, and the URLs we sign/validate."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from console.config import PublicAddress, load_settings
from console.simulate.caller import CallerOptions, SimulatedCaller

WEBHOOK_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
WEBHOOK_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_the_documented_voice_webhook_vector_signs_and_validates():
    validator = RequestValidator("12345")
    assert (
        validator.compute_signature(WEBHOOK_URL, WEBHOOK_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert validator.validate(WEBHOOK_URL, WEBHOOK_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_the_documented_media_upgrade_vector_signs_the_wss_url_with_no_params():
    validator = RequestValidator("12345")
    signature = validator.compute_signature("wss://abc.ngrok.app/media", {})
    assert signature == "SC0vMSftXWgOUsZ7oNCJyi8VizU="


def test_a_changed_param_or_url_fails_validation():
    validator = RequestValidator("12345")
    tampered = {**WEBHOOK_PARAMS, "To": "+18005550000"}
    assert not validator.validate(WEBHOOK_URL, tampered, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not validator.validate("http://127.0.0.1:8765/media", {}, "SC0vMSftXWgOUsZ7oNCJyi8VizU=")


def test_the_stream_url_behind_a_tunnel_is_the_public_wss_url_twilio_signs():
    settings = load_settings(public_url="https://abc.ngrok.app/", _env_file=None)
    address = PublicAddress.of(settings)
    assert address.stream_url("127.0.0.1:8765") == "wss://abc.ngrok.app/media"
    address.url = "https://tunnel.ngrok.app"  # the tunnel opened: what Twilio signs follows it
    assert address.stream_url("127.0.0.1:8765") == "wss://tunnel.ngrok.app/media"


def test_the_simulated_caller_signs_its_upgrade_like_twilio():
    options = CallerOptions(
        url="ws://127.0.0.1:8765/media", auth_token="12345", signed_url="wss://abc.ngrok.app/media"
    )
    headers = SimulatedCaller(options).signature_headers()
    assert headers == {"X-Twilio-Signature": "SC0vMSftXWgOUsZ7oNCJyi8VizU="}


def test_the_caller_signs_the_dialled_url_as_wss_when_no_public_url_is_given():
    options = CallerOptions(url="ws://127.0.0.1:8765/media", auth_token="12345")
    assert options.signed() == "wss://127.0.0.1:8765/media"
    assert SimulatedCaller(CallerOptions(url="ws://h/media")).signature_headers() == {}
