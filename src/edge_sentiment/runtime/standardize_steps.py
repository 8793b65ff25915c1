"""A custom TextVectorization `standardize`, as recorded steps run in pure Python with TensorFlow's exact rules.

The exporter traces the user's function to its TensorFlow graph (export/standardize.py) and records it
here only when every op has an exact Python equivalent:

- "lower": tf.strings.lower without an encoding (StringLower): ASCII A-Z only.
- "strip": tf.strings.strip (StringStrip): ASCII whitespace at both ends.
- "regex_replace": tf.strings.regex_replace (StaticRegexReplace / RegexReplace) with a constant RE2
  pattern and rewrite; replace_global as recorded.

RE2 is read by a small parser that accepts only the RE2 syntax it can spell for Python's `re` with the
same meaning (\\d, \\s, \\w, \\b and POSIX classes are ASCII in RE2; `$` is the end of the text; a `{`
that is not a repetition is a literal) and refuses the rest by name (\\p classes, \\C, flags, octal,
backreferences). Python's `re` backtracks where RE2 does not, so patterns that could take more than
linear time on a hostile text are refused too: repetition applies to one character (or a fixed group),
at most 100 times, and an unbounded one only at the end of the pattern. Global replacement follows
RE2::GlobalReplace, which does not allow an empty match right after the previous match (Python does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TokenizerError

__all__ = ["STEPS_VERSION", "Steps", "translate_re2", "Re2Pattern"]

STEPS_VERSION = 1
ASCII_SPACE = " \t\n\v\f\r"  # absl::StripAsciiWhitespace, StringStrip's characters
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MAX_STEPS = 32
_REPLACE_KEYS = {"op", "pattern", "rewrite", "replace_global"}
_MAX_PATTERN = 2000
_MAX_REPEAT = 100
_MAX_BRANCHES = 1000  # backtracking choices per start position
_UNI = 0x10FFFF

_Ranges = list[tuple[int, int]]


def _r(*spans: str) -> _Ranges:
    return [(ord(s[0]), ord(s[-1])) for s in spans]


_DIGIT = _r("09")
_SPACE = _r("\t\n", "\f\r", " ")  # RE2's \s: [\t\n\f\r ] (no \v)
_WORD = _r("09", "AZ", "__", "az")
_POSIX: dict[str, _Ranges] = {
    "alnum": _r("09", "AZ", "az"),
    "alpha": _r("AZ", "az"),
    "ascii": [(0, 0x7F)],
    "blank": _r("\t", " "),
    "cntrl": [(0, 0x1F), (0x7F, 0x7F)],
    "digit": _DIGIT,
    "graph": _r("!~"),
    "lower": _r("az"),
    "print": _r(" ~"),
    "punct": _r("!/", ":@", "[`", "{~"),
    "space": _r("\t\r", " "),
    "upper": _r("AZ"),
    "word": _WORD,
    "xdigit": _r("09", "AF", "af"),
}
_CONTROL = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}


def _complement(ranges: _Ranges) -> _Ranges:
    out, low = [], 0
    for a, b in sorted(ranges):
        if a > low:
            out.append((low, a - 1))
        low = max(low, b + 1)
    if low <= _UNI:
        out.append((low, _UNI))
    return out


@dataclass
class _Node:
    kind: str  # "set", "dot", "assert", "group", "alt", "seq", "repeat"
    ranges: _Ranges | None = None
    negated: bool = False
    text: str = ""  # an assertion's Python spelling
    items: list["_Node"] | None = None
    capture: bool = False
    low: int = 0
    high: int | None = 0
    lazy: bool = False


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p, self.i, self.groups = pattern, 0, 0

    def fail(self, what: str) -> TokenizerError:
        return TokenizerError(f"the RE2 pattern {self.p!r} cannot be reproduced exactly in Python: {what}")

    def peek(self, k: int = 0) -> str:
        return self.p[self.i + k] if self.i + k < len(self.p) else ""

    def alt(self) -> _Node:
        seqs = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            seqs.append(self.seq())
        return seqs[0] if len(seqs) == 1 else _Node("alt", items=seqs)

    def seq(self) -> _Node:
        items: list[_Node] = []
        while self.peek() and self.peek() not in "|)":
            atom = self.atom()
            rep = self.repeat()
            if rep is not None:
                if atom.kind == "seq":  # RE2 repeats the last character of \Q...\E only
                    raise self.fail("a repetition after \\Q...\\E")
                if atom.kind == "assert":
                    raise self.fail(f"a repetition of the assertion {atom.text!r}")
                low, high = rep
                lazy = self.peek() == "?"
                self.i += lazy
                atom = _Node("repeat", items=[atom], low=low, high=high, lazy=lazy)
                if self.repeat(probe=True) is not None:
                    raise self.fail("a repetition of a repetition (RE2 refuses it)")
            items.append(atom)
        return _Node("seq", items=items)

    def repeat(self, probe: bool = False) -> tuple[int, int | None] | None:
        c = self.peek()
        if c in ("*", "+", "?") and c:
            if not probe:
                self.i += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if c == "{":
            m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, self.i)
            if m is None:
                return None  # RE2 reads a { that starts no repetition as itself
            low = int(m.group(1))
            high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            if high is not None and high < low or max(low, high or 0) > 1000:
                raise self.fail(f"the repetition {m.group(0)} (RE2 refuses it)")
            if not probe:
                self.i = m.end()
            return low, high
        return None

    def atom(self) -> _Node:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            capture = True
            if self.peek() == "?":
                if self.p.startswith("?:", self.i):
                    self.i += 2
                    capture = False
                elif self.p.startswith("?P<", self.i) or self.p.startswith("?<", self.i):
                    end = self.p.find(">", self.i)
                    if end == -1:
                        raise self.fail("an unterminated group name")
                    self.i = end + 1
                else:
                    raise self.fail("a flag group '(?' (flags change RE2's and Python's matching differently)")
            if capture:
                self.groups += 1
            inner = self.alt()
            if self.peek() != ")":
                raise self.fail("a missing ')'")
            self.i += 1
            return _Node("group", items=[inner], capture=capture)
        if c == ")":
            raise self.fail("an unmatched ')'")
        if c == "[":
            return self.char_class()
        if c == ".":
            return _Node("dot")
        if c == "^":
            return _Node("assert", text="\\A")
        if c == "$":
            return _Node("assert", text="\\Z")  # RE2's $ without (?m) is the end of the text only
        if c in "*+?" or (c == "{" and self.repeat_at(self.i - 1)):
            raise self.fail(f"a repetition {c!r} with nothing to repeat")
        if c == "\\":
            return self.escape(in_class=False)
        return _Node("set", ranges=[(ord(c), ord(c))])

    def repeat_at(self, i: int) -> bool:
        return re.compile(r"\{[0-9]+(,[0-9]*)?\}").match(self.p, i) is not None

    def escape(self, in_class: bool) -> _Node:
        if self.i >= len(self.p):
            raise self.fail("a trailing backslash")
        c = self.p[self.i]
        self.i += 1
        if c in "dDsSwW":
            base = {"d": _DIGIT, "s": _SPACE, "w": _WORD}[c.lower()]
            return _Node("set", ranges=base if c.islower() else _complement(base))
        if c in _CONTROL:
            return _Node("set", ranges=[(_CONTROL[c], _CONTROL[c])])
        if c == "x":
            m = re.compile(r"\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2})").match(self.p, self.i)
            if m is None or int(m.group(1) or m.group(2), 16) > _UNI:
                raise self.fail("a bad \\x escape")
            self.i = m.end()
            code = int(m.group(1) or m.group(2), 16)
            return _Node("set", ranges=[(code, code)])
        if not in_class and c == "B":
            raise self.fail("\\B (RE2 matches it inside one UTF-8 character, and TensorFlow then returns broken UTF-8)")
        if not in_class and c in "Azb":
            return _Node("assert", text={"A": "\\A", "z": "\\Z", "b": "\\b"}[c])
        if not in_class and c == "Q":
            end = self.p.find("\\E", self.i)
            literal = self.p[self.i : len(self.p) if end == -1 else end]
            self.i = len(self.p) if end == -1 else end + 2
            return _Node("seq", items=[_Node("set", ranges=[(ord(ch), ord(ch))]) for ch in literal])
        if c in "pP":
            raise self.fail(
                f"\\{c} (RE2's Unicode classes follow RE2's Unicode tables, which Python's re does not have; "
                "spell the characters out, e.g. [[:punct:]] for ASCII punctuation)"
            )
        if c == "C":
            raise self.fail("\\C (one byte of UTF-8: Python's re matches characters)")
        if c < "\x80" and not c.isalnum() and c != "_":
            return _Node("set", ranges=[(ord(c), ord(c))])
        raise self.fail(f"the escape \\{c}")

    def char_class(self) -> _Node:
        negated = self.peek() == "^"
        self.i += negated
        ranges: _Ranges = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise self.fail("a missing ']'")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if self.p.startswith("[:", self.i):
                end = self.p.find(":]", self.i + 2)
                name = self.p[self.i + 2 : end] if end != -1 else ""
                base = _POSIX.get(name.lstrip("^"))
                if base is None:
                    raise self.fail(f"the class {self.p[self.i : end + 2]!r}")
                ranges += _complement(base) if name.startswith("^") else base
                self.i = end + 2
                continue
            low = self.class_char()
            if isinstance(low, list):
                ranges += low
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                high = self.class_char()
                if isinstance(high, list) or high < low:
                    raise self.fail("a bad range in a character class")
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        return _Node("set", ranges=ranges, negated=negated)

    def class_char(self) -> int | _Ranges:
        c = self.p[self.i]
        self.i += 1
        if c != "\\":
            return ord(c)
        node = self.escape(in_class=True)
        assert node.ranges is not None
        if len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1] and self.p[self.i - 1] not in "dDsSwW":
            return node.ranges[0][0]
        return node.ranges


def _emit(node: _Node) -> str:
    if node.kind == "set":
        assert node.ranges is not None
        if len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1] and not node.negated:
            return re.escape(chr(node.ranges[0][0]))
        body = "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in sorted(node.ranges))
        return f"[{'^' if node.negated else ''}{body}]" if body else ("[\\s\\S]" if node.negated else "(?!)")
    if node.kind == "dot":
        return "."
    if node.kind == "assert":
        return node.text
    items = node.items or []
    if node.kind == "seq":
        return "".join(_emit(i) for i in items)
    if node.kind == "alt":
        return "|".join(_emit(i) for i in items)
    if node.kind == "group":
        return ("(" if node.capture else "(?:") + _emit(items[0]) + ")"
    inner = _emit(items[0])
    if items[0].kind == "seq":
        inner = f"(?:{inner})"
    high = "" if node.high is None else str(node.high)
    return f"{inner}{{{node.low},{high}}}{'?' if node.lazy else ''}"


def _fixed(node: _Node) -> bool:
    """Whether a node matches a fixed sequence of single characters (no choice, no repetition)."""
    if node.kind in ("set", "dot", "assert"):
        return True
    if node.kind in ("seq", "group"):
        return all(_fixed(i) for i in node.items or [])
    return False


def _check_cost(node: _Node, pattern: str, last: bool) -> int:
    """Backtracking choices per start position; refuses what could be slow in Python on a hostile text."""
    items = node.items or []
    if node.kind in ("set", "dot", "assert"):
        return 1
    if node.kind == "seq":
        cost = 1
        for k, item in enumerate(items):
            cost *= _check_cost(item, pattern, last and k == len(items) - 1)
        return cost
    if node.kind == "alt":
        return sum(_check_cost(i, pattern, last) for i in items)
    if node.kind == "group":
        return _check_cost(items[0], pattern, last)
    if not _fixed(items[0]):
        raise TokenizerError(
            f"the RE2 pattern {pattern!r} repeats a group holding a choice or a repetition; Python's re "
            "backtracks where RE2 does not, so such a pattern could take exponential time on a hostile text"
        )
    if node.high is None:
        if not last:
            raise TokenizerError(
                f"the RE2 pattern {pattern!r} has an unbounded repetition (*, + or {{n,}}) before its end; Python's "
                "re backtracks where RE2 does not, so it could take quadratic time on a hostile text. An unbounded "
                f"repetition is accepted only at the end of the pattern; a bounded one ({{0,{_MAX_REPEAT}}}) anywhere"
            )
        return 1
    if node.high > _MAX_REPEAT:
        raise TokenizerError(f"the RE2 pattern {pattern!r} repeats up to {node.high} times; edge-sentiment accepts {_MAX_REPEAT}")
    return node.high - node.low + 1


def _lengths(node: _Node) -> tuple[int, int | None]:
    """(shortest, longest or None) match of a node, in characters."""
    items = node.items or []
    if node.kind in ("set", "dot"):
        return 1, 1
    if node.kind == "assert":
        return 0, 0
    if node.kind == "group":
        return _lengths(items[0])
    parts = [_lengths(i) for i in items]
    if node.kind == "seq":
        highs = [h for _, h in parts]
        return sum(lo for lo, _ in parts), None if None in highs else sum(h for h in highs if h is not None)
    if node.kind == "alt":
        highs = [h for _, h in parts]
        return min(lo for lo, _ in parts), None if None in highs else max(h for h in highs if h is not None)
    low, high = parts[0]
    return node.low * low, None if node.high is None or high is None else node.high * high


@dataclass(frozen=True)
class Re2Pattern:
    """An RE2 pattern as Python reads it: the same matches, leftmost-first."""

    re2: str
    python: str
    groups: int
    min_len: int
    compiled: Any
    chars: str | None = None  # the characters it matches, when it is one plain class of a few: a translate does


def translate_re2(pattern: str) -> Re2Pattern:
    """Python's spelling of an RE2 pattern; TokenizerError naming what has none (or could be slow)."""
    if not isinstance(pattern, str) or len(pattern) > _MAX_PATTERN:
        raise TokenizerError(f"a regex_replace pattern is a string of at most {_MAX_PATTERN} characters")
    parser = _Parser(pattern)
    tree = parser.alt()
    if parser.i != len(pattern):
        raise parser.fail("an unmatched ')'")
    if _check_cost(tree, pattern, last=True) > _MAX_BRANCHES:
        raise TokenizerError(f"the RE2 pattern {pattern!r} has more than {_MAX_BRANCHES} ways to match at one place")
    python = _emit(tree)
    try:
        compiled = re.compile(python, re.ASCII)  # ASCII: \b and \B as RE2's; every class is spelled out
    except re.error as exc:  # pragma: no cover - the emitter writes only what re reads
        raise parser.fail(f"Python's re refuses its translation ({exc})") from None
    chars = None
    items = tree.items or []
    single = items[0] if tree.kind == "seq" and len(items) == 1 else tree
    if single.kind == "set" and not single.negated and single.ranges and sum(b - a + 1 for a, b in single.ranges) <= 1024:
        chars = "".join(chr(c) for a, b in single.ranges for c in range(a, b + 1))
    return Re2Pattern(pattern, python, parser.groups, _lengths(tree)[0], compiled, chars)


