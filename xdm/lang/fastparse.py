"""The fast parser: lark's LALR tables run by a small driver, without lark.

Contract
--------
``Machine(tables).run(text, start)`` returns exactly what
``xdm.lang.transform.from_tree(lark_parser.parse(text, start), text)`` returns for
the same grammar (``xdm.lang.parser.parse_slow``): equal nodes, equal spans, and the
same rule methods of ``xdm.lang.transform.Transform`` called on the same children.
Where lark would raise ``UnexpectedInput`` the driver raises ``StuckError``
carrying a ``Stuck`` (offset, the token that did not fit, the terminals the
state accepts), which ``xdm.lang.friendly`` words for the user. The proof is the
test suite: every line of ``tests/cases/parse.txt`` and the hypothesis round
trip are parsed both ways and compared, spans included (tests/test_parse.py,
tests/test_parse_cases.py).

How
---
``build_tables(lark)`` turns lark's grammar analysis (the LALR action and goto
tables, the rules' tree-shaping options, the contextual lexer's terminal
alternation per state) into plain data: ints, strings, tuples, lists and dicts
that ``marshal`` can save. ``load_tables`` keeps them in the user's cache
folder keyed by the grammar text, this module's source and the installed lark,
so a fresh process parses without importing lark (cold ``xdm parse``
0.2 -> 0.1 s). ``Machine`` runs them in one loop: the same alternation of
terminals lark's contextual lexer tries in each state, the same reductions,
and lark's tree-shaping rules (filtered tokens dropped, ``_rule`` children
spliced, ``?rule`` with one child passed up) applied while reducing, calling
the ``Transform`` methods directly without building a lark Tree: 2.5-5x faster
than lark's parser plus the tree walk (bench/bench_parse.py).

What it relies on: lark documents no public API for its LALR tables, so
``build_tables`` reads lark's analysed grammar (``Lark.parser`` down to the
``ParseTable``, ``Lark.rules``, ``Lark.terminals``, ``Lark.lexer_conf`` and the
contextual lexer's per-state lexers). That is the only place lark's insides are
touched, only when the cache file is made, and it is checked on every test run
against lark's own parser. Nothing here evaluates or executes generated text.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from lark import Lark

__all__ = [
    "TABLES_FORMAT",
    "Machine",
    "Stuck",
    "StuckError",
    "Tables",
    "build_tables",
    "load_tables",
]

Tables: TypeAlias = dict[str, Any]
"""The driver's tables as plain data (see ``build_tables``)."""


@dataclass(frozen=True, slots=True)
class Stuck:
    """Where parsing stopped.

    ``found`` is the text of the token that did not fit (``None`` at the end of
    the input, or when no token could be read at ``pos``); ``next_char`` is the
    character at ``pos``; ``previous`` is the token before it and
    ``previous_kind`` its terminal name; ``before`` is the token before that one.
    """

    pos: int
    found: str | None
    found_kind: str | None
    expected: frozenset[str]
    previous: str | None = None
    previous_kind: str | None = None
    before: str | None = None
    at_end: bool = False
    next_char: str = ""


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

    def pick(taken: list[Any]) -> list[Any]:
        children: list[Any] = []
        for i, splice in include:
            if splice:
                children.extend(taken[i])
            else:
                children.append(taken[i])
        return children

    return pick


def _state_lexer(basic: Any) -> str:
    """The terminal alternation of one lark state lexer (a regex source), in
    lark's priority order, the ignored terminals (blanks) among them: Python's
    ``re`` takes the first alternative that matches, as lark's scanner does."""
    return "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in basic.terminals)


def _char_before(text: str, pos: int) -> str | None:
    """The last non-blank character before ``pos`` (the token before, if one char)."""
    head = text[:pos].rstrip()
    return head[-1] if head else None


class StuckError(Exception):
    """The driver could not go on: ``stuck`` says where and why."""

    def __init__(self, stuck: Stuck) -> None:
        super().__init__(stuck)
        self.stuck = stuck


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


