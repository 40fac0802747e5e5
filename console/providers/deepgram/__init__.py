"""Deepgram, the cloud tier for speech: live STT (`stt.DeepgramSTT`, Nova; `flux.DeepgramFluxSTT`,
Flux) and Aura TTS (`tts.DeepgramTTS`). The Deepgram SDK is imported only inside this package
(an import contract in pyproject.toml).

Empty on purpose: importing one provider loads only what it needs.
"""
