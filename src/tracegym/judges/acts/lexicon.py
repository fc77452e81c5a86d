"""The act judge's word lists: cue words per slot, the phrases that state each act, and the patterns that mark a
reply as broken, a list, or addressed to the grader. Data, plus the two functions that read a slot name into cue
words; what the judge does with them is in `reply.py` and `scoring.py`.
"""

from __future__ import annotations

import re

VALUE_ACTS = ("INFORM", "OFFER", "CONFIRM", "INFORM_COUNT")
CUE_ACTS = ("REQUEST", "NOTIFY_SUCCESS", "NOTIFY_FAILURE", "REQ_MORE", "GOODBYE", "OFFER_INTENT")


# Words that tell a slot apart in a question; the slot name's own words are added to these.
SLOT_WORD_CUES: dict[str, tuple[str, ...]] = {
    "location": ("city", "where", "location", "area", "branch", "place", "neighborhood", "town", "metropolis"),
    "city": ("city", "where", "area", "location", "place", "metropolis", "town"),
    "area": ("area", "where", "city", "location", "place"),
    "destination": ("destination", "where", "going", "headed", "ending", "arriv", "visit", "city", "place"),
    "origin": ("leaving", "departing", "where", "origin", "starting", "departure", "city", "airport", "depart"),
    "from": ("leaving", "departing", "where", "starting", "departure", "origin"),
    "to": ("going", "destination", "where", "headed", "ending", "arriv"),
    "date": ("date", "day", "when"),
    "time": ("time", "when", "timing"),
    "number": ("how many", "number"),
    "seats": ("people", "seats", "party", "guests", "how many", "amount", "quantity"),
    "tickets": ("tickets", "how many"),
    "adults": ("people", "adults", "how many"),
    "passengers": ("passengers", "people", "how many", "tickets"),
    "riders": ("riders", "people", "passengers", "how many"),
    "rooms": ("rooms", "how many"),
    "size": ("people", "party", "group", "how many"),
    "restaurant": ("restaurant", "where", "place"),
    "movie": ("movie", "film"),
    "title": ("movie", "title", "film"),
    "cuisine": ("cuisine", "food", "kind"),
    "category": ("category", "kind", "type", "sort", "cuisine", "food", "eat"),
    "branch": ("branch",),
    "starting": ("starting",),
    "subcategory": ("kind", "type"),
    "departure": ("depart", "leav", "when"),
    "leaving": ("leav", "depart", "when"),
    "pickup": ("pick", "collect"),
    "dropoff": ("drop", "return", "how long", "until"),
    "return": ("return", "back", "how long", "until"),
    "check": ("check", "when"),
    "appointment": ("appointment", "when"),
    "journey": ("journey", "trip", "travel"),
    "show": ("show", "when"),
    "event": ("event", "which"),
    "theater": ("theater", "theatre", "cinema"),
    "property": ("property", "apartment", "place"),
    "attraction": ("attraction", "place"),
    "car": ("car", "vehicle"),
    "ride": ("ride", "type"),
    "seating": ("seat", "class"),
    "fare": ("fare", "class"),
    "flight": ("flight", "class"),
    "playback": ("device", "where", "play"),
    "street": ("address", "where"),
    "address": ("address", "where"),
    "place": ("place", "where"),
    "venue": ("venue", "where"),
    "dentist": ("dentist",),
    "therapist": ("therapist",),
    "album": ("album",),
    "track": ("song", "track"),
    "director": ("director", "directed"),
    "directed": ("director", "directed"),
    "actors": ("actor", "starring", "star"),
    "starring": ("actor", "starring", "star"),
    "stay": ("how long", "nights", "days", "duration"),
    "group": ("people", "how many", "group"),
    "travelers": ("people", "travel", "how many", "tickets", "passengers"),
    "origin_city": ("from", "leaving", "departing"),
    "genre": ("genre", "kind", "type", "sort", "category"),
    "price": ("price", "budget", "cost", "expensive", "cheap"),
    "type": ("type", "kind", "sort", "specializ", "specialty"),
    "class": ("class",),
    "artist": ("artist", "singer", "band", "who"),
    "song": ("song", "track"),
    "doctor": ("doctor",),
    "stylist": ("stylist", "salon"),
    "hotel": ("hotel", "place"),
    "payment": ("payment", "pay", "card"),
    "account": ("account",),
    "amount": ("amount", "how much"),
    "recipient": ("who", "whom", "recipient", "send"),
    "receiver": ("who", "receiver", "send"),
    "contact": ("who", "contact"),
    "device": ("device", "where", "play"),
    "alarm": ("alarm",),
    "airlines": ("airline",),
    "bags": ("bags", "luggage"),
    "visit": ("visit", "when", "date"),
    "days": ("how many days", "how long", "duration"),
}
BOOLEAN_SLOT_CUES: dict[str, tuple[str, ...]] = {
    "has_wifi": ("wifi", "wi fi", "wi-fi", "internet"),
    "pets_allowed": ("pet", "dog", "cat", "animal"),
    "pets_welcome": ("pet", "dog", "cat", "animal"),
    "smoking_allowed": ("smok",),
    "furnished": ("furnish",),
    "shared_ride": ("shar", "pool"),
    "free_entry": ("free", "entr", "admission"),
    "arrives_next_day": ("next day", "following day", "overnight"),
    "good_for_kids": ("kid", "child", "famil"),
    "has_vegetarian_options": ("vegetarian", "veggie", "vegan"),
    "has_seating_outdoors": ("outdoor", "outside", "open air", "patio", "terrace"),
    "has_live_music": ("live music", "music", "band"),
    "serves_alcohol": ("alcohol", "drink", "liquor", "bar", "wine", "beer"),
    "refundable": ("refund",),
    "is_unisex": ("unisex", "men and women", "both gender"),
    "has_laundry_service": ("laundry",),
    "in_unit_laundry": ("laundry", "washer"),
    "has_garage": ("garage", "parking"),
    "is_nonstop": ("nonstop", "non stop", "non-stop", "direct", "stop", "layover"),
    "is_redeye": ("red eye", "red-eye", "redeye", "overnight"),
    "add_insurance": ("insur", "protection"),
    "trip_protection": ("insur", "protection"),
    "private_visibility": ("privat", "visib", "public"),
    "subtitles": ("subtitle", "caption"),
    "offers_cosmetic_services": ("cosmetic",),
}
# Phrases that state a boolean slot's value with no cue word and negation to weigh ("a non smoking hotel").
BOOLEAN_PHRASES: dict[str, dict[bool, tuple[str, ...]]] = {
    "smoking_allowed": {False: ("non smoking", "nonsmoking", "smoke free")},
    "free_entry": {
        True: (
            "no entrance fee",
            "no entry fee",
            "no admission fee",
            "no fee",
            "no charge",
            "no cost",
            "free of charge",
            "free to",
        )
    },
    "arrives_next_day": {False: ("same day",)},
    "is_nonstop": {True: ("no stops", "zero stops", "no layover")},
}
GENERIC_BOOLEAN_WORDS = {
    "has",
    "is",
    "allowed",
    "offers",
    "serves",
    "welcome",
    "options",
    "service",
    "services",
    "good",
    "for",
    "add",
    "the",
    "of",
    "in",
}
CLAUSE_SPLIT = re.compile(r"[.!?;,]|\bbut\b|\band\b|\bhowever\b|\balthough\b")
SLOT_NAME_STOPWORDS = {"has", "is", "of", "name", "the", "a", "num", "to", "from", "in", "for"}

