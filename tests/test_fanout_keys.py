"""Part keys of a data-parallel fan-out: the order of their text is the order of the items,
since parts queued together are claimed in the order of their ids (their scores tie)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from fastproc import BaseParallelProcess
from fastproc.ogc.models import ProcessDescription


class Squares(BaseParallelProcess):
    description = ProcessDescription.model_validate({
        "id": "squares", "version": "1.0", "inputs": {}, "outputs": {}})

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        return list(range(inputs["n"]))

    async def execute_single(self, item: Any, progress: Any) -> Any:
        return item * item

    def merge_results(self, results: list[Any]) -> dict[str, Any]:
        return {"squares": results}


@pytest.mark.parametrize("n", [1, 9, 10, 11, 100, 1234])
def test_part_keys_sort_as_text_in_the_order_of_the_items(n: int) -> None:
    parts = anyio.run(Squares().parts, {"n": n})
    keys = [key for key, _ in parts]
    assert [item for _, item in parts] == list(range(n))
    assert sorted(keys) == keys
    assert len(set(keys)) == n


def test_the_merge_takes_the_parts_in_the_order_of_the_items() -> None:
    proc = Squares()
    parts = anyio.run(proc.parts, {"n": 12})
    results = [(key, item * item) for key, item in reversed(parts)]
    merged = anyio.run(proc.merge, results, {"n": 12})
    assert merged == {"squares": [i * i for i in range(12)]}
