"""`fastproc run | processes | jobs`: the command-line client against the real app (API
process, worker and Valkey from the session fixtures), in-process through `fastproc.cli.main`
and as a subprocess where the exit status and stderr of a real process matter."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from fastproc.cli import main
from fastproc.client import OGCClient, Watch, follow, parse_inputs
from fastproc.client.progress_view import BarView
from fastproc.ogc.models import InputDescription, ProcessDescription, StatusCode, StatusInfo
from tests.gated import Gates, step_gate, step_message
from tests.logging_processes import TERMINAL_TRICKS, TRICKS_SHOWN, unprintable
from tests.support import ROOT, free_port, start_job, wait_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PERCENT = re.compile(r" +(\d+)% ")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `fastproc ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FASTPROC_URL"}


def cli_process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m fastproc ARGS` as a child process (no FASTPROC_URL from outside)."""
    return subprocess.run([sys.executable, "-m", "fastproc", *args], cwd=ROOT, env=_child_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def run_stepwise(api_url: str, gates: Gates, steps: int, *options: str
                 ) -> tuple[int, str, list[str]]:
    """`fastproc run --plain OPTIONS stepwise` as a child process that lets the job past
    each step only once the command has printed it: (exit code, stdout, stderr lines)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "fastproc", "run", "--plain", *options, "stepwise",
         f"gate={gates.path}", f"steps={steps}", "--url", api_url],
        cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = child.stdout, child.stderr
    assert stdout is not None and stderr is not None
    lines: list[str] = []

    def read() -> None:
        for line in stderr:
            lines.append(line)

    def printed(message: str) -> bool:
        return any(message in line for line in lines)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(1, steps + 1):
            message = step_message(step, steps)
            wait_for(lambda m=message: child.poll() is not None or printed(m), 60,
                     f"the command to print {message!r}")
            assert printed(message), "".join(lines)
            gates.open(step_gate(step))
        child.wait(timeout=60)
    finally:
        gates.open_all()
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join(timeout=30)
    return child.returncode, stdout.read(), [line.rstrip("\n") for line in lines]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def progress_values(err: str) -> list[int]:
    return [int(m.group(1)) for m in _PERCENT.finditer(err)]


def assert_one_error_line(err: str, start: str) -> None:
    assert err.startswith(f"error: {start}"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


# -- success ---------------------------------------------------------------------------------

def test_sync_run_prints_the_output_value(capsys: pytest.CaptureFixture[str],
                                          api_url: str) -> None:
    value = unique("hello")
    code, out, err = cli(capsys, "run", "echo", f"value={value}", "--url", api_url)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f'value: "{value}"', out
    named = [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert [name for name in named if name.isidentifier()] == [
        "value", "array", "bbox", "object", "mixed", "text"], out


def test_numbers_are_read_by_the_input_schema(capsys: pytest.CaptureFixture[str],
                                              api_url: str) -> None:
    code, out, _ = cli(capsys, "run", "add", "a=2", "b=0.5", "--url", api_url)
    assert (code, out) == (0, "sum: 2.5\n")


def test_a_string_input_keeps_digits_as_text(capsys: pytest.CaptureFixture[str],
                                             api_url: str) -> None:
    code, out, _ = cli(capsys, "run", "echo", "value=42", "--url", api_url)
    assert (code, out.splitlines()[0]) == (0, 'value: "42"')


def test_arrays_are_json_literals_and_outputs_json_values(
    capsys: pytest.CaptureFixture[str], api_url: str,
) -> None:
    code, out, _ = cli(capsys, "run", "batch_upper", 'words=["ab","cd"]', "--url", api_url,
                       "--json")
    assert code == 0
    assert json.loads(out) == {"words": ["AB", "CD"]}
    code, out, _ = cli(capsys, "run", "number_stats", "numbers=[1, 2, 6]", "--url", api_url)
    assert code == 0
    assert "count: 3\n" in out and "mean: 3.0\n" in out


def test_a_file_argument_sends_its_contents(capsys: pytest.CaptureFixture[str], api_url: str,
                                            tmp_path: Path) -> None:
    text = unique("from a file")
    path = tmp_path / "value.txt"
    path.write_text(text)
    code, out, _ = cli(capsys, "run", "echo", f"value=@{path}", "--url", api_url, "--json")
    assert code == 0
    assert json.loads(out)["value"] == text


def test_run_as_a_command_exits_zero_with_the_results_document(api_url: str) -> None:
    value = unique("subprocess")
    done = cli_process("run", "echo", f"value={value}", "--url", api_url, "--raw")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == value
    assert done.stderr == ""


def test_binary_output_is_saved_under_its_output_id(capsys: pytest.CaptureFixture[str],
                                                     api_url: str, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "run", "solid_png", "width=3", "height=2", "color=#ff0000",
                       "--url", api_url, "--output-dir", str(tmp_path))
    saved = tmp_path / "image.png"
    assert code == 0
    assert out.startswith(f"image: saved {saved} (image/png, "), out
    assert saved.read_bytes().startswith(PNG_SIGNATURE)


def test_text_in_a_media_type_is_saved_with_its_extension(
    capsys: pytest.CaptureFixture[str], api_url: str, tmp_path: Path,
) -> None:
    code, _, _ = cli(capsys, "run", "squares_csv", "n=3", "--url", api_url,
                     "--output-dir", str(tmp_path))
    assert code == 0
    assert (tmp_path / "table.csv").read_text() == "n,square\n0,0\n1,1\n2,4\n"


# -- asynchronous jobs and their progress -----------------------------------------------------

def _step_lines(err: list[str]) -> list[str]:
    """The messages of the lines that report a `stepwise` step, in order."""
    return [line.split("% ", 1)[1] for line in err if "% step " in line]


def test_async_only_process_shows_progress_from_the_event_stream(
    api_url: str, tmp_path: Path,
) -> None:
    """Polls an hour apart could not show the next step within a minute: every step the
    command prints after the first comes from the event stream."""
    gates = Gates(tmp_path / "gates")
    code, out, err = run_stepwise(api_url, gates, 3, "--interval", "3600")
    assert code == 0, err
    assert out == "steps: 3\n"
    assert err[0].endswith(": accepted"), err
    assert err[-1].endswith(": successful 100% finished"), err
    assert _step_lines(err) == [step_message(step, 3) for step in (1, 2, 3)], err
    assert progress_values("\n".join(err)) == [0, 33, 66, 100], err


def test_polling_follows_a_job_when_events_are_not_used(api_url: str, tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    code, out, err = run_stepwise(api_url, gates, 3, "--no-events", "--interval", "0.02")
    assert code == 0, err
    assert out == "steps: 3\n"
    assert err[-1].endswith(": successful 100% finished"), err
    assert _step_lines(err) == [step_message(step, 3) for step in (1, 2, 3)], err


def _steps_seen(seen: list[StatusInfo]) -> list[str]:
    """The `stepwise` steps among these statuses, each once, in order."""
    return list(dict.fromkeys(s.message for s in seen
                              if s.message and s.message.startswith("step ")))


def _follow_stepwise(api_url: str, client: httpx.Client, gates: Gates, steps: int,
                     watch: Watch) -> list[StatusInfo]:
    """Every status `follow` gives of a `stepwise` job let past each step once seen."""
    job_id = start_job(client, "stepwise", {"gate": gates.path, "steps": steps}).id
    seen = []
    try:
        with OGCClient(api_url) as ogc:
            for status in follow(ogc, StatusInfo(jobID=job_id, status=StatusCode.ACCEPTED),
                                 watch):
                seen.append(status)
                gates.pass_step(status.message, steps)
    finally:
        gates.open_all()
    return seen


def test_the_poller_alone_reaches_the_end_of_a_real_job(client: httpx.Client, api_url: str,
                                                        tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    seen = _follow_stepwise(api_url, client, gates, 3,
                            Watch(events=False, interval=0.02, timeout=60))
    assert seen[-1].status is StatusCode.SUCCESSFUL
    assert all(not s.status.terminal for s in seen[:-1])
    # It polled while the job ran: the job could not end before the poller saw each step.
    assert _steps_seen(seen) == [step_message(step, 3) for step in (1, 2, 3)]


def test_the_event_stream_gives_every_status_up_to_the_end(client: httpx.Client,
                                                           api_url: str, tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "stepwise", {"gate": gates.path, "steps": 3}).id
    seen = []
    try:
        with OGCClient(api_url) as ogc:
            for status in ogc.events(job_id, read_timeout=60):
                seen.append(status)
                gates.pass_step(status.message, 3)
    finally:
        gates.open_all()
    assert seen[-1].status is StatusCode.SUCCESSFUL
    assert seen[-1].progress == 100
    assert all(s.jobID == job_id for s in seen)
    assert _steps_seen(seen) == [step_message(step, 3) for step in (1, 2, 3)]
    assert {s.progress for s in seen} >= {0, 33, 66, 100}


def test_async_flag_makes_a_job_of_a_sync_process(capsys: pytest.CaptureFixture[str],
                                                  api_url: str) -> None:
    value = unique("forced-async")
    code, out, err = cli(capsys, "run", "--async", "--plain", "echo", f"value={value}",
                         "--url", api_url)
    assert code == 0, err
    assert out.splitlines()[0] == f'value: "{value}"', out
    assert re.match(r"job [0-9a-f]+: ", err), err


def test_a_job_still_running_at_the_timeout_is_reported(
    capsys: pytest.CaptureFixture[str], client: httpx.Client, api_url: str, tmp_path: Path,
) -> None:
    gates = Gates(tmp_path / "gates")  # never opened while the command waits
    try:
        code, _, err = cli(capsys, "run", "--plain", "--timeout", "0.3", "stepwise",
                           f"gate={gates.path}", "steps=1", "--url", api_url)
        job_id = err.split()[1].rstrip(":")
        assert code == 1
        last = err.splitlines()[-1]
        assert last.startswith(f"error: job {job_id} is still "), err
        assert "after 0.3 s" in last
        assert client.delete(f"/jobs/{job_id}").status_code == 200
    finally:
        gates.open_all()


# -- errors -----------------------------------------------------------------------------------

def test_a_failing_process_exits_1_with_its_message(capsys: pytest.CaptureFixture[str],
                                                    api_url: str) -> None:
    message = unique("it broke")
    code, out, err = cli(capsys, "run", "fail", f"message={message}", "--url", api_url)
    assert (code, out) == (1, "")
    assert_one_error_line(err, "job ")
    match = re.fullmatch(rf"error: job ([0-9a-f]+) failed: 500 process-error: {message}\n", err)
    assert match, err
    assert OGCClient(api_url).status(match[1]).status is StatusCode.FAILED


def test_a_failed_async_job_exits_1_with_its_exception(capsys: pytest.CaptureFixture[str],
                                                       api_url: str) -> None:
    message = unique("async break")
    code, out, err = cli(capsys, "run", "--async", "--plain", "fail", f"message={message}",
                         "--url", api_url)
    assert (code, out) == (1, "")
    last = err.splitlines()[-1]
    assert re.fullmatch(rf"error: job [0-9a-f]+ failed: 500 process-error: {message}", last), err
    assert "Traceback" not in err


def test_an_unknown_process_exits_1_with_no_such_process(capsys: pytest.CaptureFixture[str],
                                                         api_url: str) -> None:
    name = unique("nope")
    code, out, err = cli(capsys, "run", name, "--url", api_url)
    assert (code, out) == (1, "")
    assert err == f"error: 404 no-such-process: no process with id '{name}'\n"


def test_an_input_the_process_does_not_have_is_refused(capsys: pytest.CaptureFixture[str],
                                                       api_url: str) -> None:
    code, _, err = cli(capsys, "run", "echo", "nope=hi", "--url", api_url)
    assert code == 1
    assert_one_error_line(err, "process 'echo' has no input 'nope' (its inputs: value")


def test_a_value_that_is_not_a_number_is_refused(capsys: pytest.CaptureFixture[str],
                                                 api_url: str) -> None:
    code, _, err = cli(capsys, "run", "add", "a=two", "b=1", "--url", api_url)
    assert code == 1
    assert_one_error_line(err, "input 'a' takes number (as JSON), not 'two'")


def test_an_invalid_value_is_reported_as_the_server_words_it(
    capsys: pytest.CaptureFixture[str], api_url: str,
) -> None:
    code, _, err = cli(capsys, "run", "solid_png", "width=0", "--url", api_url)
    assert code == 1
    assert_one_error_line(err, "400 InvalidParameterValue: input 'width'")


@pytest.mark.parametrize("command", [["run", "echo", "value=x"], ["processes"], ["jobs"]])
def test_a_server_that_is_down_exits_2_with_one_line(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # bound and released: nobody listens there
    done = cli_process(*command, "--url", url)
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_error_line(done.stderr, f"cannot reach {url}: ")


def test_a_servers_text_is_printed_as_text_without_escape_sequences_or_markup(
        capsys: pytest.CaptureFixture[str], api_url: str) -> None:
    tag = unique("tricks")
    message = f"{tag} {TERMINAL_TRICKS}"
    code, out, err = cli(capsys, "run", "fail", f"message={message}", "--url", api_url)
    assert (code, out) == (1, "")
    assert re.fullmatch(rf"error: job [0-9a-f]+ failed: 500 process-error: {re.escape(tag)} "
                        rf"{re.escape(TRICKS_SHOWN)}\n", err), err
    code, out, err = cli(capsys, "run", "--async", "--plain", "fail", f"message={message}",
                         "--url", api_url)
    assert code == 1 and not unprintable(err), err
    assert f": failed {tag} {TRICKS_SHOWN}\n" in err  # the job's last status, then its error
    listing = ["jobs", "--process", "fail", "--limit", "1000", "--url", api_url]
    code, out, _ = cli(capsys, *listing)
    assert code == 0 and not unprintable(out), out
    assert TRICKS_SHOWN in next(line for line in out.splitlines() if tag in line)
    code, out, _ = cli(capsys, *listing, "--json")
    assert code == 0 and not unprintable(out), out
    assert message in {job.get("message") for job in json.loads(out)["jobs"]}  # the same doc


# -- listings ---------------------------------------------------------------------------------

def test_processes_table_lists_the_example_processes(capsys: pytest.CaptureFixture[str],
                                                     api_url: str) -> None:
    code, out, _ = cli(capsys, "processes", "--url", api_url)
    assert code == 0
    rows = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert {"echo", "sleep", "fail", "add", "solid_png", "number_stats"} <= rows
    sleep_row = next(line for line in out.splitlines() if "│ sleep " in line)
    assert sleep_row.split("│")[4].strip() == "async, dismiss"


def test_jobs_table_lists_a_job_just_run(capsys: pytest.CaptureFixture[str],
                                         client: httpx.Client, api_url: str) -> None:
    job_id = start_job(client, "echo", {"value": unique("listed")}).id
    code, out, _ = cli(capsys, "jobs", "--process", "echo", "--limit", "1000", "--url", api_url)
    assert code == 0
    row = next((line for line in out.splitlines() if job_id in line), None)
    assert row is not None, out
    assert "│ echo " in row
    code, out, _ = cli(capsys, "jobs", "--process", "echo", "--json", "--url", api_url)
    assert code == 0
    listed = json.loads(out)
    assert job_id in {job["jobID"] for job in listed["jobs"]}
    assert any(link["rel"] == "self" for link in listed["links"]), listed


def test_processes_json_prints_the_process_list_document(
    capsys: pytest.CaptureFixture[str], api_url: str,
) -> None:
    code, out, _ = cli(capsys, "processes", "--json", "--url", api_url)
    assert code == 0
    listed = json.loads(out)
    assert "echo" in {summary["id"] for summary in listed["processes"]}
    assert any(link["rel"] == "self" for link in listed["links"]), listed


def test_processes_with_an_id_describes_the_process(capsys: pytest.CaptureFixture[str],
                                                    api_url: str) -> None:
    code, out, _ = cli(capsys, "processes", "echo", "--url", api_url)
    assert code == 0
    assert out.startswith("echo ")
    rows = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert {"value", "pause", "array", "bbox", "object", "mixed", "text"} <= rows, out
    code, out, _ = cli(capsys, "processes", "echo", "--json", "--url", api_url)
    assert code == 0
    assert json.loads(out)["inputs"]["value"]["schema"] == {"type": "string"}
    code, _, err = cli(capsys, "processes", "nope", "--url", api_url)
    assert code == 1
    assert_one_error_line(err, "404 no-such-process: ")


# -- inputs from the description, without a server -------------------------------------------

def test_a_file_for_a_binary_input_becomes_a_base64_qualified_value(tmp_path: Path) -> None:
    description = ProcessDescription(id="p", inputs={
        "image": InputDescription(schema={"type": "string", "format": "binary",
                                          "contentMediaType": "image/png"}),
        "flags": InputDescription(schema={"type": "array", "items": {"type": "boolean"}}),
        "n": InputDescription(schema={"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        "tag": InputDescription(schema={"type": "string"}, maxOccurs="unbounded"),
    })
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG_SIGNATURE)
    inputs = parse_inputs([f"image=@{path}", "flags=[true,false]", "n=null", "tag=a",
                           "tag=\\@b"], description)
    assert inputs == {
        "image": {"value": "iVBORw0KGgo=", "encoding": "base64", "mediaType": "image/png"},
        "flags": [True, False], "n": None, "tag": ["a", "@b"],
    }


def test_the_bar_on_a_terminal_ends_full_with_the_last_message(client: httpx.Client,
                                                               api_url: str) -> None:
    job_id = start_job(client, "sleep", {"seconds": 0.2}).id
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    start = StatusInfo(jobID=job_id, status=StatusCode.ACCEPTED)
    with OGCClient(api_url) as ogc, BarView(terminal) as bar:
        for status in follow(ogc, start, Watch()):
            bar.show(status)
    shown = screen.getvalue()
    assert f"job {job_id}" in shown
    final = shown.rsplit("\x1b[2K", 1)[-1]  # the last frame, after its erase-line
    assert "successful" in final and "100%" in final and "finished" in final, final


# -- one job, and Part 4 job management -------------------------------------------------------

def _job_line(out: str) -> str:
    match = re.search(r"^job: ([0-9a-f]+)$", out, re.MULTILINE)
    assert match, out
    return match[1]


def test_a_job_is_created_updated_started_and_read_from_the_command_line(
    capsys: pytest.CaptureFixture[str], api_url: str,
) -> None:
    url = ["--url", api_url]
    code, out, err = cli(capsys, "jobs", "create", "add", "a=1", "b=2", *url)
    assert code == 0, err
    job_id = _job_line(out)
    assert "status: created" in out.splitlines()
    code, out, err = cli(capsys, "jobs", "update", job_id, "a=40", *url)
    assert (code, err) == (0, ""), err
    code, out, _ = cli(capsys, "jobs", "definition", job_id, *url)
    assert json.loads(out)["inputs"] == {"a": 40, "b": 2}
    code, out, err = cli(capsys, "jobs", "start", job_id, "--wait", *url)
    assert (code, out) == (0, "sum: 42.0\n"), err
    code, out, _ = cli(capsys, "jobs", job_id, *url)  # a bare id shows the job
    assert code == 0 and f"job: {job_id}" in out and "status: successful" in out, out
    code, out, _ = cli(capsys, "jobs", "show", job_id, "--json", *url)
    assert json.loads(out)["status"] == "successful"
    code, out, _ = cli(capsys, "jobs", "results", job_id, *url)
    assert (code, out) == (0, "sum: 42.0\n")
    code, out, _ = cli(capsys, "jobs", "prov", job_id, *url)
    assert code == 0 and "activity" in json.loads(out), out
    code, out, _ = cli(capsys, "jobs", "prov", job_id, "--provn", *url)
    assert code == 0 and out.startswith("document\n"), out
    code, _, err = cli(capsys, "jobs", "update", job_id, "a=1", *url)
    assert code == 1
    assert_one_error_line(err, "409 ")


def test_a_job_is_dismissed_from_the_command_line(capsys: pytest.CaptureFixture[str],
                                                  client: httpx.Client, api_url: str) -> None:
    job_id = start_job(client, "sleep", {"seconds": 30}).id
    code, out, err = cli(capsys, "jobs", "dismiss", job_id, "--url", api_url)
    assert code == 0, err
    assert "status: dismissed" in out.splitlines(), out
    assert OGCClient(api_url).status(job_id).status is StatusCode.DISMISSED


def test_job_commands_refuse_what_cannot_be_a_job(capsys: pytest.CaptureFixture[str],
                                                  api_url: str, tmp_path: Path) -> None:
    url = ["--url", api_url]
    code, _, err = cli(capsys, "jobs", "show", "0" * 32, *url)
    assert code == 1
    assert_one_error_line(err, "404 no-such-job: ")
    code, _, err = cli(capsys, "jobs", "../../etc/passwd", *url)
    assert code == 1 and err.startswith("error: 404 "), err
    code, _, err = cli(capsys, "jobs", "create", "add", "a=two", "b=1", *url)
    assert code == 1
    assert_one_error_line(err, "input 'a' takes number (as JSON), not 'two'")
    bad = tmp_path / "definition.json"
    bad.write_text("[1, 2]")
    code, _, err = cli(capsys, "jobs", "create", "--file", str(bad), *url)
    assert code == 1
    assert_one_error_line(err, f"the definition in {bad} is not a JSON object")
    bad.write_text('{"process": "add", "inputs": {"a": "x", "b": 1}}')
    code, _, err = cli(capsys, "jobs", "create", "--file", str(bad), *url)
    assert code == 1 and err.startswith("error: 400 "), err
