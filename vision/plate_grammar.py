"""The mainland plate format, and CTC decoding constrained to it.

A recogniser's greedy reading drops or invents characters and confuses the
province character with look-alikes (`第` for `皖`); but the plate format is
known: province, issuing-office letter, then five characters (the last may be
挂/学/警/港/澳), or six for the green new-energy plates. Decoding keeps the
recogniser's per-frame scores and finds the best CTC path whose text has that
shape (Viterbi over the frames, one state per character position), so a wrong
province is replaced by the best-scoring province *at that place*, not by a
guess, and a text the format cannot produce is never returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
OFFICE = "ABCDEFGHJKLMNPQRSTUVWXYZ"
"""The issuing-office letter: plates use neither I nor O (they read as 1 and 0)."""
ALNUM = "0123456789" + OFFICE
DIGITS = "0123456789"
ENDINGS = "挂学警港澳"
_TAIL = "0-9A-HJ-NP-Z"
PLATE_RE = re.compile(
    rf"^[{PROVINCES}][A-HJ-NP-Z](?:[{_TAIL}]{{5}}|[{_TAIL}]{{4}}[{ENDINGS}]"
    rf"|[A-HJK][{_TAIL}]\d{{4}}|\d{{5}}[A-HJK])$")
"""Ordinary (blue, yellow, white, black): 7 characters. New energy (green): 8, either a letter
A-K (D/A/B/C/E electric, F/G/H/J/K hybrid) then a character and 4 digits (small vehicles),
or 5 digits then such a letter (large vehicles)."""

ORDINARY = (PROVINCES, OFFICE, ALNUM, ALNUM, ALNUM, ALNUM, ALNUM + ENDINGS)
NEW_ENERGY = (PROVINCES, OFFICE, "ABCDEFGHJK" + DIGITS, ALNUM, DIGITS, DIGITS, DIGITS, DIGITS + "ABCDEFGHJK")
"""Characters allowed at each position; PLATE_RE checks the combination afterwards (the two new-energy forms)."""
GRAMMARS = (ORDINARY, NEW_ENERGY)


def is_plate_text(text: str) -> bool:
    """True when ``text`` has the shape of a mainland Chinese plate number."""
    return bool(PLATE_RE.match(text))


@dataclass(frozen=True)
class Decoded:
    text: str
    char_probs: tuple[float, ...]
    """Each character's best frame probability: the weakest one says how sure the reading is."""
    log_prob: float
    """The best path's log-probability over all frames (comparable between the two grammars)."""

    @property
    def weakest(self) -> float:
        return min(self.char_probs) if self.char_probs else 0.0


_NEG = -1e18