def build_tables(lark: Lark) -> Tables:
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
    # lark would also add keyword callbacks for a string terminal that a regex
    # terminal of equal priority matches; the driver has none, so refuse such
    # a grammar (this one has none)
    by_lexer: dict[int, str] = {}
    lexers: list[str | None] = [None] * count
    for state, basic in lark.parser.lexer.lexers.items():
        if basic.scanner is None or basic.callback:  # (the scanner makes them)
            raise RuntimeError("the grammar needs lark's keyword callbacks")
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
        "ignored": frozenset(lark.lexer_conf.ignore),
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


class Machine:
    """lark's LALR tables and per-state scanners, run by a tight loop."""

    def __init__(self, tables: Tables) -> None:
        from xdm.lang.fastnodes import SPANS, new_span
        from xdm.lang.transform import Transform

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
        # each state. No rule method sees the dropped tokens (``[``, ``=``...),
        # so they are stacked as None, not a Tok; ignored ones (blanks) are
        # skipped. Each regex is compiled when first used (46 take 20 ms).
        lazy: dict[str, _LazyPattern] = {}
        self.patterns: list[Any] = [None] * count
        self.ignored: frozenset[str] = tables["ignored"]
        for state, source in enumerate(tables["lexers"]):
            if source is not None:
                if source not in lazy:
                    lazy[source] = _LazyPattern(source, tables["flags"], self.patterns)
                lazy[source].states.append(state)
                self.patterns[state] = lazy[source]

    def _expected(self, state: int) -> frozenset[str]:
        """The terminals ``state`` accepts, for messages."""
        return _expected(self.count, self.actions, self.reductions, state)

    def run(self, text: str, start: str) -> Any:
        actions, patterns = self.actions, self.patterns
        reductions, count = self.reductions, self.count
        dropped, ignored = self.dropped, self.ignored
        rules = self.transform(text)
        spans, new_span = self.spans, self.new_span  # Span per (start, end)
        state = self.start_states[start]
        size = len(text)
        # the LR stack: (state, start, end) of each entry, and its values (a Tok,
        # None for dropped punctuation, a node, a list to splice)
        stack: list[tuple[int, int, int]] = [(state, 0, 0)]
        values: list[Any] = [None]
        last_kind: str | None = None  # the last token shifted, for errors
        last_at = pos = tok_start = 0

        while True:
            # next token, lexed in the context of the current state
            tok_start = pos
            tok: Any = None
            if pos >= size:
                kind: str | None = "$END"
            else:
                m = patterns[state].match(text, pos)
                if m is None:
                    last = (last_kind, last_at, stack[-1][2])
                    raise StuckError(self._stuck(text, pos, None, pos, state, last))
                kind = m.lastgroup
                pos = m.end()
                if kind in ignored:
                    continue
                if kind not in dropped:
                    tok = (kind, text[tok_start:pos], tok_start, pos)

            # reduce as long as the table says so, then shift the token
            while True:
                try:
                    act = actions[state][kind]  # type: ignore[index]
                except KeyError:
                    last = (last_kind, last_at, stack[-1][2])
                    raise StuckError(
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
    ) -> Stuck:
        """Where and why the driver stopped: at ``kind`` read from ``pos`` to
        ``end`` (None: nothing could be read at ``pos``; ``$END``: the end);
        ``last`` is the kind, start and end of the token before (kind None: none)."""
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
TABLES_FORMAT = 2


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


def load_tables(make_lark: Callable[[], Lark], folder: str | None) -> Tables:
    """The driver's tables from the cache file in ``folder``, or made with
    ``build_tables(make_lark())`` and saved there (None: not saved)."""
    import marshal
    import os
    import zlib
    from pathlib import Path

    key = _tables_key()
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
    tables = build_tables(make_lark())
    if path is not None:
        tables["key"] = key
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            temp.write_bytes(marshal.dumps(tables))
            os.replace(temp, path)
        except (OSError, ValueError):
            temp.unlink(missing_ok=True)
    return tables
