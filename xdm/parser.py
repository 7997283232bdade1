"""Text -> xdm nodes: builds the LALR parser once and translates lark errors.

``parse`` reads a virtual file, ``parse_region`` a region expression and
``parse_filter`` the text of a ``@filter.lis`` file. Every failure is an
``XdmSyntaxError`` (or its region flavour) carrying the source, a span and a
message in the user's words; lark exceptions never escape this module.

Speed: lark builds the grammar analysis and the LALR tables; a small driver
(``_Machine``) runs those tables with the same per-state terminal alternations
as lark's contextual lexer and calls the rule methods of
``xdm.transform.Transform`` directly, without making a lark Tree: about 3x faster
than ``Lark.parse`` plus a Transformer. The driver follows lark's tree-shaping
rules exactly (tested against ``parse_slow`` on every case, spans included).
Where it gets stuck it reports the offset, the token and the terminals the
state accepts; ``xdm.friendly`` words that for the user.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from xdm.errors import Span, XdmSyntaxError

if TYPE_CHECKING:
    from lark import Lark, Tree

    from xdm.nodes import FilterExpr, RegionExpr, VirtualFile

__all__ = [
    "get_parser",
    "parse",
    "parse_filter",
    "parse_region",
    "parse_slow",
    "parse_tree",
]

START_RULES = ("start", "region_start", "filter_start")


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The one lark LALR parser (built on first use, then reused)."""
    from lark import Lark

    return Lark.open_from_package(
        "xdm.grammar",
        "xdm.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start=list(START_RULES),
        cache=_cache_file(),  # saved LALR tables: cold start 150 -> 15 ms
    )


def _cache_folder() -> str | None:
    """The user's own cache folder for xdm (None if it cannot be written).

    Not lark's default for its cache (a predictable name in the shared temp
    folder, loaded with pickle)."""
    import os
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    folder = Path(base) / "xdm"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return str(folder)


def _cache_file() -> str | bool:
    """Where lark keeps the analysed grammar, in ``_cache_folder()``.

    lark checks the grammar's hash on load and rebuilds a stale file; without
    a writable cache folder it builds the tables every time (False).
    """
    from lark import __version__ as lark_version

    folder = _cache_folder()
    if folder is None:
        return False
    python = f"{sys.version_info[0]}{sys.version_info[1]}"
    return f"{folder}/grammar-lark{lark_version}-py{python}.cache"


_BLANK = re.compile("[ \t\x0c\r\n]+")  # the grammar's %ignore, as lark gives it


def _picker(
    include: tuple[tuple[int, bool], ...], size: int, *, grow_first: bool = False
) -> Callable[[list[Any]], list[Any]] | None:
    """The children of a rule from its popped symbols, as lark's tree builder does:
    filtered tokens dropped, ``_rule`` children spliced in. None: keep all.

    ``grow_first``: the first symbol is the list this same helper rule built one
    step before (lark's left-recursive ``__x_star`` rules); extend it in place
    instead of copying, so a long list (a 5000-vertex polygon) stays linear."""
    if include == tuple((i, False) for i in range(size)):
        return None
    if grow_first and include[0] == (0, True):
        rest = include[1:]

        def grow(taken: list[Any]) -> list[Any]:
            children: list[Any] = taken[0]
            for i, splice in rest:
                if splice:
                    children.extend(taken[i])
                else:
                    children.append(taken[i])
            return children

        return grow

    # a list display, e.g. ``lambda taken: [taken[0], *taken[2]]`` (made from
    # the grammar's rules, never from user text)
    items = ", ".join(
        f"*taken[{i}]" if splice else f"taken[{i}]" for i, splice in include
    )
    pick: Callable[[list[Any]], list[Any]] = eval(f"lambda taken: [{items}]")
    return pick