QUESTION_MARKERS = re.compile(
    r"\b(what|which|when|where|who|how many|how much|how long|do you|would you|could you|can you|"
    r"any (?:particular|preference|specific)|prefer\w*|let me know|please (?:tell|provide|specify|give)|"
    r"tell me|looking for|in mind)\b"
)
REQ_MORE_CUES = re.compile(
    r"\b(anything|something|else|further|assist\w*|help\w*|any other|more (?:help|requests?|questions?|for you)|"
    r"need me|do more|other (?:requests?|questions?|needs?|information)|need any|need more|be all|still need|another|"
    r"what (?:may|can|more|other|now)|up for more|next|do then|get now)\b"
)
GOODBYE_CUES = re.compile(
    r"\b(bye|goodbye|farewell|good day|enjoy|take care|have (?:a|an) (?:\w+ ){0,2}(?:day|evening|night|afternoon|"
    r"morning|time|one|weekend|trip|meal|stay|flight|journey|visit|show|movie|ride)|have fun|you'?re welcome|"
    r"welcome|see you|cheers|glad|happy to|pleasure|thank\w*|appreciate\w*|great day|have yourself|"
    r"rest of your|take it easy|be here|day|evening|night|pleased|hope|sure thing|help|let me know|anything|"
    r"find me|need me|here when|be happy|wonderful|alert you|later)\b"
)
SUCCESS_CUES = re.compile(
    r"\b(success\w*|booked|reserved|confirmed|done|made|set up|is set|all set|set for|purchased|bought|scheduled|"
    r"placed|transferred|sent|added|created|complete\w*|playing|started|now play\w*|has been|have been|"
    r"went through|got it|good to go|secured|ready|finished|on (?:its|the|their) way|processed|initiated|"
    r"arranged|submitted|registered|rented|enjoy|successful|worked|is (?:now )?(?:on|coming|ordered)|fixed|"
    r"have a (?:good|great|nice) time|you'?ll|will be|is on|all good|sorted|taken care|in place|set (?:it )?up|"
    r"managed|i'?ve|confirmation|arriv\w*|have fun|shortly|receive|on the way)\b"
)
# Failure words that only a failure states; "sorry" alone also comes with a negative boolean on a success.
STRONG_FAILURE_CUES = re.compile(
    r"\b(couldn'?t|could not|unable|failed|fail|not able|unsuccessful|not successful|wasn'?t able|was not able|"
    r"didn'?t go through|did not go through|went wrong|isn'?t possible|is not possible|not possible|"
    r"can'?t (?:book|reserve|make|buy|complete|process|do|set|schedule|transfer|get)|cannot (?:book|reserve|make|"
    r"buy|complete|process|do|set|schedule|transfer|get)|no luck)\b"
)
FAILURE_CUES = re.compile(
    STRONG_FAILURE_CUES.pattern[:-3] + r"|sorry|unfortunately|regret|apolog\w*|sadly|afraid|not|no|n'?t)\b"
)
OFFER_INTENT_CUES = re.compile(
    r"\b(would you like|do you want|you want|you like|you wish|you need|wanna|shall i|should i|want me to|"
    r"like me to|would you care|care to|interested|how about|what about|may i|can i|like to|want to|wish to|"
    r"proceed|go ahead|will i|ready to|you would)\b"
)
NEGATION = re.compile(r"\b(not|no|n't|never|without|nor|neither|isn'?t|doesn'?t|don'?t|aren'?t|won'?t|cannot|can'?t)\b")
NEGATION_SUFFIX = re.compile(r"n't\b")
GRADER_ADDRESSING = re.compile(
    r"(ignore (?:all |the |any )?(?:previous|prior|above|earlier)|previous instructions|system prompt|"
    r"\bgrader\b|\bjudge\b|\bevaluator\b|\bscore\b|\bscoring\b|\breward\b|\b\d+(?:\.\d+)?\s*/\s*10\b|"
    r"out of 10\b|\brate this\b|\bi rate\b|full marks|perfect (?:score|reply|response)|\"\s*score\s*\"|"
    r"\bverdict\b|\brubric\b|as an ai|language model|\{\s*\"|</?\w+>)",
    re.IGNORECASE,
)
REQUEST_PHRASES = re.compile(
    r"\b(please|let me know|tell me|may i (?:know|have|ask|get)|can i (?:know|have|ask|get)|need to know|"
    r"prefer\w*|particular|specific|in mind)\b"
)
INTENT_OFFER = re.compile(
    r"\b(?:like|want|wish|care|ready|need|interested)(?: me)? (?:to|in)\b|\b(?:shall|should|may|can) i\b"
)
WEAK_QUESTION = re.compile(
    r"\b(what|which|when|where|who|whom|how|any|desired|is there|have you|do you have|name the|wish|want|like)\b"
)
# acts-9: which end of a stay a question asks about; "check" alone is a cue of both dates
CHECK_IN = re.compile(r"\bcheck(?:ing|ed)?[- ]?in\b|\barriv")
CHECK_OUT = re.compile(r"\bcheck(?:ing|ed)?[- ]?out\b")
WH_WORDS = re.compile(r"\b(what|which|when|where|who|whom|how many|how much|how long)\b")
REQ_MORE_ONLY = re.compile(r"\b(anything|something) (?:else|more)\b|\bany(?:thing)? other\b|\bfurther\b")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
LIST_CLAUSE_SPLIT = re.compile(r"[.;:!?\n]")
LIST_ITEM_SPLIT = re.compile(r",|\bor\b|\beither\b|\band/or\b")
LABEL_LINE = re.compile(r"^\s*(?:[-*•]\s*)?[\w ()/']{1,40}:\s*\S", re.M)
# A punctuation mark after a space, and a last word no reply ends on (a question may: "help you with?").
STRAY_PUNCTUATION = re.compile(r"(?<=\s)[.,!?;:]")
DANGLING_END = re.compile(r"\b(?:at|the|a|an|and|or|of|in|on|with|from|is|are)(?:\s*[.!,;:])*\s*$", re.IGNORECASE)
# A sentence has one of these; a bare list of values has none.
SENTENCE_WORDS = re.compile(
    r"\b(is|are|was|were|be|been|am|has|have|had|will|would|can|could|shall|should|may|might|do|does|did|"
    r"i|you|we|they|it|there|this|that|please|let|want|like|need|found|book\w*|reserv\w*|play\w*|get|go|how|"
    r"what|which|about|ok|okay|yes|no|sure|bye|goodbye|thanks?|enjoy|send|sorry|here|with|from)\b"
)
WORD = re.compile(r"[a-z0-9']+")
# Words a list item may hold that name no value ("something else", "or more"): such an item is no other candidate.
LIST_FILLER = {
    "else",
    "other",
    "others",
    "another",
    "not",
    "no",
    "anything",
    "something",
    "somewhere",
    "someone",
    "later",
    "now",
    "so",
    "more",
    "less",
    "different",
    "one",
    "the",
    "a",
    "an",
    "any",
    "elsewhere",
    "both",
    "neither",
    "whichever",
    "whatever",
    "fewer",
    "earlier",
    "above",
    "below",
    "over",
    "under",
}
APPROXIMATION = re.compile(r"\bor (?:more|less|so|fewer|later|earlier|above|below|over|under|thereabouts)\b")


