"""Words of a question: tokens, a light stemmer, and the vocabulary the offline generator knows.

Everything here is plain data and small functions, so the parser reads as a list of rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "signed up" and "sign-up" are one word in column names (signup_date); so are a few other phrasal verbs.
_COMPOUNDS = {
    ("signed", "up"): "signup", ("sign", "up"): "signup", ("signs", "up"): "signup",
    ("logged", "in"): "login", ("log", "in"): "login", ("checked", "out"): "checkout",
    ("check", "out"): "checkout", ("e", "mail"): "email",
}  # fmt: skip
_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman", "staff": "staff"}


@dataclass(frozen=True)
class Token:
    text: str  # as written (numbers keep their digits, values their case)
    word: str  # lower case
    stem: str
    number: float | None = None
    punctuation: bool = False
    alt: str = ""  # a second reading of a past tense or plural: "closed" → "close", "purchases" → "purchase"


_FILE_SUFFIX = re.compile(r"\.(csv|tsv|xlsx|xlsm|xls|parquet|pq|jsonl|ndjson|json)\b", re.IGNORECASE)
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?%?|[A-Za-z][A-Za-z0-9']*|[(),%$€]")


def tokenize(text: str) -> list[Token]:
    """Words, numbers (1,200 and 12.5 and 10%) and the punctuation the parser uses: ( ) , % $ €."""
    text = _FILE_SUFFIX.sub("", text)  # "sales.csv" is the dataset sales
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # camelCase names → two words
    raw = _TOKEN.findall(spaced.replace("_", " "))
    tokens: list[Token] = []
    for piece in raw:
        if piece in "(),%$€":
            tokens.append(Token(piece, piece, piece, punctuation=True))
            continue
        if piece[0].isdigit():
            percent = piece.endswith("%")
            digits = piece.rstrip("%").replace(",", "")
            tokens.append(Token(digits, digits, digits, number=float(digits)))
            if percent:
                tokens.append(Token("%", "%", "%", punctuation=True))
            continue
        word = piece.lower().replace("'", "")
        if word.endswith("s") and piece.lower().endswith("'s"):
            word = word[:-1]  # "what's" → "what", "customer's" → "customer"
        if re.fullmatch(r"[A-Z]{2,}s", piece):
            tokens.append(Token(piece, word, word[:-1]))  # an acronym's plural: SKUs, KPIs, IDs
            continue
        alt = word[:-1] if word.endswith(("ed", "es")) and len(word) > 4 else ""
        tokens.append(Token(piece, word, stem(word), alt=alt))
    return _join_compounds(tokens)


def _join_compounds(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        pair = tuple(t.word for t in tokens[index : index + 2])
        if len(pair) == 2 and pair in _COMPOUNDS:
            word = _COMPOUNDS[pair]
            out.append(Token(word, word, word))
            index += 2
            continue
        out.append(tokens[index])
        index += 1
    return out


def words_of(name: str) -> list[str]:
    """A column or file name as lower-case words: unit_cost_eur → unit, cost, eur; NPSScore → nps, score."""
    return [t.word for t in tokenize(name) if not t.punctuation and t.number is None] or [name.lower()]


def stem(word: str) -> str:
    """Plural and past-tense endings off: tickets → ticket, categories → category, churned → churn."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    if word.endswith("ed") and len(word) > 5 and not word.endswith("eed"):
        base = word[:-2]
        return base[:-1] if len(base) > 3 and base[-1] == base[-2] else base  # stopped → stop
    return word


def related(a: str, b: str) -> bool:
    """Same word family by a shared beginning: resolve / resolution, restock / restocked, sign / signup."""
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) < 5:
        return False
    common = 0
    for x, y in zip(shorter, longer, strict=False):
        if x != y:
            break
        common += 1
    return common >= 5 and common >= 0.7 * len(shorter)