@cache
def _may_start_with(pattern: str, char: str) -> bool:
    """Can a match of regex ``pattern`` begin with ``char``? (True when unsure.)"""
    from re import _constants as c
    from re import _parser

    def sequence(items: Any, icase: bool) -> tuple[bool, bool]:  # (hit, may be empty)
        for op, arg in items:
            hit, empty = item(op, arg, icase)
            if hit:
                return True, False
            if not empty:
                return False, False
        return False, True

    def same(code: int, icase: bool) -> bool:
        return chr(code) == char or (icase and chr(code).lower() == char.lower())

    def member(items: Any, icase: bool) -> bool:
        negate = False
        found = False
        for op, arg in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                found = found or same(arg, icase)
            elif op is c.RANGE:
                found = (
                    found
                    or arg[0] <= ord(char) <= arg[1]
                    or (icase and arg[0] <= ord(char.swapcase()) <= arg[1])
                )
            elif op is c.CATEGORY:
                tests: dict[Any, Callable[[str], bool]] = {
                    c.CATEGORY_SPACE: str.isspace,
                    c.CATEGORY_DIGIT: str.isdigit,
                    c.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
                }
                test = tests.get(arg)
                if test is None:
                    return True
                found = found or test(char)
            else:
                return True
        return found != negate

    def item(op: Any, arg: Any, icase: bool) -> tuple[bool, bool]:
        if op is c.LITERAL:
            return same(arg, icase), False
        if op is c.IN:
            return member(arg, icase), False
        if op is c.SUBPATTERN:
            _group, add, remove, items = arg
            icase = bool((icase or add & re.IGNORECASE) and not remove & re.IGNORECASE)
            return sequence(items, icase)
        if op is c.BRANCH:
            results = [sequence(branch, icase) for branch in arg[1]]
            return any(r[0] for r in results), any(r[1] for r in results)
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, _high, items = arg
            hit, empty = sequence(items, icase)
            return hit, low == 0 or empty
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            return False, True  # zero width: look at what follows (a superset)
        return True, True  # anything else: assume it can

    parsed = _parser.parse(pattern)
    return sequence(parsed.data, bool(parsed.state.flags & re.IGNORECASE))[0]


def _state_lexer(basic: Any) -> tuple[str, dict[str, str]]:
    """The terminal alternation of one lark state lexer (a regex source), in
    lark's priority order, and its one-character punctuation that no other
    terminal of the state can begin with (read without the regex)."""
    accepted = [t for t in basic.terminals if t.name not in basic.ignore_types]
    source = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in accepted)
    singles = {
        t.pattern.value: t.name
        for t in accepted
        if t.pattern.type == "str"
        and len(t.pattern.value) == 1
        and not any(
            _may_start_with(o.pattern.to_regexp(), t.pattern.value)
            for o in accepted
            if o is not t
        )
    }
    return source, singles


def _char_before(text: str, pos: int) -> str | None:
    """The last non-blank character before ``pos`` (the token before, if one char)."""
    head = text[:pos].rstrip()
    return head[-1] if head else None


class _StuckError(Exception):
    """The driver could not go on; carries a ``friendly.Stuck``."""


# Reduce actions, by what the driver does with the popped symbols (the numbers
# are written as literals in ``_Machine.run``, ordered by how often they occur):
_BUILD = 0  # call the rule method on a slice of them
_BUILD1 = 1  # the same for a rule of one symbol (replaces the top in place)
_SPLICE1 = 2  # a ``_rule`` or ``__x_star`` helper keeping one item: a list of it
_PASS1 = 3  # a ``?rule`` of one symbol: its value goes up unchanged, only the state
_GROW = 4  # a left-recursive ``__x_star`` helper adding one item to its list
_BUILD_PICK = 5  # call the rule method on pick(popped): ``_rule`` children spliced in
_EXTEND = 6  # a left-recursive ``__x_star`` helper adding a spliced list to its own
_SPLICE = 7  # any other ``_rule`` or helper: a list for the parent to splice in
_PASS = 8  # a ``?rule`` with one kept child among dropped punctuation
_ACCEPT = 9  # the start symbol with the input used up


def _slice(index: list[int], size: int) -> slice | None:
    """The slice of the last ``size`` stack entries that selects ``index``, if any."""
    if not index:
        return slice(0, 0)
    step = index[1] - index[0] if len(index) > 1 else 1
    if step < 1 or index != list(range(index[0], index[-1] + 1, step)):
        return None
    stop = index[-1] + 1 - size
    return slice(index[0] - size, stop or None, step)


