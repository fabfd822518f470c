from collections.abc import Callable, Sequence
from typing import Any

def configure(
    element_type: type[Any],
    fields: tuple[str, ...],
    near: int,
    dense: int,
    beyond: Callable[[list[Any], int, Any], None],
    /,
) -> None: ...
def sum_elements(
    entry: list[Any],
    elements: Sequence[Any],
    numbers: dict[str, int],
    numbering: Callable[[str | None], int | None],
    /,
) -> None: ...
def read(entry: list[Any], number: int, /) -> tuple[float | None, ...] | None: ...
