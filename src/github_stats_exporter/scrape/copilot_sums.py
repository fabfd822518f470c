"""Breakdown sums of the Copilot report mapper: how an entry holds them, and the loops that add to them.

Two layouts of the same sums, chosen once per mapper (`Layout`):

- `PYTHON`: the value's seven sums are a `CounterSums` struct at the value's number in the entry; the
  loop is pure Python. The reference, and what runs when the C loop is not built.
- `BLOCK` (None when ``_copilot_sums`` is not built): every dense value's seven sums are doubles in one
  bytearray per entry, added to by the C loop (``_copilot_sums.c``). One run of memory per (user, day)
  key instead of a struct and seven int objects per value: with a large report, whose keys do not fit
  in the caches, that is what the summing cost (docs/benchmarks.md, "Copilot report parsing").

Both give the same series: `Layout.read` returns a value's sums as numbers (None where no element
carried that counter). The block sums in doubles, so an integer sum is exact up to 2**53. This module
only adds and reads sums; labels, caps and windows are the mapper's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import add, attrgetter
from types import FunctionType
from typing import Any, Literal, TypeVar, cast

import msgspec
from msgspec.structs import astuple

from github_stats_exporter.scrape.copilot_parse import COUNTER_FIELDS, Breakdown, Number

Dimension = Literal["ide", "feature", "language", "model"]
DIMENSIONS: tuple[Dimension, ...] = ("ide", "feature", "language", "model")
"""The breakdown dimensions, in the order a `Layout` has its loops and the mapper reads the arrays."""
Group = tuple[Number | None, ...] | None
"""A group of additive values (counters, pull requests, CLI, app, …) summed together; None when absent."""
Entry = list[Any]
"""The running sums of one (user, day) key in one window view, one list holding every group and every
breakdown value, so that a record finds them all with one lookup: the `GROUPS` additive groups; then a
dict (value number → `CounterSums`, None until needed) for breakdown values numbered past `DENSE_VALUES`;
then the dense values' sums from index `NEAR` on, in the layout's form (see the module docstring): in
`PYTHON` the `CounterSums` of each value at the value's number in the report (None where this key has no
such value; the list grows only up to the highest number the key has used), in `BLOCK` one bytearray."""
GROUPS = 6
"""The additive groups at the head of an entry (the mapper's `_GROUP_SPECS`)."""
FAR = GROUPS
"""Index of an entry's dict for the values numbered past `DENSE_VALUES`."""
NEAR = GROUPS + 1
"""The number of a report's first breakdown value (its index in every entry)."""
DENSE_VALUES = 128
"""Breakdown values (every dimension together) of one report whose sums sit in the entries' lists at the
value's number (GitHub reports tens: IDEs, features, languages, models); the sums of further values go
to a dict per entry, so that a report with thousands of distinct values (which GitHub does not bound)
does not give every entry a list that long: a list holds at most 135 slots (1 KiB), and memory stays in
proportion to the series (docs/benchmarks.md, "Copilot report parsing")."""
Sums = tuple[Number | None, ...]
"""A value's seven sums, `COUNTER_FIELDS` order."""
SumElements = Callable[[Entry, Sequence[Breakdown], dict[str, int], Callable[[str | None], int | None]], None]
"""Adds one record's breakdown array to an entry: (entry, elements, the dimension's value numbers, a
function numbering a new value, None for an element without one)."""


class CounterSums(msgspec.Struct, gc=False):
    """The seven counter sums (`COUNTER_FIELDS` order) of one breakdown value of one (user, day) key.

    A struct the cyclic GC never tracks (``gc=False``), and so neither the dicts holding them: with a
    tuple per value, every element summed made a new tracked tuple, and the collections that ran
    between chunks (the decoder allocates) re-scanned them, scattered in memory, a quarter of the time
    with 100k records (docs/benchmarks.md, "Copilot report parsing"). Replaced, never mutated: the
    struct's attribute writes take the generic path, its constructor is cheaper.
    """

    interactions: Number | None
    code_generation: Number | None
    code_acceptance: Number | None
    loc_suggested_to_add: Number | None
    loc_suggested_to_delete: Number | None
    loc_added: Number | None
    loc_deleted: Number | None


def merge(acc: Group, values: Group) -> Group:
    """Two groups added item by item, a None on one side taking the other's value."""
    if values is None:
        return acc
    if acc is None:
        return values
    if None in acc or None in values:
        return tuple(v if a is None else a if v is None else a + v for a, v in zip(acc, values, strict=True))
    return tuple(map(add, acc, values))


def python_sum_elements(
    entry: Entry,
    elements: Sequence[Breakdown],
    numbers: dict[str, int],
    numbering: Callable[[str | None], int | None],
) -> None:
    """Add the counters of one record's breakdown array to ``entry`` (per value of its dimension).

    ``numbers`` maps the dimension's values to their numbers in the report, ``numbering`` numbers a new
    one (see `ReportMapper`). Runs once per breakdown element, the bulk of the mapping work with every
    breakdown on, hence unrolled: the element's counters are read as attributes straight into the seven
    additions of one constructor call, which builds one untracked struct and no intermediate
    (docs/benchmarks.md, "Copilot report parsing").
    """
    get = numbers.get
    for element in elements:
        number = get(element.value)  # type: ignore[arg-type]
        if number is None:
            number = numbering(element.value)
            if number is None:
                continue
        try:
            acc = entry[number]
        except IndexError:  # a value this key has not shown yet, past the end of its list
            _sum_beyond(entry, number, element)
            continue
        if acc is None:
            entry[number] = CounterSums(
                element.user_initiated_interaction_count,
                element.code_generation_activity_count,
                element.code_acceptance_activity_count,
                element.loc_suggested_to_add_sum,
                element.loc_suggested_to_delete_sum,
                element.loc_added_sum,
                element.loc_deleted_sum,
            )
            continue
        a0 = acc.interactions
        v0 = element.user_initiated_interaction_count
        try:
            # GitHub omits interactions in the language arrays: None there is the common case.
            entry[number] = CounterSums(
                v0 if a0 is None else a0 if v0 is None else a0 + v0,
                acc.code_generation + element.code_generation_activity_count,
                acc.code_acceptance + element.code_acceptance_activity_count,
                acc.loc_suggested_to_add + element.loc_suggested_to_add_sum,
                acc.loc_suggested_to_delete + element.loc_suggested_to_delete_sum,
                acc.loc_added + element.loc_added_sum,
                acc.loc_deleted + element.loc_deleted_sum,
            )
        except TypeError:  # another counter is None in the sums or in the element
            entry[number] = _added(acc, element)


def _added(acc: CounterSums | None, element: Breakdown) -> CounterSums:
    """``acc`` plus the element's counters, a counter None on one side taking the other's value."""
    counters = _element_counters(element)
    merged = counters if acc is None else merge(astuple(acc), counters)
    return CounterSums(*merged)  # type: ignore[misc]


def _sum_beyond(entry: Entry, number: int, element: Breakdown) -> None:
    """Add an element whose value lies past the end of ``entry``'s list (see `DENSE_VALUES`).

    The C loop hands over only values past `DENSE_VALUES`, which both layouts keep in the dict.
    """
    if number < NEAR + DENSE_VALUES:
        entry.extend([None] * (number - len(entry)))
        entry.append(_added(None, element))
        return
    far: dict[int, CounterSums] | None = entry[FAR]
    if far is None:
        far = entry[FAR] = {}
    far[number] = _added(far.get(number), element)


_element_counters = attrgetter(*COUNTER_FIELDS)
_F = TypeVar("_F", bound=Callable[..., object])


def _own_copy(function: _F, name: str) -> _F:
    """``function`` with a code object of its own, so its attribute reads specialize to one type.

    CPython (3.11+) specializes an attribute read for the one type it meets at that place in the code;
    the four element types (`IdeBreakdown`, …) alternating at the same place keep that specialization
    missing, and every read falls back to a generic lookup (about a tenth of the mapping work; see
    docs/benchmarks.md, "Copilot report parsing"). One copy per array keeps each place to one type.
    """
    code = function.__code__.replace(co_name=name, co_qualname=name)
    return cast(
        _F, FunctionType(code, function.__globals__, name, function.__defaults__, function.__closure__)
    )


def _read_structs(entry: Entry, number: int) -> Sums | None:
    """`PYTHON` layout: the sums of value ``number`` in ``entry`` (None: this key has none)."""
    if number >= len(entry):
        return _read_far(entry, number)
    sums: CounterSums | None = entry[number]
    return None if sums is None else astuple(sums)


def _read_far(entry: Entry, number: int) -> Sums | None:
    """The sums of a value numbered past `DENSE_VALUES` (both layouts keep them in the entry's dict)."""
    far: dict[int, CounterSums] | None = entry[FAR]
    sums = far.get(number) if far else None
    return None if sums is None else astuple(sums)


@dataclass(frozen=True, slots=True)
class Layout:
    """How a mapper holds breakdown sums: the loop per dimension (`DIMENSIONS` order) and the reader."""

    name: str
    summers: tuple[SumElements, SumElements, SumElements, SumElements]
    read: Callable[[Entry, int], Sums | None]


PYTHON = Layout(
    "python",
    # One copy of the loop per dimension's array (see `_own_copy`).
    tuple(  # type: ignore[arg-type]
        _own_copy(python_sum_elements, f"_sum_{dimension}_elements") for dimension in DIMENSIONS
    ),
    _read_structs,
)


def _block_layout() -> Layout | None:
    """The C loop's layout, or None when ``_copilot_sums`` was not built (no compiler at install)."""
    try:
        from github_stats_exporter.scrape import _copilot_sums
    except ImportError:
        return None
    _copilot_sums.configure(Breakdown, ("value", *COUNTER_FIELDS), NEAR, DENSE_VALUES, _sum_beyond)
    summer = cast(SumElements, _copilot_sums.sum_elements)
    read_dense = _copilot_sums.read

    def read(entry: Entry, number: int) -> Sums | None:
        """The sums of value ``number`` in ``entry`` (None: this key has none)."""
        if number < NEAR + DENSE_VALUES:
            return read_dense(entry, number)
        return _read_far(entry, number)

    return Layout("block", (summer, summer, summer, summer), read)


BLOCK = _block_layout()
DEFAULT = BLOCK or PYTHON
"""The layout mappers use unless told otherwise: the C loop's when it is built."""