def _tables(lark: Lark) -> dict[str, Any]:
    """The driver's tables from lark's grammar analysis, as plain data (kept in
    a cache file, so that a fresh process need not import lark to parse).

    ``actions``: per state {terminal: action}; an action below ``count`` shifts
    to that state, any other is the index of a reduction in ``reductions``
    (whose first ``count`` entries are unused), so one int comparison tells shift
    from reduce. A reduction is ``(how, -size, rule name, pick, method name)``;
    ``pick`` says which popped symbols become the children (see ``_Machine``).
    ``gotos``: per rule name, the next state from the state below the popped
    symbols. ``lexers``: per state, the terminal alternation (regex source and
    flags) and the one-character tokens read without it.
    """
    from lark.parsers.lalr_analysis import Shift

    table = lark.parser.parser.parser.parse_table
    count = max(table.states) + 1

    gotos: dict[str, list[int]] = {}
    for state, acts in table.states.items():
        for term, (kind, arg) in acts.items():
            name = str(term)
            if kind is Shift and not name.isupper():
                gotos.setdefault(name, [-1] * count)[state] = arg

    # rule -> its reduction; ``pick`` turns the popped symbols into the children
    # the way lark's tree builder does (filtered tokens dropped, ``_rule``
    # children spliced in)
    rules: dict[Any, tuple[Any, ...]] = {}
    kept: set[str] = set()  # terminals some rule hands to its method
    for rule in lark.rules:
        keep_all = rule.options.keep_all_tokens
        include = tuple(
            (i, not sym.is_term and sym.name.startswith("_"))
            for i, sym in enumerate(rule.expansion)
            if keep_all or not (sym.is_term and sym.filter_out)  # type: ignore[attr-defined]
        )
        kept.update(rule.expansion[i].name for i, _ in include)
        name = str(rule.alias or rule.origin.name)
        origin = str(rule.origin.name)
        expand1 = bool(rule.options.expand1 and not rule.alias)
        size = len(rule.expansion)
        index = [i for i, _ in include]
        where = _slice(index, size)
        action: tuple[Any, ...] = ()
        if origin.startswith("_"):
            grow = rule.expansion[0].name == rule.origin.name  # left recursion
            if grow and len(include) == 2 and include[0] == (0, True):
                item, splice = include[1]  # the list is values[-size]
                how = _EXTEND if splice else _GROW  # add values[pick] or its items
                action = (how, -size, origin, item - size, None)
            elif len(include) == 1 and not include[0][1]:
                action = (_SPLICE1, -size, origin, include[0][0] - size, None)
            if not action:
                action = (_SPLICE, -size, origin, (include, size, grow), None)
        elif expand1 and len(include) == 1 and not include[0][1]:
            how = _PASS1 if size == 1 else _PASS
            action = (how, -size, origin, index[0] - size, None)
        elif any(splice for _, splice in include) or where is None:
            action = (_BUILD_PICK, -size, origin, (include, size, False), name)
        else:
            how = _BUILD1 if size == 1 else _BUILD
            action = (how, -size, origin, (where.start, where.stop, where.step), name)
        rules[rule] = action

    # the same alternation of terminals lark's contextual lexer tries in each
    # state, in lark's priority order; blanks are skipped where none matches
    ignore = lark.lexer_conf.ignore
    ignored = [t.pattern.to_regexp() for t in lark.terminals if t.name in ignore]
    if ignored != [_BLANK.pattern]:
        raise RuntimeError("grammar ignores other than blanks; fast driver off")
    starts_blank = [
        t.name
        for t in lark.terminals
        if t.name not in ignore
        and any(_may_start_with(t.pattern.to_regexp(), c) for c in " \t\f\r\n")
    ]
    if starts_blank:  # the driver tries the terminals before skipping blanks
        raise RuntimeError(f"terminals may begin with a blank: {starts_blank}")
    # (lark would also add keyword callbacks for a string terminal that a
    # regex terminal of equal priority matches; this grammar has none, which
    # tests/test_parse.py checks)
    by_lexer: dict[int, tuple[str, dict[str, str]]] = {}
    lexers: list[tuple[str, dict[str, str]] | None] = [None] * count
    for state, basic in lark.parser.lexer.lexers.items():
        if id(basic) not in by_lexer:  # lark shares one lexer among states
            by_lexer[id(basic)] = _state_lexer(basic)
        lexers[state] = by_lexer[id(basic)]

    reductions: list[tuple[Any, ...] | None] = [None] * count
    numbers: dict[int, int] = {}  # id(reduction) -> its index

    def number(action: tuple[Any, ...]) -> int:
        if id(action) not in numbers:
            numbers[id(action)] = len(reductions)
            reductions.append(action)
        return numbers[id(action)]

    actions: list[dict[str, int]] = [{} for _ in range(count)]
    for state, acts in table.states.items():
        for term, (kind, arg) in acts.items():
            name = str(term)
            if kind is not Shift:
                actions[state][name] = number(rules[arg])
            elif name.isupper():
                actions[state][name] = arg
    accept = number((_ACCEPT, 0, None, None, None))
    for end in table.end_states.values():
        actions[end].setdefault("$END", accept)
    _skip_unit_states(count, actions, reductions, gotos)
    return {
        "count": count,
        "start_states": dict(table.start_states),
        "actions": actions,
        "reductions": reductions,
        "gotos": gotos,
        "lexers": lexers,
        "flags": lark.options.g_regex_flags,
        "dropped": frozenset(t.name for t in lark.terminals if t.name not in kept),
        "literals": {
            t.name: t.pattern.value for t in lark.terminals if t.pattern.type == "str"
        },
    }


