"""The local, no-credential tier: Whisper speech-to-text (`stt`, faster-whisper) and Piper or
espeak-ng text-to-speech (`tts`). Their engines are imported only inside this package.
"""
