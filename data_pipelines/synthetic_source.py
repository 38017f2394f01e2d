"""`SyntheticSpeechSource`: the built-in synthetic English speech corpus.

The corpus lets training run anywhere, offline, with no dataset to fetch:
short English sentences spoken by espeak-ng, made on first use and cached.

Sentences: `SentenceGrammar` draws everyday sentences of 5 to 15 words
("Can you put her blue jacket near the stairs?", "It was freezing this
morning, so we read by the window.") from a NumPy generator seeded with
`seed`, skipping repeats. A sentence's split is fixed by a hash of its text
(one sentence in `EVAL_SHARE` is an eval sentence), so the train and eval
splits never share a sentence, whatever the seed or sizes; the first
`num_train` train sentences and the first `num_eval` eval sentences drawn
make the corpus.

Speech: each utterance gets a voice from `voices`, a speaking rate from the
`words_per_minute` range and a base pitch from the `pitch` range, drawn
from the seed and the utterance's split and position. espeak-ng
(`espeakng-loader`, through ctypes) speaks the whole corpus in one fresh
process (see `espeak_speaker`), at 22,050 Hz; the speech is resampled to
16 kHz with `whisper.audio_io.resample` and stored as 16-bit PCM. Examples
carry it as float32 mono at 16 kHz, 1.3 to 4.3 s long (2.4 s on average).
The default voices are American, New York and British (received
pronunciation, Scottish, Lancastrian) English, with male and female
variants, none of which adds random breath noise. OpenAI's whisper tiny.en
transcribes the corpus with a word error rate of about 15 to 20 %: clear
enough to learn from, with room for fine-tuning to show.

Determinism: the same parameters give the same sentences and the same
samples, on every run and every machine with the same espeakng-loader.

Cache: `<cache_dir>/<key>/`, where `key` hashes every parameter (and the
corpus and espeakng-loader versions): `parameters.json`, and per split
`<split>.jsonl` (one line per utterance: id, text, voice, words_per_minute,
pitch, seconds) and `<split>.npz` (`samples`, all utterances' int16 samples
end to end, and `offsets`, where each begins). The directory is written
under a temporary name and renamed, so a reader never sees half a corpus
and concurrent workers that both synthesize keep one result. The default
`cache_dir` is `$XDG_CACHE_HOME/whisper_keras/synthetic` (`~/.cache/...`).
Synthesis is quick: 330 utterances (12 minutes of speech) take about 2 s
on a 2-core machine, and occupy 25 MB of cache.

Example:

```python
from data_pipelines.synthetic_source import SyntheticSpeechSource

train = SyntheticSpeechSource(split="train", num_train=200, num_eval=20, seed=0)
evaluation = SyntheticSpeechSource(split="eval", num_train=200, num_eval=20, seed=0)
example = next(train.examples())
example.text, example.sampling_rate, example.audio.dtype
# ('David hurried to the park on Monday.', 16000, dtype('float32'))
len(train), len(evaluation)  # (200, 20): one corpus, one cache entry
```
"""

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile

import numpy as np

from data_pipelines.espeak_speaker import Utterance
from data_pipelines.espeak_speaker import speak_in_fresh_process
from data_pipelines.sentence_grammar import SentenceGrammar
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import SpeechSource
from data_pipelines.speech_source import round_robin
from whisper import audio_io
from whisper.utils.json_io import write_json

# Bump when the grammar, the voice draws or the audio processing change what
# a parameter set produces, so that old cache entries are not reused.
CORPUS_VERSION = 1
SPLITS = ("train", "eval")
EVAL_SHARE = 8
SAMPLING_RATE = audio_io.WHISPER_SAMPLING_RATE
# The voices whose speech whisper tiny.en transcribes best: word error rates
# of 10 to 23 % on eight sentences each, where Caribbean and West Midlands
# English scored 37 to 39 % (they remain available through `voices`).
DEFAULT_VOICES = (
    "en-us",
    "en-us+m1",
    "en-us+m3",
    "en-us+m4",
    "en-us+m7",
    "en-us+Alex",
    "en+f1",
    "en+f4",
    "en+m3",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-us-nyc",
)
# espeak-ng's limits: speaking rate in words per minute, base pitch 0-100.
WORDS_PER_MINUTE_LIMITS = (80, 450)
PITCH_LIMITS = (0, 100)
# Draws of sentences allowed per sentence wanted before giving up: the
# grammar holds millions, so only absurd corpus sizes reach this.
MAX_DRAWS_PER_SENTENCE = 100


