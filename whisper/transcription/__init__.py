"""Transcription of whole recordings with a Whisper model.

- `long_form_transcriber`: `LongFormTranscriber`, OpenAI's long-form method
  (30 s windows, temperature fallback, no-speech detection) and a batched
  variant.
- `speech_activity`: `SpeechActivity`, where the sound is, to trim segments.
- `transcript`: `Segment` and `Transcript`, and their TXT, JSON, SRT and
  WebVTT forms.
- `cli`: the command line, `python -m whisper.transcribe`.
"""
