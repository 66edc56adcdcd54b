"""fastproc's benchmark processes written for fastprocesses 0.24.1: the same ids, inputs and
outputs as `echo`, `batch_upper` and `text_stats` in workers/examples.py.

Runs in the peer's own virtualenv (Python 3.12); imported by the Celery worker (`-A
processes:celery_app`) and by the API (app.py), both with this directory on PYTHONPATH.

The results are plain pydantic models, so the API answers with the model as JSON (the path
of processes whose `execute` is not annotated with a `BaseProcessResult` subclass); nothing
here asks for more work than fastproc's versions do.
"""

from __future__ import annotations

from typing import Any

from fastprocesses.common import celery_app
from fastprocesses.core.base_process import (
    BaseParallelProcess,
    BaseProcess,
    BaseScatterProcess,
    parallel_step,
)
from fastprocesses.core.models import (
    ProcessDescription,
    ProcessInput,
    ProcessJobControlOptions,
    ProcessOutput,
    ProcessOutputTransmission,
    Schema,
)
from fastprocesses.processes.process_registry import register_process
from pydantic import BaseModel

__all__ = ["BatchUpper", "Echo", "TextStats", "celery_app"]

_BOTH = [ProcessJobControlOptions.SYNC_EXECUTE, ProcessJobControlOptions.ASYNC_EXECUTE]
_VALUE = [ProcessOutputTransmission.VALUE]


def _words() -> Schema:
    return Schema(type="array", items=Schema(type="string"))


class EchoOutputs(BaseModel):
    value: str


@register_process("echo")
class Echo(BaseProcess):
    process_description = ProcessDescription(
        id="echo",
        title="Echo",
        version="1.0.0",
        description="Echo: returns its input.",
        keywords=["test"],
        jobControlOptions=_BOTH,
        outputTransmission=_VALUE,
        inputs={
            "value": ProcessInput(title="Value",
                                  description="Any text; it comes back unchanged.",
                                  scheme=Schema(type="string")),
        },
        outputs={
            "value": ProcessOutput(title="Value", description="The input, unchanged.",
                                   scheme=Schema(type="string")),
        },
    )

    def execute(self, exec_body: dict[str, Any],
                job_progress_callback: Any = None) -> EchoOutputs:
        # A plain `def`: an `async def` would cost an `asyncio.run` (a new event loop) per job.
        return EchoOutputs(value=exec_body["inputs"]["value"])


class WordsOutputs(BaseModel):
    words: list[str]


@register_process("batch_upper")
class BatchUpper(BaseParallelProcess):
    """Data fan-out: the words are split into chunks, each upper-cased by its own task."""

    process_description = ProcessDescription(
        id="batch_upper",
        title="Batch upper",
        version="1.0.0",
        description="Upper-cases a list of words, chunks in parallel, in order.",
        keywords=["text", "fan-out"],
        jobControlOptions=_BOTH,
        outputTransmission=_VALUE,
        inputs={
            "words": ProcessInput(title="Words", description="The words to upper-case.",
                                  scheme=_words()),
            "chunk": ProcessInput(title="Chunk size",
                                  description="Words per parallel part (default 100).",
                                  scheme=Schema(type="integer", minimum=1), minOccurs=0),
        },
        outputs={
            "words": ProcessOutput(title="Upper-cased words",
                                   description="The words, upper-cased, in order.",
                                   scheme=_words()),
        },
    )

    def split_inputs(self, exec_body: dict[str, Any]) -> list[dict[str, Any]]:
        words: list[str] = exec_body["inputs"]["words"]
        size = int(exec_body["inputs"].get("chunk") or 100)
        return [{"inputs": {"words": words[i:i + size]}} for i in range(0, len(words), size)]

    def execute_single(self, item: dict[str, Any],
                       job_progress_callback: Any = None) -> WordsOutputs:
        return WordsOutputs(words=[word.upper() for word in item["inputs"]["words"]])

    def merge_results(self, results: list[dict[str, Any]], exec_body: dict[str, Any],
                      job_progress_callback: Any = None) -> WordsOutputs:
        return WordsOutputs(words=[word for part in results for word in part["words"]])


class WordCount(BaseModel):
    word_count: int


class CharCount(BaseModel):
    char_count: int


class UniqueWords(BaseModel):
    unique_words: list[str]


class TextStatsOutputs(BaseModel):
    word_count: int
    char_count: int
    unique_words: list[str]


@register_process("text_stats")
class TextStats(BaseScatterProcess):
    """Operation scatter: three statistics of one text, each computed by its own task."""

    process_description = ProcessDescription(
        id="text_stats",
        title="Text statistics",
        version="1.0.0",
        description="Word count, character count and sorted unique words of a text.",
        keywords=["text", "scatter"],
        jobControlOptions=_BOTH,
        outputTransmission=_VALUE,
        inputs={
            "text": ProcessInput(title="Text", description="The text to describe.",
                                 scheme=Schema(type="string")),
        },
        outputs={
            "word_count": ProcessOutput(title="Word count", description="Words in the text.",
                                        scheme=Schema(type="integer")),
            "char_count": ProcessOutput(title="Character count",
                                        description="Characters in the text.",
                                        scheme=Schema(type="integer")),
            "unique_words": ProcessOutput(title="Unique words (lower case, sorted)",
                                          description="The distinct words, sorted.",
                                          scheme=_words()),
        },
    )

    @parallel_step
    def word_count(self, exec_body: dict[str, Any]) -> WordCount:
        return WordCount(word_count=len(exec_body["inputs"]["text"].split()))

    @parallel_step
    def char_count(self, exec_body: dict[str, Any]) -> CharCount:
        return CharCount(char_count=len(exec_body["inputs"]["text"]))

    @parallel_step
    def unique_words(self, exec_body: dict[str, Any]) -> UniqueWords:
        return UniqueWords(unique_words=sorted(set(exec_body["inputs"]["text"].lower().split())))

    def merge_results(self, results: dict[str, Any], exec_body: dict[str, Any],
                      job_progress_callback: Any = None) -> TextStatsOutputs:
        return TextStatsOutputs(**{name: results[name][name] for name in
                                   ("word_count", "char_count", "unique_words")})