class SyntheticSpeechSource(SpeechSource):
    """One split of the synthetic corpus, synthesized on first use and cached.

    Both splits are made together, so sources for "train" and "eval" with
    the same parameters share one cache entry.

    Args:
        split: "train" or "eval".
        num_train: int. Utterances in the train split.
        num_eval: int. Utterances in the eval split.
        seed: int. Seeds the sentences, voices, rates and pitches.
        voices: sequence of espeak-ng voice names, e.g. "en-us+m3".
        words_per_minute: (low, high) speaking rates, inclusive.
        pitch: (low, high) base pitches, inclusive, 0 to 100.
        cache_dir: str. Where corpora are cached; None for the default.
    """

    def __init__(
        self,
        split="train",
        num_train=256,
        num_eval=32,
        seed=0,
        voices=DEFAULT_VOICES,
        words_per_minute=(140, 185),
        pitch=(35, 65),
        cache_dir=None,
    ):
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; allowed: 'train', 'eval'.")
        self.split = split
        self.name = f"synthetic/{split}"
        self.parameters = {
            "corpus_version": CORPUS_VERSION,
            "espeakng_loader": importlib.metadata.version("espeakng-loader"),
            "sampling_rate": SAMPLING_RATE,
            "num_train": _count("num_train", num_train),
            "num_eval": _count("num_eval", num_eval),
            "seed": _count("seed", seed),
            "voices": _voices(voices),
            "words_per_minute": _range(
                "words_per_minute", words_per_minute, WORDS_PER_MINUTE_LIMITS
            ),
            "pitch": _range("pitch", pitch, PITCH_LIMITS),
        }
        self.cache_dir = os.path.abspath(cache_dir or default_cache_dir())
        self._utterances = None

    @property
    def cache_path(self):
        """The directory holding this corpus once synthesized."""
        return os.path.join(self.cache_dir, cache_key(self.parameters))

    @property
    def num_examples(self):
        return self.parameters[f"num_{self.split}"]

    def prepare(self):
        """Synthesizes and caches the corpus unless it is cached already.

        Returns the cache directory. Calling this once before starting input
        workers spares them synthesizing the same corpus side by side.
        """
        if not os.path.isdir(self.cache_path):
            _write_atomically(self.cache_path, self._synthesize)
        return self.cache_path

    def _examples(self, shard_index, num_shards):
        for line, samples in round_robin(iter(self._load()), shard_index, num_shards):
            yield SpeechExample(
                id=line["id"],
                text=line["text"],
                audio=audio_io.pcm_to_float(samples),
                sampling_rate=SAMPLING_RATE,
            )

    def _load(self):
        """This split's `(jsonl line, int16 samples)`, read once per source."""
        if self._utterances is None:
            directory = self.prepare()
            lines_path = os.path.join(directory, f"{self.split}.jsonl")
            with open(lines_path, encoding="utf-8") as file:
                lines = [json.loads(line) for line in file]
            with np.load(os.path.join(directory, f"{self.split}.npz")) as arrays:
                # Kept as int16, half the memory of the float32 handed out.
                waveforms = np.split(arrays["samples"], arrays["offsets"][1:-1])
            self._utterances = list(zip(lines, waveforms))
        return self._utterances

    def _synthesize(self, directory):
        plans = corpus_plan(self.parameters)
        everything = [plan for split in SPLITS for plan in plans[split]]
        espeak_rate, spoken = speak_in_fresh_process([plan["utterance"] for plan in everything])
        waveforms = iter(_to_pcm16(samples, espeak_rate) for samples in spoken)
        for split in SPLITS:
            _write_split(directory, split, plans[split], waveforms)
        write_json(os.path.join(directory, "parameters.json"), self.parameters)


def corpus_plan(parameters):
    """What each split says and how: `{split: [{"id", "utterance"}, ...]}`."""
    sentences = _split_sentences(
        parameters["seed"], parameters["num_train"], parameters["num_eval"]
    )
    plans = {}
    for split_number, split in enumerate(SPLITS):
        plans[split] = []
        for index, text in enumerate(sentences[split]):
            # Each utterance's voice depends on its seed, split and position
            # only, so a larger corpus keeps the voices of a smaller one.
            random = np.random.default_rng([parameters["seed"], split_number, index])
            voices = parameters["voices"]
            utterance = Utterance(
                text=text,
                voice=voices[int(random.integers(len(voices)))],
                words_per_minute=_draw(random, parameters["words_per_minute"]),
                pitch=_draw(random, parameters["pitch"]),
            )
            example_id = f"synthetic-s{parameters['seed']}-{split}-{index:05d}"
            plans[split].append({"id": example_id, "utterance": utterance})
    return plans