# Words that carry no meaning for the analysis on their own. Anything else in a question must be understood.
STOPWORDS = frozenset(
    """a an the of in on at to is are was were be been being am do does did done what what whats which
    who whom whose how me my our ours us we i you your please show shows showing give tell display get
    find calculate compute work out let see can could would should shall there here it its this that
    these those them they their theirs with from as and or than then also just still so all any some
    overall data dataset table file have has had having got get getting make made came come comes took
    take takes bought buy sold sell placed place spent spend something anything everything thing things
    know want need like look looking kind sort about into onto up down out within among amongst each
    whole entire currently current today's now please thanks thank hi hello hey ok okay one ones
    both either neither same again else yes actually really very much many use using used try sort
    sorted may might load loaded print printed produce create generate analyse analyze analysis look
    bring brings brought earn earns earned generates generated selling sells""".split()
)

# Nouns that name a dataset's rows in general.
ROW_NOUNS = frozenset({"row", "record", "entry", "line", "observation", "item"})

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "fifty": 50, "hundred": 100,
}  # fmt: skip

MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9,
    "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]  # fmt: skip

# Units written at the end of column names (revenue_eur, discount_pct, resolution_hours) and how
# questions say them. The unit is not needed to name the column ("unit cost" is unit_cost_eur).
UNITS = {
    "eur": "eur", "euro": "eur", "euros": "eur", "€": "eur", "usd": "usd", "dollar": "usd",
    "dollars": "usd", "$": "usd", "gbp": "gbp", "pound": "gbp", "pounds": "gbp", "chf": "chf",
    "pct": "pct", "percent": "pct", "percentage": "pct", "%": "pct", "perc": "pct",
    "hours": "hours", "hour": "hours", "hrs": "hours", "hr": "hours", "h": "hours",
    "days": "days", "day": "days", "minutes": "minutes", "minute": "minutes", "mins": "minutes",
    "min": "minutes", "seconds": "seconds", "secs": "seconds", "sec": "seconds", "months": "months",
    "month": "months", "weeks": "weeks", "week": "weeks", "years": "years", "year": "years", "yrs": "years",
    "kg": "kg", "kilograms": "kg", "km": "km", "kilometres": "km", "kilometers": "km",
}  # fmt: skip
TIME_UNITS = frozenset({"hours", "days", "minutes", "seconds", "weeks", "months", "years"})
MONEY_UNITS = frozenset({"eur", "usd", "gbp", "chf"})

# Words that mean the same in column names and everyday questions, each mapped to one spelling (both the
# column's words and the question's go through `canonical`): "qty" and "quantity", "sales" and "revenue".
SYNONYMS = {
    "sale": "revenue", "turnover": "revenue", "income": "revenue", "client": "customer",
    "qty": "quantity", "csat": "satisfaction", "staff": "employee", "duration": "time",
    "min": "minimum", "max": "maximum", "avg": "average", "num": "number", "nbr": "number",
    "amt": "amount", "pct": "percent", "dept": "department", "cust": "customer", "emp": "employee",
    "prod": "product", "cat": "category",
}  # fmt: skip


def canonical(word_stem: str) -> str:
    return SYNONYMS.get(word_stem, word_stem)


# Superlatives that say which kind of column they rank by: "the heaviest part", "the cheapest item".
# (direction, words of the column's name or unit)
SUPERLATIVE_MEASURES = {
    "heaviest": ("max", {"weight", "kg", "mass"}), "lightest": ("min", {"weight", "kg", "mass"}),
    "cheapest": ("min", {"price", "cost"}), "priciest": ("max", {"price", "cost"}),
    "oldest": ("max", {"age"}), "youngest": ("min", {"age"}),
}  # fmt: skip
# Comparatives that say which kind of column they compare: "older than 60" is about an age column.
COMPARATIVE_MEASURES = {
    "older than": {"age"}, "younger than": {"age"}, "heavier than": {"weight", "kg", "mass"},
    "lighter than": {"weight", "kg", "mass"}, "cheaper than": {"price", "cost"},
    "pricier than": {"price", "cost"}, "more expensive than": {"price", "cost"},
    "longer than": {"hours", "days", "minutes", "duration"},
    "shorter than": {"hours", "days", "minutes", "duration"},
}  # fmt: skip
# Prefixes that negate a yes/no column's name: "inactive" is active = no.
NEGATING_PREFIXES = ("non", "in", "un")

# Truth values of a yes/no column, as its text values may spell them.
TRUE_VALUES = ("yes", "y", "true", "t", "1")
FALSE_VALUES = ("no", "n", "false", "f", "0")