def _rewrite_pieces(rewrite: str, groups: int) -> list[str | int]:
    """RE2's rewrite string: \\0-\\9 name groups, \\\\ is a backslash, nothing else follows a backslash."""
    pieces: list[str | int] = []
    i = 0
    literal = []
    while i < len(rewrite):
        c = rewrite[i]
        if c != "\\":
            literal.append(c)
            i += 1
            continue
        nxt = rewrite[i + 1 : i + 2]
        if nxt == "\\":
            literal.append("\\")
        elif nxt.isdigit() and nxt.isascii():
            if int(nxt) > groups:
                raise TokenizerError(f"the rewrite {rewrite!r} names group {nxt}; the pattern has {groups}")
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(int(nxt))
        else:
            raise TokenizerError(f"the rewrite {rewrite!r} has a backslash RE2 refuses (\\{nxt})")
        i += 2
    if literal:
        pieces.append("".join(literal))
    return pieces


class _Replace:
    def __init__(self, pattern: str, rewrite: str, replace_global: bool) -> None:
        if not isinstance(rewrite, str) or len(rewrite) > _MAX_PATTERN:
            raise TokenizerError(f"a regex_replace rewrite is a string of at most {_MAX_PATTERN} characters")
        if not isinstance(replace_global, bool):
            raise TokenizerError("a regex_replace step's 'replace_global' is true or false")
        self.pattern = translate_re2(pattern)
        self.rewrite, self.replace_global = rewrite, replace_global
        self.pieces = _rewrite_pieces(rewrite, self.pattern.groups)
        # Python's template for re.sub: the same text, every group a \g<k>
        self.template = "".join(p.replace("\\", "\\\\") if isinstance(p, str) else f"\\g<{p}>" for p in self.pieces)
        # one character class replaced by text everywhere: each character on its own, so str.translate is the same
        chars, literal = self.pattern.chars, all(isinstance(p, str) for p in self.pieces)
        self.table = (
            str.maketrans(dict.fromkeys(chars, "".join(map(str, self.pieces)))) if chars and literal and replace_global else None
        )

    def _expand(self, m: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in self.pieces)

    def __call__(self, text: str) -> str:
        rx = self.pattern.compiled
        if not self.replace_global:  # RE2::Replace: the first match only
            m = rx.search(text)
            return text if m is None else text[: m.start()] + self._expand(m) + text[m.end() :]
        if self.table is not None:
            return text.translate(self.table)
        if self.pattern.min_len > 0:  # no empty match: re.sub and RE2::GlobalReplace agree
            return str(rx.sub(self.template, text))
        return self._global_with_empty(text)

    def _global_with_empty(self, text: str) -> str:
        """RE2::GlobalReplace: an empty match where the previous match ended is skipped by one character."""
        rx, out, p, end, last, count = self.pattern.compiled, [], 0, len(text), -1, 0
        while p <= end:
            m = rx.search(text, p)
            if m is None:
                break
            s, e = m.span()
            if p < s:
                out.append(text[p:s])
            if s == e and s == last:
                out.append(text[p : p + 1])
                p += 1
                continue
            out.append(self._expand(m))
            p = last = e
            count += 1
        if not count:
            return text
        out.append(text[p:])
        return "".join(out)


