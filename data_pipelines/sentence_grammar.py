"""`SentenceGrammar`: short everyday English sentences from word lists.

Fourteen sentence patterns (statements, plans, questions, requests, likes,
the weather) are filled from small word lists, with verbs paired to the
things they suit ("cooked some warm soup", "fixed the old bicycle", "sent
the short letter"), so the sentences read as plausible English: 5 to 15
words of common vocabulary, spelled out (no digits or abbreviations), so
that a transcript has one right spelling. The patterns and lists give
millions of distinct sentences.

Drawing is deterministic: the same NumPy `Generator` state gives the same
sentence on every machine.

Example:

```python
import numpy as np
from data_pipelines.sentence_grammar import SentenceGrammar

random = np.random.default_rng(0)
grammar = SentenceGrammar()
[grammar.sentence(random) for _ in range(3)]
# ['David hurried to the park on Monday.',
#  'My brother ate her cold pizza an hour ago.',
#  'How long does it take to get to the river by train?']
```
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Topic:
    """Things and the verbs that go with them."""

    nouns: tuple
    adjectives: tuple
    determiners: tuple
    past_verbs: tuple
    base_verbs: tuple


TOPICS = (
    Topic(
        nouns=(
            "soup",
            "bread",
            "pasta",
            "salad",
            "rice",
            "cake",
            "pie",
            "chicken",
            "fish",
            "cheese",
            "pizza",
            "chocolate",
        ),
        adjectives=(
            "fresh",
            "warm",
            "hot",
            "sweet",
            "homemade",
            "cold",
            "delicious",
            "leftover",
            "simple",
        ),
        determiners=("the", "some", "our", "her", "his", "my"),
        past_verbs=("cooked", "ate", "made", "bought", "ordered", "shared", "tasted", "brought"),
        base_verbs=("cook", "eat", "make", "buy", "order", "share", "try", "bring"),
    ),
    Topic(
        nouns=(
            "umbrella",
            "lamp",
            "chair",
            "bag",
            "jacket",
            "bicycle",
            "camera",
            "guitar",
            "table",
            "clock",
            "blanket",
            "basket",
            "mirror",
            "kettle",
            "radio",
            "suitcase",
            "window",
            "door",
        ),
        adjectives=(
            "old",
            "new",
            "red",
            "blue",
            "green",
            "small",
            "large",
            "heavy",
            "broken",
            "wooden",
            "black",
            "yellow",
            "white",
        ),
        determiners=("the", "a", "my", "our", "her", "his", "that"),
        past_verbs=(
            "found",
            "bought",
            "fixed",
            "moved",
            "sold",
            "borrowed",
            "cleaned",
            "painted",
            "carried",
            "lost",
            "checked",
        ),
        base_verbs=(
            "find",
            "buy",
            "fix",
            "move",
            "sell",
            "borrow",
            "clean",
            "paint",
            "carry",
            "check",
        ),
    ),
    Topic(
        nouns=(
            "letter",
            "report",
            "story",
            "book",
            "poem",
            "message",
            "list",
            "article",
            "recipe",
            "note",
            "email",
            "song",
        ),
        adjectives=(
            "long",
            "short",
            "funny",
            "strange",
            "important",
            "simple",
            "new",
            "old",
            "sad",
            "beautiful",
        ),
        determiners=("the", "a", "my", "our", "her", "his", "that"),
        past_verbs=(
            "wrote",
            "read",
            "finished",
            "sent",
            "printed",
            "checked",
            "copied",
            "found",
            "shared",
        ),
        base_verbs=("write", "read", "finish", "send", "print", "check", "copy", "find", "share"),
    ),
)
PEOPLE = (
    "my brother",
    "my sister",
    "our neighbor",
    "the teacher",
    "her friend",
    "his father",
    "my mother",
    "the doctor",
    "our manager",
    "my uncle",
    "your cousin",
    "the old man",
    "the young woman",
    "the little boy",
    "Anna",
    "David",
    "Maria",
    "James",
    "Sarah",
    "Peter",
    "Lucy",
    "Daniel",
    "Emma",
    "Thomas",
)
PAST_TIMES = (
    "yesterday",
    "last night",
    "last week",
    "this morning",
    "on Monday",
    "after lunch",
    "before dinner",
    "an hour ago",
    "two days ago",
    "on Saturday afternoon",
    "in the evening",
    "last summer",
    "at noon",
)
FUTURE_TIMES = (
    "tomorrow",
    "next week",
    "tonight",
    "on Friday",
    "after lunch",
    "later today",
    "this weekend",
    "in the morning",
    "next month",
    "soon",
    "before the holidays",
    "on Sunday evening",
)
PLACES = (
    "on the table",
    "in the kitchen",
    "by the door",
    "next to the window",
    "under the bed",
    "on the shelf",
    "in the car",
    "near the stairs",
    "in the garage",
    "behind the sofa",
    "in the hall",
    "on the desk",
)
DESTINATIONS = (
    "station",
    "market",
    "library",
    "office",
    "park",
    "beach",
    "hospital",
    "airport",
    "museum",
    "bakery",
    "post office",
    "river",
    "school",
    "bank",
    "city center",
    "swimming pool",
)
OPENING_PLACES = (
    "library",
    "museum",
    "bakery",
    "market",
    "post office",
    "bank",
    "swimming pool",
    "pharmacy",
    "supermarket",
    "gallery",
)
WAYS = ("from here", "by bus", "on foot", "by train", "by car", "from your house")
DAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
TRAVEL_VERBS = ("walked", "drove", "went", "hurried", "cycled", "ran", "came back")
CHORES = (
    "close the windows",
    "turn off the lights",
    "feed the cat",
    "water the plants",
    "lock the door",
    "wash the dishes",
    "take out the trash",
    "charge your phone",
    "pack your bag",
    "call your mother",
    "clean the kitchen",
    "check the oven",
)
EVENTS = (
    "the guests arrive",
    "we leave",
    "it gets dark",
    "the meeting starts",
    "you go to bed",
    "the rain starts",
    "dinner is ready",
    "the train comes",
    "your father gets home",
    "the shop closes",
)
HOBBIES = (
    "read",
    "swim",
    "cook",
    "paint",
    "sing",
    "play the piano",
    "ride a bike",
    "walk in the park",
    "watch old movies",
    "work in the garden",
    "listen to the radio",
    "bake bread",
    "play chess",
    "go fishing",
)
HOBBY_TIMES = (
    "on weekends",
    "in the morning",
    "after work",
    "on rainy days",
    "every evening",
    "in the summer",
    "with friends",
    "before breakfast",
)
QUIET_WEATHER = ("cold", "raining", "snowing", "very windy", "foggy", "freezing")
INDOOR_PLANS = (
    "stayed inside",
    "played cards",
    "made some tea",
    "lit a fire",
    "watched a movie",
    "stayed at home",
    "read by the window",
)
FINE_WEATHER = ("warm", "sunny", "very hot", "bright and clear", "mild")
OUTDOOR_PLANS = (
    "went to the beach",
    "walked to the park",
    "ate outside",
    "went for a long walk",
    "cycled along the river",
    "had a picnic",
)
DOINGS = (
    "arrived late",
    "left early",
    "went home",
    "fell asleep",
    "stayed at home",
    "missed the bus",
    "worked late",
    "felt tired",
    "called the office",
    "forgot the keys",
    "took the train",
)
HIDING_VERBS = ("put", "leave", "keep", "hide", "see")
# "a" becomes "an" before a word that starts with one of these letters; the
# word lists hold no word whose first sound disagrees ("useful", "hour").
VOWELS = "aeiou"


class SentenceGrammar:
    """Draws short English sentences from patterns and word lists."""

    def __init__(self):
        self.patterns = (
            self._did_past,
            self._will_do,
            self._question_did,
            self._we_should,
            self._can_you_put,
            self._where_did_you,
            self._please_before,
            self._likes_to,
            self._weather,
            self._opening_time,
            self._i_think,
            self._travel,
            self._there_is,
            self._how_long,
        )

    def sentence(self, random):
        """One sentence, drawn with `random`, a NumPy `Generator`."""
        pattern = _pick(random, self.patterns)
        text = pattern(random)
        return text[0].upper() + text[1:]

    def _did_past(self, r):
        topic = _pick(r, TOPICS)
        return _words(
            _pick(r, PEOPLE),
            _pick(r, topic.past_verbs),
            _thing(r, topic),
            _pick(r, PAST_TIMES),
            end=".",
        )

    def _will_do(self, r):
        topic = _pick(r, TOPICS)
        return _words(
            _pick(r, PEOPLE),
            "will",
            _pick(r, topic.base_verbs),
            _thing(r, topic),
            _pick(r, FUTURE_TIMES),
            end=".",
        )

    def _question_did(self, r):
        topic = _pick(r, TOPICS)
        return _words(
            "did you",
            _pick(r, topic.base_verbs),
            _thing(r, topic),
            _pick(r, PAST_TIMES),
            end="?",
        )

    def _we_should(self, r):
        topic = _pick(r, TOPICS)
        return _words(
            "we should",
            _pick(r, topic.base_verbs),
            _thing(r, topic),
            _pick(r, FUTURE_TIMES),
            end=".",
        )

    def _can_you_put(self, r):
        return _words("can you put", _thing(r, TOPICS[1]), _pick(r, PLACES), end="?")

    def _where_did_you(self, r):
        topic = _pick(r, TOPICS[1:])
        verb = _pick(r, HIDING_VERBS)
        return _words("where did you", verb, _thing(r, topic), end="?")

    def _please_before(self, r):
        return _words("please", _pick(r, CHORES), "before", _pick(r, EVENTS), end=".")

    def _likes_to(self, r):
        return _words(
            _pick(r, PEOPLE),
            "likes to",
            _pick(r, HOBBIES),
            _pick(r, HOBBY_TIMES),
            end=".",
        )

    def _weather(self, r):
        if r.integers(2):
            weather, plans = QUIET_WEATHER, INDOOR_PLANS
        else:
            weather, plans = FINE_WEATHER, OUTDOOR_PLANS
        return _words(
            "it was",
            _pick(r, weather),
            _pick(r, PAST_TIMES) + ", so we",
            _pick(r, plans),
            end=".",
        )

    def _opening_time(self, r):
        return _words(
            "what time does the",
            _pick(r, OPENING_PLACES),
            "open on",
            _pick(r, DAYS),
            end="?",
        )

    def _i_think(self, r):
        return _words("I think", _pick(r, PEOPLE), _pick(r, DOINGS), _pick(r, PAST_TIMES), end=".")

    def _travel(self, r):
        return _words(
            _pick(r, PEOPLE),
            _pick(r, TRAVEL_VERBS),
            "to the",
            _pick(r, DESTINATIONS),
            _pick(r, PAST_TIMES),
            end=".",
        )

    def _there_is(self, r):
        thing = _thing(r, TOPICS[1], determiners=("a",))
        return _words("there is", thing, _pick(r, PLACES), end=".")

    def _how_long(self, r):
        return _words(
            "how long does it take to get to the",
            _pick(r, DESTINATIONS),
            _pick(r, WAYS),
            end="?",
        )


def _words(*parts, end):
    return " ".join(parts) + end


def _pick(random, items):
    # Indexing, rather than `random.choice`, keeps Python strings.
    return items[int(random.integers(len(items)))]


def _thing(random, topic, determiners=None):
    """A noun phrase of `topic`: a determiner, maybe an adjective, a noun."""
    words = [_pick(random, topic.adjectives)] if random.integers(2) else []
    words.append(_pick(random, topic.nouns))
    determiner = _pick(random, determiners or topic.determiners)
    if determiner == "a" and words[0][0] in VOWELS:
        determiner = "an"
    return " ".join([determiner, *words])