def _expected(
    count: int, actions: list[dict[str, int]], reductions: list[Any], state: int
) -> frozenset[str]:
    """The terminals ``state`` accepts, for messages."""
    return frozenset(
        k for k, a in actions[state].items() if a < count or reductions[a][0] != _ACCEPT
    )


def _skip_unit_states(
    count: int,
    actions: list[dict[str, int]],
    reductions: list[Any],
    gotos: dict[str, list[int]],
) -> None:
    """Go straight past states whose only action is one ``?rule`` of one
    symbol (``coord: COORD``, ``region_factor: shape``...).

    Such a reduction changes only the state on top of the stack, to the
    rule's goto from the state below; a shift or goto into the unit state
    can go there at once. Done only where both states accept the same
    terminals, so errors are found at the same token with the same
    expected terminals; a chain of such rules is followed to its end.
    """

    def unit(state: int) -> tuple[Any, ...] | None:
        acts = set(actions[state].values())
        if len(acts) != 1:
            return None
        (act,) = acts
        reduction = reductions[act] if act >= count else None
        return reduction if reduction and reduction[0] == _PASS1 else None

    def expected(state: int) -> frozenset[str]:
        return _expected(count, actions, reductions, state)

    def past(state: int, below: int) -> int:
        for _ in range(count):  # a chain is finite; bound it anyway
            rule = unit(state)
            if rule is None:
                break
            target = gotos[rule[2]][below]
            if set(actions[target]) != set(actions[state]) or expected(
                target
            ) != expected(state):
                break
            state = target
        return state

    for below, acts in enumerate(actions):
        for kind, act in acts.items():
            if act < count:
                acts[kind] = past(act, below)
    for goto in gotos.values():
        for below, state in enumerate(goto):
            if state >= 0:
                goto[below] = past(state, below)


class _LazyPattern:
    """Stands in for a state's regex until first used; then compiles it and puts
    the compiled pattern in its place in ``patterns`` (for every state using it)."""

    def __init__(self, source: str, flags: int, patterns: list[Any]) -> None:
        self.source, self.flags, self.patterns = source, flags, patterns
        self.states: list[int] = []

    def match(self, text: str, pos: int) -> re.Match[str] | None:
        compiled = re.compile(self.source, self.flags)
        for state in self.states:
            self.patterns[state] = compiled
        return compiled.match(text, pos)