class Steps:
    """A custom standardize as recorded steps; `apply` gives what the traced TensorFlow function gives."""

    def __init__(self, steps: Sequence[Mapping[str, Any]], source: str = "") -> None:
        if not isinstance(steps, Sequence) or isinstance(steps, str) or len(steps) > _MAX_STEPS:
            raise TokenizerError(f"custom standardize steps are a list of at most {_MAX_STEPS} steps")
        if not isinstance(source, str):
            raise TokenizerError("custom standardize 'source' is the function's name, a string")
        self.source = source
        self.steps: list[dict[str, Any]] = []
        self._run: list[Any] = []
        for k, step in enumerate(steps):
            op = step.get("op") if isinstance(step, Mapping) else None
            if op == "lower" and set(step) == {"op"}:
                self._run.append(lambda t: t.translate(_LOWER))
                self.steps.append({"op": "lower"})
            elif op == "strip" and set(step) == {"op"}:
                self._run.append(lambda t: t.strip(ASCII_SPACE))
                self.steps.append({"op": "strip"})
            elif (
                op == "regex_replace"
                and isinstance(step, Mapping)
                and set(step) == {"op", "pattern", "rewrite", "replace_global"}
            ):
                self._run.append(_Replace(step["pattern"], step["rewrite"], step["replace_global"]))
                self.steps.append(dict(step))
            else:
                raise TokenizerError(
                    f"custom standardize step {k} ({step!r}) is not one this edge-sentiment runs: "
                    "{'op': 'lower'}, {'op': 'strip'} or {'op': 'regex_replace', 'pattern', 'rewrite', 'replace_global'}"
                )

    def apply(self, text: str) -> str:
        for run in self._run:
            text = run(text)
        return text

    def describe(self) -> str:
        shown = []
        for s in self.steps:
            if s["op"] == "regex_replace":
                shown.append(
                    f"regex_replace({s['pattern']!r} -> {s['rewrite']!r}{'' if s['replace_global'] else ', first only'})"
                )
            else:
                shown.append(s["op"])
        return " -> ".join(shown) or "nothing (the text as it is)"

    def to_dict(self) -> dict[str, Any]:
        return {"version": STEPS_VERSION, "source": self.source, "steps": [dict(s) for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Any) -> "Steps":
        if not isinstance(data, Mapping) or not isinstance(data.get("version"), int) or isinstance(data.get("version"), bool):
            raise TokenizerError("tokenizer field 'custom_standardize' must be {'version': 1, 'source': ..., 'steps': [...]}")
        if data["version"] > STEPS_VERSION:
            raise TokenizerError(
                f"custom standardize steps version {data['version']} is newer than this edge-sentiment reads "
                f"({STEPS_VERSION}); upgrade edge-sentiment"
            )
        if data["version"] != STEPS_VERSION:
            raise TokenizerError(f"custom standardize steps version {data['version']} is not one edge-sentiment wrote")
        steps = data.get("steps")
        if not isinstance(steps, list):
            raise TokenizerError("tokenizer field 'custom_standardize' has no list of 'steps'")
        return cls(steps, data.get("source", ""))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Steps) and self.steps == other.steps

    __hash__ = None  # type: ignore[assignment]