def slot_cues(slot: str) -> set[str]:
    """Words a question about `slot` would contain: the slot name's words and their usual synonyms."""
    words = [w for w in slot.lower().split("_") if w and w not in SLOT_NAME_STOPWORDS]
    cues = {w if len(w) <= 5 else w[:5] for w in words} | {w.rstrip("s") for w in words if len(w) > 3}
    if slot.startswith(("to_", "from_")):  # "to_location" is a destination, "from_location" an origin
        cues.update(SLOT_WORD_CUES[slot.split("_")[0]])
    for word in words:
        cues.update(SLOT_WORD_CUES.get(word, ()))
        cues.update(SLOT_WORD_CUES.get(word.rstrip("s"), ()))
    if "number" in slot or slot.startswith("num_"):
        cues.add("how many")
    cues.discard("number") if len(cues) > 1 else None
    return cues


def boolean_cues(slot: str) -> tuple[str, ...]:
    """Word stems that name a boolean slot's property; generic words ("allowed", "has") never count."""
    if slot in BOOLEAN_SLOT_CUES:
        return BOOLEAN_SLOT_CUES[slot]
    words = [w for w in slot.lower().split("_") if w not in GENERIC_BOOLEAN_WORDS and len(w) > 2]
    return tuple(w[:6] for w in words)