class _Machine:
    """lark's LALR tables and per-state scanners, run by a tight loop."""

    def __init__(self, tables: dict[str, Any]) -> None:
        from xdm.transform import SPANS, Transform, new_span

        self.transform, self.spans, self.new_span = Transform, SPANS, new_span
        count = self.count = tables["count"]
        self.start_states: dict[str, int] = tables["start_states"]
        self.actions: list[dict[str, int]] = tables["actions"]
        self.dropped: frozenset[str] = tables["dropped"]
        self.literals: dict[str, str] = tables["literals"]
        gotos: dict[str, list[int]] = tables["gotos"]

        # reduction -> (how, -size, goto, pick, method): ``pick`` is a slice of
        # the stack (_BUILD, _BUILD1), a function of the popped symbols (_SPLICE,
        # _BUILD_PICK) or an index (the others)
        self.reductions: list[tuple[Any, ...] | None] = [None] * count
        for how, neg, origin, pick, name in tables["reductions"][count:]:
            method = None if name is None else getattr(Transform, name, None)
            if name is not None and method is None:
                raise RuntimeError(f"no Transform method for grammar rule {name!r}")
            if how in (_BUILD, _BUILD1):
                pick = slice(*pick)
            elif how in (_SPLICE, _BUILD_PICK):
                include, size, grow = pick
                pick = _picker(tuple(map(tuple, include)), size, grow_first=grow)
                if how == _SPLICE:
                    pick = pick or list
            goto = None if origin is None else gotos[origin]
            self.reductions.append((how, neg, goto, pick, method))

        # the same alternation of terminals lark's contextual lexer tries in
        # each state; one-character tokens that no other terminal of the state
        # can begin with are read without it. No rule method sees the dropped
        # ones (``[``, ``=``...), so they are stacked as None, not a Tok.
        # Each regex is compiled when first used (46 of them take 20 ms).
        lazy: dict[str, _LazyPattern] = {}
        self.patterns: list[Any] = [None] * count
        self.singles: list[dict[str, str]] = [{} for _ in range(count)]
        for state, lexer in enumerate(tables["lexers"]):
            if lexer is not None:
                source, singles = lexer
                if source not in lazy:
                    lazy[source] = _LazyPattern(source, tables["flags"], self.patterns)
                lazy[source].states.append(state)
                self.patterns[state], self.singles[state] = lazy[source], singles

    def _expected(self, state: int) -> frozenset[str]:
        """The terminals ``state`` accepts, for messages."""
        return _expected(self.count, self.actions, self.reductions, state)

    def run(self, text: str, start: str) -> Any:
        actions, singles, patterns = self.actions, self.singles, self.patterns
        reductions, count = self.reductions, self.count
        dropped = self.dropped
        rules = self.transform(text)
        spans, new_span = self.spans, self.new_span  # Span per (start, end)
        blank = _BLANK.match
        state = self.start_states[start]
        # the LR stack: (state, start, end) of each entry, and its values (a Tok,
        # None for dropped punctuation, a node, a list to splice)
        stack: list[tuple[int, int, int]] = [(state, 0, 0)]
        values: list[Any] = [None]
        last_kind: str | None = None  # the last token shifted, for errors
        last_at = pos = tok_start = 0
        body = text.rstrip(" \t\f\r\n")  # the end is where this ends

        while True:
            # next token, lexed in the context of the current state
            try:
                char = body[pos]
            except IndexError:
                kind: str | None = "$END"
                tok_start = pos
                tok: Any = None
            else:
                tok_start = pos
                kind = singles[state].get(char)
                if kind is not None:
                    pos += 1
                    tok = None if kind in dropped else (kind, char, tok_start, pos)
                else:
                    m = patterns[state].match(body, pos)
                    if m is None:
                        if char in " \t\f\r\n":  # no terminal begins with one
                            pos = blank(body, pos).end()  # type: ignore[union-attr]
                            continue
                        last = (last_kind, last_at, stack[-1][2])
                        raise _StuckError(
                            self._stuck(text, pos, None, pos, state, last)
                        )
                    kind = m.lastgroup
                    pos = m.end()
                    tok = (kind, body[tok_start:pos], tok_start, pos)

            # reduce as long as the table says so, then shift the token
            while True:
                try:
                    act = actions[state][kind]  # type: ignore[index]
                except KeyError:
                    last = (last_kind, last_at, stack[-1][2])
                    raise _StuckError(
                        self._stuck(text, tok_start, kind, pos, state, last)
                    ) from None
                if act < count:  # shift
                    state = act
                    last_kind = kind
                    last_at = tok_start
                    stack.append((act, tok_start, pos))
                    values.append(tok)
                    break
                how, neg, goto, pick, method = reductions[act]  # type: ignore[misc]
                if how == 0:  # _BUILD
                    s = stack[neg][1]
                    e = stack[-1][2]
                    key = (s, e)
                    span = spans.get(key) or new_span(key)
                    value: Any = method(rules, values[pick], span)
                elif how == 1:  # _BUILD1
                    top = stack[-1]
                    state = goto[stack[-2][0]]
                    key = top[1:]
                    span = spans.get(key) or new_span(key)
                    values[-1] = method(rules, values[pick], span)
                    stack[-1] = (state, *key)
                    continue
                elif how == 2:  # _SPLICE1
                    s = stack[neg][1]
                    e = stack[-1][2]
                    value = [values[pick]]
                elif how == 3:  # _PASS1
                    top = stack[-1]
                    state = goto[stack[-2][0]]
                    stack[-1] = (state, top[1], top[2])
                    continue
                elif how == 4:  # _GROW
                    value = values[neg]
                    value.append(values[pick])
                    s = stack[neg][1]
                    e = stack[-1][2]
                elif how == 5:  # _BUILD_PICK
                    s = stack[neg][1]
                    e = stack[-1][2]
                    key = (s, e)
                    span = spans.get(key) or new_span(key)
                    value = method(rules, pick(values[neg:]), span)
                elif how == 6:  # _EXTEND
                    value = values[neg]
                    value.extend(values[pick])
                    s = stack[neg][1]
                    e = stack[-1][2]
                elif how == 7:  # _SPLICE
                    s = stack[neg][1]
                    e = stack[-1][2]
                    value = pick(values[neg:])
                elif how == 8:  # _PASS
                    s = stack[neg][1]
                    e = stack[-1][2]
                    value = values[pick]
                else:  # _ACCEPT
                    return values[-1]
                state = goto[stack[neg - 1][0]]
                del stack[neg:], values[neg:]
                stack.append((state, s, e))
                values.append(value)

    def _stuck(
        self,
        text: str,
        pos: int,
        kind: str | None,
        end: int,
        state: int,
        last: tuple[str | None, int, int],
    ) -> Any:
        """Where and why the driver stopped: at ``kind`` read from ``pos`` to
        ``end`` (None: nothing could be read at ``pos``; ``$END``: the end);
        ``last`` is the kind, start and end of the token before (kind None: none)."""
        from xdm.friendly import Stuck

        expected = self._expected(state)
        while pos < len(text) and text[pos].isspace():
            pos += 1
        rest = text[pos:].strip()
        found = None if kind in (None, "$END") else text[pos:end]
        last_kind, last_at, last_end = last
        previous = before = None
        if last_kind is not None:
            previous = text[last_at:last_end]
            before = _char_before(text, last_at)
        return Stuck(
            pos=pos if rest else len(text),
            found=found,
            found_kind=None if found is None else kind,
            expected=expected,
            previous=previous,
            previous_kind=last_kind,
            before=before,
            at_end=not rest,
            next_char=text[pos : pos + 1],
        )


