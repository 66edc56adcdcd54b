"""BatchUpper and TextAnalysis exactly as the fastprocesses README writes them; only the
imports changed (fastprocesses.* -> fastproc.compat.fastprocesses)."""

from fastproc.compat.fastprocesses import (
    BaseParallelProcess,
    BaseScatterProcess,
    ProcessDescription,
    ProcessInput,
    ProcessJobControlOptions,
    ProcessOutput,
    ProcessOutputTransmission,
    Schema,
    parallel_step,
    register_process,
)


@register_process("batch_upper_process")
class BatchUpperProcess(BaseParallelProcess):
    process_description = ProcessDescription(
        id="batch_upper_process",
        title="Batch Upper",
        version="1.0.0",
        description="Upper-cases a list of words, processing chunks in parallel.",
        jobControlOptions=[ProcessJobControlOptions.ASYNC_EXECUTE],
        outputTransmission=[ProcessOutputTransmission.VALUE],
        inputs={
            "words": ProcessInput(
                title="Words",
                description="List of words to upper-case",
                scheme=Schema(type="array", items={"type": "string"}),
            )
        },
        outputs={
            "words": ProcessOutput(
                title="Words",
                description="Upper-cased words",
                scheme=Schema(type="array", items={"type": "string"}),
            )
        },
    )

    def split_inputs(self, exec_body: dict) -> list[dict]:
        """Divide the word list into chunks of three."""
        words = exec_body["inputs"]["words"]
        chunk_size = 3
        return [
            {"inputs": {"words": words[i:i + chunk_size]}}
            for i in range(0, len(words), chunk_size)
        ]

    def execute_single(self, item: dict, job_progress_callback=None):
        """Process one chunk — called once per worker."""
        return {"words": [w.upper() for w in item["inputs"]["words"]]}

    def merge_results(self, results: list[dict]):
        """Flatten all partial word lists into one."""
        return {"words": [w for r in results for w in r["words"]]}


@register_process("text_analysis_process")
class TextAnalysisProcess(BaseScatterProcess):
    process_description = ProcessDescription(
        id="text_analysis_process",
        title="Text Analysis",
        version="1.0.0",
        description="Analyses text: word count, char count and unique words in parallel.",
        jobControlOptions=[ProcessJobControlOptions.ASYNC_EXECUTE],
        outputTransmission=[ProcessOutputTransmission.VALUE],
        inputs={
            "text": ProcessInput(
                title="Text", description="Text to analyse",
                scheme=Schema(type="string"),
            )
        },
        outputs={
            "word_count": ProcessOutput(
                title="Word Count", description="Number of words",
                scheme=Schema(type="integer"),
            ),
            "char_count": ProcessOutput(
                title="Char Count", description="Number of characters",
                scheme=Schema(type="integer"),
            ),
            "unique_words": ProcessOutput(
                title="Unique Words", description="Sorted list of unique words",
                scheme=Schema(type="array", items={"type": "string"}),
            ),
        },
    )

    @parallel_step
    def count_words(self, exec_body: dict):
        return {"word_count": len(exec_body["inputs"]["text"].split())}

    @parallel_step
    def count_chars(self, exec_body: dict):
        return {"char_count": len(exec_body["inputs"]["text"])}

    @parallel_step
    def extract_unique(self, exec_body: dict):
        words = exec_body["inputs"]["text"].lower().split()
        return {"unique_words": sorted(set(words))}

    def merge_results(self, results: dict[str, dict]):
        return {
            "word_count":  results["count_words"]["word_count"],
            "char_count":  results["count_chars"]["char_count"],
            "unique_words": results["extract_unique"]["unique_words"],
        }
