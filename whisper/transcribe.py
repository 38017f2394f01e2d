"""`python -m whisper.transcribe MODEL AUDIO...`: the transcription command
line (whisper/transcription/cli.py)."""

import sys

from whisper.transcription.cli import main

if __name__ == "__main__":
    sys.exit(main())