# The driver's tables are kept next to lark's cache: a fresh process parses
# without importing lark or analysing the grammar (cold ``xdm parse`` 0.2 -> 0.1 s).
# The file holds the grammar and this module's source it was made from and is
# made again when either changes (or lark is reinstalled).
TABLES_FORMAT = 1


@lru_cache(maxsize=1)
def _machine() -> _Machine:
    return _Machine(_cached_tables())


def _tables_key() -> tuple[Any, ...] | None:
    """What the tables are made from: grammar text, this module's source, the
    installed lark (path, size, time); None when a file cannot be read."""
    import os
    from importlib.util import find_spec
    from pathlib import Path

    try:
        grammar_spec = find_spec("xdm.grammar")
        own_spec = find_spec(__name__)
        lark_spec = find_spec("lark")
        if not grammar_spec or not grammar_spec.submodule_search_locations:
            return None
        if not own_spec or not own_spec.origin:
            return None
        folder = Path(next(iter(grammar_spec.submodule_search_locations)))
        lark_file = lark_spec.origin if lark_spec else None
        if lark_file is None:
            return None
        stat = os.stat(lark_file)
        return (
            TABLES_FORMAT,
            (folder / "xdm.lark").read_text(encoding="utf-8"),
            Path(own_spec.origin).read_text(encoding="utf-8"),
            lark_file,
            stat.st_size,
            stat.st_mtime_ns,
        )
    except (OSError, StopIteration, ValueError, ImportError):
        return None