def split_of(sentence):
    """The split of a sentence: "eval" for one in `EVAL_SHARE`, by its text alone."""
    digest = hashlib.sha256(sentence.encode("utf-8")).digest()
    return "eval" if digest[0] % EVAL_SHARE == 0 else "train"


def cache_key(parameters):
    """A short hash of every parameter that shapes the corpus."""
    canonical = json.dumps(parameters, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def default_cache_dir():
    home_cache = os.path.join(os.path.expanduser("~"), ".cache")
    base = os.environ.get("XDG_CACHE_HOME") or home_cache
    return os.path.join(base, "whisper_keras", "synthetic")


def _split_sentences(seed, num_train, num_eval):
    """The first distinct sentences the seed draws, sorted into splits."""
    wanted = {"train": num_train, "eval": num_eval}
    sentences = {split: [] for split in SPLITS}
    seen = set()
    grammar = SentenceGrammar()
    random = np.random.default_rng(seed)
    draws = 0
    while any(len(sentences[split]) < wanted[split] for split in SPLITS):
        if draws == MAX_DRAWS_PER_SENTENCE * (num_train + num_eval):
            raise ValueError(
                f"The sentence grammar gave only {len(sentences['train'])} train "
                f"and {len(sentences['eval'])} eval sentences for "
                f"num_train={num_train}, num_eval={num_eval}; ask for fewer."
            )
        draws += 1
        sentence = grammar.sentence(random)
        split = split_of(sentence)
        if sentence not in seen and len(sentences[split]) < wanted[split]:
            seen.add(sentence)
            sentences[split].append(sentence)
    return sentences


def _write_split(directory, split, plans, waveforms):
    """Writes `<split>.npz` and `<split>.jsonl`, taking waveforms in order."""
    lines, samples = [], []
    for plan in plans:
        waveform = next(waveforms)
        utterance = plan["utterance"]
        samples.append(waveform)
        lines.append(
            {
                "id": plan["id"],
                "text": utterance.text,
                "voice": utterance.voice,
                "words_per_minute": utterance.words_per_minute,
                "pitch": utterance.pitch,
                "seconds": round(len(waveform) / SAMPLING_RATE, 3),
            }
        )
    offsets = np.cumsum([0] + [len(waveform) for waveform in samples])
    np.savez(
        os.path.join(directory, f"{split}.npz"),
        samples=np.concatenate(samples) if samples else np.zeros(0, np.int16),
        offsets=offsets,
    )
    with open(os.path.join(directory, f"{split}.jsonl"), "w", encoding="utf-8") as file:
        file.writelines(json.dumps(line) + "\n" for line in lines)


def _to_pcm16(samples, rate):
    """espeak-ng's int16 samples as int16 at 16 kHz."""
    resampled = audio_io.resample(samples.astype(np.float64), rate, SAMPLING_RATE)
    return np.clip(np.round(resampled), -32768, 32767).astype(np.int16)


def _write_atomically(final_directory, write):
    """Calls `write(directory)` on a temporary directory, then renames it."""
    parent = os.path.dirname(final_directory)
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(final_directory)}-"
    staging = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        write(staging)
        os.rename(staging, final_directory)
    except OSError:
        # Another process renamed its copy of the same corpus first.
        if not os.path.isdir(final_directory):
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _draw(random, low_high):
    """An int in `[low, high]`, both included."""
    low, high = low_high
    return int(random.integers(low, high + 1))


def _count(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{argument}` must be a non-negative int, got {value!r}.")
    return int(value)


def _voices(voices):
    names = [] if isinstance(voices, str) else list(voices or [])
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(
            f"`voices` must be a non-empty list of espeak-ng voice names such "
            f"as 'en-us' or 'en+f4', got {voices!r}."
        )
    return names


def _range(argument, value, limits):
    try:
        low, high = (int(bound) for bound in value)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not limits[0] <= low <= high <= limits[1]:
        raise ValueError(
            f"`{argument}` must be a (low, high) pair of ints with "
            f"{limits[0]} <= low <= high <= {limits[1]}, got {value!r}."
        )
    return [low, high]
