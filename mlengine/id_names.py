"""What a column's name says about it: an identifier ("id", "uuid", "rownames", "caseid",
"idcode"), or an entity's name ("patient", "customer_no"). One rule for the loader (an
`id` kind) and the EDA (identifiers, repeated entities)."""

from __future__ import annotations

import re

ID_TOKENS = {
    "id",
    "ids",
    "uuid",
    "guid",
    "uid",
    "pk",
    "key",
    "index",
    "idx",
    "identifier",
    "rownames",  # R's row names, a column once the frame is written to CSV
    "rowname",
    "unnamed",  # pandas' "Unnamed: 0": an index written by to_csv
}
ENTITY_WORDS = {
    "patient",
    "customer",
    "user",
    "account",
    "client",
    "subject",
    "member",
    "session",
    "device",
    "household",
    "player",
    "person",
    "visitor",
    "driver",
    "case",
    "individual",
    "respondent",
    "participant",
    "firm",
    "student",
}
# an id word written into one token: caseid, personid, pid, hhid, idcode, idnum
_ID_PREFIXES = {"p", "h", "hh", "c", "s", "i", "f", "obs", "rec"}
_ID_SUFFIXES = {"code", "no", "nr", "num", "number"}


def name_tokens(name: str) -> list[str]:
    """Lower-case words of a name: "customerID" -> ["customer", "id"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def says_identifier(name: str) -> bool:
    """The name says identifier: an id word, alone or joined ("caseid", "idcode")."""
    return any(t in ID_TOKENS or _joined_id(t) for t in name_tokens(name))


def says_entity(name: str) -> bool:
    """The name says identifier, or names an entity ("patient", "Subject", "customerID")."""
    tokens = name_tokens(name)
    return bool(tokens) and (
        says_identifier(name)
        or tokens[-1] in ENTITY_WORDS
        or name.endswith("ID")
        or name.endswith("Id")
    )


def _joined_id(token: str) -> bool:
    if token.endswith("id") and (token[:-2] in ENTITY_WORDS or token[:-2] in _ID_PREFIXES):
        return True
    return token.startswith("id") and token[2:] in _ID_SUFFIXES