def _cached_tables() -> dict[str, Any]:
    """The driver's tables from the cache file, or made from lark and saved."""
    import marshal
    import os
    import zlib
    from pathlib import Path

    key = _tables_key()
    folder = _cache_folder()
    path = None
    if key is not None and folder is not None:
        crc = zlib.crc32(repr(key).encode())
        python = f"{sys.version_info[0]}{sys.version_info[1]}"
        path = Path(folder) / f"driver-{crc:08x}-py{python}.marshal"
        try:
            tables = marshal.loads(path.read_bytes())
            if isinstance(tables, dict) and tables.get("key") == key:
                return tables
        except (OSError, ValueError, EOFError, TypeError):
            pass
    tables = _tables(get_parser())
    if path is not None:
        tables["key"] = key
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            temp.write_bytes(marshal.dumps(tables))
            os.replace(temp, path)
        except (OSError, ValueError):
            temp.unlink(missing_ok=True)
    return tables


def string_terminals() -> dict[str, str]:
    """The grammar's string terminals, name -> text (``RSQB`` -> ``]``), for
    messages; read from the driver's tables, so lark need not be imported."""
    return _machine().literals


def parse_tree(text: str, start: str = "start") -> Tree[Any]:
    """The raw lark tree of ``text`` (for ``xdm parse --tree`` and tests)."""
    from lark.exceptions import UnexpectedInput

    try:
        return get_parser().parse(text, start=start)
    except UnexpectedInput as exc:
        from xdm.friendly import from_lark, syntax_error

        err = syntax_error(text, from_lark(text, exc), start)
        err.lark_error = exc  # type: ignore[attr-defined]
        raise err from None


def _check_empty(text: str, start: str) -> None:
    if not text.strip():
        what = {"start": "a file name", "region_start": "a region"}.get(
            start, "a filter"
        )
        raise XdmSyntaxError(
            f"empty input; expected {what}",
            source=text,
            span=Span(len(text), len(text)),
        )


# Nodes are immutable, so a text parsed before can hand back the same tree:
# scripts, the REPL and the planner parse the same strings again and again.
CACHE_SIZE = 1024


def _to_ast(text: str, start: str, cached: bool = True) -> Any:
    try:
        if cached:
            return _run_cached(text, start)
        return _run(text, start)
    except _StuckError as stuck:
        from xdm.friendly import syntax_error

        raise syntax_error(text, stuck.args[0], start) from None


def _run(text: str, start: str) -> Any:
    _check_empty(text, start)
    return _machine().run(text, start)


_run_cached = lru_cache(maxsize=CACHE_SIZE)(_run)


def parse_slow(text: str, start: str = "start") -> Any:
    """The reference path: lark Tree, then ``xdm.transform.from_tree``."""
    from xdm.transform import from_tree

    _check_empty(text, start)
    return from_tree(parse_tree(text, start), text)


def parse(text: str, *, cached: bool = True) -> VirtualFile:
    """Parse a virtual file: ``evt2.fits[energy=300:2000][bin sky=8]``.

    ``cached=False`` parses again even if ``text`` was seen before (the result is
    equal either way; the cache holds the last ``CACHE_SIZE`` texts).

    Raises
    ------
    XdmSyntaxError
        With the source, a span and what was expected.
    """
    return _to_ast(text, "start", cached)  # type: ignore[no-any-return]


def parse_region(text: str, *, cached: bool = True) -> RegionExpr:
    """Parse a region expression: ``circle(4096,4096,20)-box(4100,4100,4,4)``."""
    return _to_ast(text, "region_start", cached)  # type: ignore[no-any-return]


def _is_comment(line: str) -> bool:
    return line.startswith("#") and not (
        line[1:2].isdigit() or line[1:4].lower() == "row"
    )


def parse_filter(text: str) -> FilterExpr:
    """Parse filter text as written inside brackets (``@filter.lis`` files).

    Lines are joined with ``,``; blank lines and ``#`` comment lines are skipped
    (``#row=...`` and ``#1=...`` are filters, not comments).
    """
    lines = [ln.strip() for ln in text.splitlines()]
    joined = ",".join(ln for ln in lines if ln and not _is_comment(ln))
    return _to_ast(joined, "filter_start")  # type: ignore[no-any-return]