def _table(chars: list[str], grammar: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Class ids allowed at each position (positions × slots, padded) and which slots are real."""
    index = {c: i for i, c in enumerate(chars) if c}
    ids = [[index[c] for c in pos if c in index] for pos in grammar]
    width = max(len(i) for i in ids)
    table = np.zeros((len(ids), width), dtype=np.int64)
    valid = np.zeros((len(ids), width), dtype=bool)
    for k, row in enumerate(ids):
        table[k, : len(row)] = row
        valid[k, : len(row)] = True
    return table, valid


_tables: dict[tuple[int, tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = {}


def decode(probs: np.ndarray, chars: list[str], grammar: tuple[str, ...], blank: int = 0) -> Decoded | None:
    """The most probable CTC path (frames × classes ``probs``) whose text fits ``grammar``.

    States: "emitting position k as slot c" and "blank after position k" (Viterbi,
    vectorised over positions and slots). A position's character may last several
    frames; two equal characters in a row need a blank between them, as CTC
    requires. None when there are fewer frames than characters.
    """
    frames, k_len = probs.shape[0], len(grammar)
    if frames < k_len:
        return None
    key = (id(chars), grammar)
    if key not in _tables:
        _tables[key] = _table(chars, grammar)
    table, valid = _tables[key]
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    scores = np.where(valid, logp[:, table], _NEG)  # frames × positions × slots
    blanks = logp[:, blank]
    rows = np.arange(k_len)
    emit = np.full(table.shape, _NEG)
    emit[0] = scores[0, 0]
    after = np.full(k_len + 1, _NEG)
    after[0] = blanks[0]
    choices = np.zeros((frames, *table.shape), dtype=np.int8)
    tops = np.zeros((frames, k_len, 2), dtype=np.int64)  # per frame: best and second slot of each position
    from_emit = np.zeros((frames, k_len + 1), dtype=bool)
    for t in range(1, frames):
        best = emit.argmax(1)
        best_val = emit[rows, best]
        masked = emit.copy()
        masked[rows, best] = _NEG
        second = masked.argmax(1)
        second_val = masked[rows, second]
        tops[t, :, 0], tops[t, :, 1] = best, second
        same = table[1:] == table[rows[:-1], best[:-1]][:, None]
        direct = np.full(table.shape, _NEG)
        direct[1:] = np.where(same, second_val[:-1, None], best_val[:-1, None])
        options = np.stack([emit, np.broadcast_to(after[:k_len, None], table.shape), direct])
        choice = options.argmax(0)
        choices[t] = choice
        emit = np.take_along_axis(options, choice[None], 0)[0] + scores[t]
        stay_after = after[1:]
        take = best_val > stay_after
        from_emit[t, 1:] = take
        after = np.concatenate(([after[0]], np.where(take, best_val, stay_after))) + blanks[t]
    last = int(emit[-1].argmax())
    total = max(float(after[-1]), float(emit[-1, last]))
    if total <= _NEG / 2:
        return None
    slots = [-1] * k_len
    char_probs = [0.0] * k_len
    kind, k, slot = ("after", k_len, -1) if after[-1] >= emit[-1, last] else ("emit", k_len - 1, last)
    for t in range(frames - 1, -1, -1):
        if kind == "emit":
            slots[k] = slot
            char_probs[k] = max(char_probs[k], float(probs[t, table[k, slot]]))
            choice = int(choices[t, k, slot])
            if choice == 1:
                kind = "after"
            elif choice == 2:
                prev_best, prev_second = tops[t, k - 1]
                same = table[k, slot] == table[k - 1, prev_best]
                k, slot = k - 1, int(prev_second if same else prev_best)
        elif from_emit[t, k]:
            kind, k, slot = "emit", k - 1, int(tops[t, k - 1, 0])
    if min(slots) < 0:
        return None
    return Decoded("".join(chars[table[k, s]] for k, s in enumerate(slots)), tuple(char_probs), total)


def greedy(probs: np.ndarray, chars: list[str], blank: int = 0) -> Decoded:
    """Plain best-class-per-frame CTC decoding (separators dropped): the fast path when it already fits the format."""
    best = probs.argmax(1)
    text: list[str] = []
    confs: list[float] = []
    prev = blank
    for t, c in enumerate(best):
        char = chars[c] if c < len(chars) else ""
        if c != blank and char and char not in _SEPARATORS:
            if c != prev:
                text.append(char)
                confs.append(float(probs[t, c]))
            else:  # the same character held over several frames: its best frame counts
                confs[-1] = max(confs[-1], float(probs[t, c]))
        prev = c if char not in _SEPARATORS else blank
    return Decoded("".join(text), tuple(confs), float(np.log(np.clip(probs.max(1), 1e-12, 1)).sum()))


_SEPARATORS = set(" ·•.:：-_|")


def decode_plate(probs: np.ndarray, chars: list[str]) -> Decoded | None:
    """The best reading under either grammar that passes the full format check.

    When the greedy reading already fits, it is the best path of the ordinary grammar
    (or the new-energy one) and the search is skipped: most plates cost no more than that.
    """
    fast = greedy(probs, chars)
    if is_plate_text(fast.text):
        return fast
    found = [d for g in GRAMMARS if (d := decode(probs, chars, g)) is not None and is_plate_text(d.text)]
    return max(found, key=lambda d: d.log_prob) if found else None
