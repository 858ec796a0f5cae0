"""Finch's own kernel checks through jupyter_client: interrupts, the control channel, forged and
malformed messages, restarts, huge cells, vanishing clients, a notebook run by nbclient, and security
(listening addresses, the history file's mode).

Run through Tests/Kernel/run.sh, which installs the kernelspec of the finch binary under test.
"""
import hashlib
import hmac
import json
import os
import queue
import signal
import subprocess
import time
import uuid

import nbformat
import pytest
import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session
from nbclient import NotebookClient

TIMEOUT = 15


# Helpers -------------------------------------------------------------------------------------------

def wait_reply(kc, msg_id, timeout=TIMEOUT, channel="shell"):
    """The reply to msg_id on channel (other replies are skipped)."""
    deadline = time.monotonic() + timeout
    get = getattr(kc, f"get_{channel}_msg")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {channel} reply to {msg_id} within {timeout} s")
        try:
            msg = get(timeout=remaining)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def iopub_until_idle(kc, msg_id, timeout=TIMEOUT):
    """The iopub messages caused by msg_id, through its idle status."""
    deadline = time.monotonic() + timeout
    messages = []
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise TimeoutError(f"no idle status for {msg_id}; got {[m['msg_type'] for m in messages]}")


def wait_for_iopub(kc, msg_id, msg_type, timeout=TIMEOUT):
    """Waits until an iopub message of msg_type caused by msg_id arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == msg_type:
            return msg
    raise TimeoutError(f"no {msg_type} for {msg_id}")


def run_cell(kc, code, timeout=TIMEOUT, **kwargs):
    """(reply, iopub messages) of executing code."""
    msg_id = kc.execute(code, **kwargs)
    reply = wait_reply(kc, msg_id, timeout)
    return reply, iopub_until_idle(kc, msg_id, timeout)


def result_text(outputs):
    results = [m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "execute_result"]
    return results[0] if results else None


def raw_shell(km):
    """A DEALER connected to the kernel's shell port, outside any jupyter_client machinery."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"{km.transport}://{km.ip}:{km.shell_port}")
    return sock


def signature(key, parts):
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


def header(msg_type):
    return json.dumps({
        "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": uuid.uuid4().hex, "username": "test",
        "date": "2024-01-01T00:00:00.000000Z", "version": "5.4",
    }).encode()


def no_iopub_for(kc, msg_id, seconds=0.5):
    """Whether no iopub message caused by msg_id arrives within seconds (the kernel ignored it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return False
    return True


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="finch", startup_timeout=60)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel()


def assert_alive(kc):
    reply, outputs = run_cell(kc, "6*7")
    assert reply["content"]["status"] == "ok"
    assert result_text(outputs) == "42"


# Tests ---------------------------------------------------------------------------------------------

def test_rich_outputs_carry_the_json_form_under_finch_s_own_type(kernel):
    """JupyterLab's JSON viewer outranks text/html and image/svg+xml: an application/json entry would make
    every table and chart show as a JSON tree there, so the JSON form travels as application/vnd.finch+json."""
    _, kc = kernel
    reply, outputs = run_cell(kc, "plot schedule kind=cosine steps=20")
    assert reply["content"]["status"] == "ok"
    bundles = [m["content"]["data"] for m in outputs if m["msg_type"] in ("execute_result", "display_data")]
    assert bundles, "no rich output"
    for data in bundles:
        assert "application/json" not in data
        assert {"text/plain", "image/svg+xml", "application/vnd.finch+json"} <= set(data)
        assert isinstance(data["application/vnd.finch+json"], dict)


def test_generate_streams_tokens_as_they_come(kernel):
    """`generate` sends the reply as stream messages while it decodes (more than one, in order), then a summary."""
    _, kc = kernel
    reply, outputs = run_cell(kc, 'model load "SmolLM2-135M-Instruct-GGUF"\ngenerate "What is 7 times 8?" max_tokens=12',
                              timeout=120)
    assert reply["content"]["status"] == "ok"
    pieces = [m["content"]["text"] for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"]
    assert len(pieces) >= 5, pieces
    assert "".join(pieces).startswith("To find 7")
    summary = [m for m in outputs if m["msg_type"] == "execute_result"]
    assert summary and "tokens/s" in summary[0]["content"]["data"]["text/plain"]


def test_interrupt_message_stops_a_long_cell_within_a_second(kernel):
    km, kc = kernel
    msg_id = kc.execute("sleep 30")
    wait_for_iopub(kc, msg_id, "execute_input")
    time.sleep(0.3)
    start = time.monotonic()
    km.interrupt_kernel()  # interrupt_mode "message": an interrupt_request on control
    reply = wait_reply(kc, msg_id, timeout=5)
    elapsed = time.monotonic() - start
    assert reply["content"]["status"] == "error"
    assert elapsed < 1.0, f"interrupt took {elapsed:.2f} s"
    iopub_until_idle(kc, msg_id)
    assert_alive(kc)


def test_sigint_stops_a_long_cell_too(kernel):
    km, kc = kernel
    msg_id = kc.execute("sleep 30")
    wait_for_iopub(kc, msg_id, "execute_input")
    time.sleep(0.3)
    start = time.monotonic()
    km.signal_kernel(signal.SIGINT)
    reply = wait_reply(kc, msg_id, timeout=5)
    assert reply["content"]["status"] == "error"
    assert time.monotonic() - start < 1.0
    iopub_until_idle(kc, msg_id)
    assert_alive(kc)


def test_kernel_info_on_control_even_while_a_cell_runs(kernel):
    km, kc = kernel
    request = kc.session.msg("kernel_info_request")
    kc.control_channel.send(request)
    reply = wait_reply(kc, request["header"]["msg_id"], channel="control")
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["language_info"]["name"] == "finch"
    assert tuple(int(p) for p in reply["header"]["version"].split(".")) >= (5, 3)

    busy = kc.execute("sleep 3")
    wait_for_iopub(kc, busy, "execute_input")
    request = kc.session.msg("kernel_info_request")
    start = time.monotonic()
    kc.control_channel.send(request)
    wait_reply(kc, request["header"]["msg_id"], channel="control", timeout=2)
    assert time.monotonic() - start < 0.5
    km.interrupt_kernel()
    wait_reply(kc, busy)
    iopub_until_idle(kc, busy)


def test_stop_on_error_aborts_queued_cells(kernel):
    _, kc = kernel
    failing = kc.execute("frobnicate")
    queued = kc.execute("6*7")
    assert wait_reply(kc, failing)["content"]["status"] == "error"
    assert wait_reply(kc, queued)["content"]["status"] == "aborted"
    iopub_until_idle(kc, failing)
    iopub_until_idle(kc, queued)
    assert_alive(kc)


def test_forged_signature_is_ignored(kernel):
    km, kc = kernel
    sock = raw_shell(km)
    try:
        forged = Session(key=b"not-the-kernel-key", signature_scheme="hmac-sha256")
        sent = forged.send(sock, "execute_request", content={
            "code": 'print "FORGED"', "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        assert sock.poll(500) == 0, "the kernel answered a forged message"
        assert no_iopub_for(kc, sent["header"]["msg_id"])

        honest = Session(key=km.session.key, signature_scheme="hmac-sha256")
        sent = honest.send(sock, "kernel_info_request", content={})
        assert sock.poll(TIMEOUT * 1000), "no reply to a properly signed message"
        _, frames = honest.feed_identities(sock.recv_multipart())
        reply = honest.deserialize(frames)  # checks the kernel's signature
        assert reply["parent_header"]["msg_id"] == sent["header"]["msg_id"]
        assert reply["content"]["status"] == "ok"
    finally:
        sock.close()
    assert_alive(kc)


def test_malformed_messages_and_unknown_types_are_survived(kernel):
    km, kc = kernel
    key = km.session.key
    sock = raw_shell(km)
    try:
        bad_json = [b"{not json", b"{}", b"{}", b"{}"]
        sock.send_multipart([b"<IDS|MSG>", signature(key, bad_json)] + bad_json)
        truncated = [header("execute_request"), b"{}"]
        sock.send_multipart([b"<IDS|MSG>", signature(key, truncated)] + truncated)
        sock.send_multipart([b"no delimiter at all"])
        sock.send_multipart([b"<IDS|MSG>"])
        content_not_json = [header("execute_request"), b"{}", b"{}", b'{"code": "6*7"']
        sock.send_multipart([b"<IDS|MSG>", signature(key, content_not_json)] + content_not_json)

        session = Session(key=key, signature_scheme="hmac-sha256")
        unknown = session.send(sock, "frobnicate_request", content={"x": 1})
        assert sock.poll(500) == 0
        # An unknown request still gets busy/idle, so front ends do not think the kernel hung.
        states = [m["content"]["execution_state"] for m in iopub_until_idle(kc, unknown["header"]["msg_id"])]
        assert states == ["busy", "idle"]
    finally:
        sock.close()
    assert_alive(kc)


def test_huge_cell_is_survived(kernel):
    _, kc = kernel
    code = "# comment\n" * (1024 * 1024 // 10)
    reply, outputs = run_cell(kc, code, timeout=120)
    assert reply["content"]["status"] == "ok"
    inputs = [m for m in outputs if m["msg_type"] == "execute_input"]
    assert inputs and len(inputs[0]["content"]["code"]) == len(code)
    assert_alive(kc)


def test_client_that_disconnects_mid_cell(kernel):
    km, kc = kernel
    # Another front end (its own session, as a second notebook tab or a console has).
    leaving = BlockingKernelClient()
    leaving.load_connection_info(km.get_connection_info())
    leaving.start_channels()
    msg_id = leaving.execute("sleep 1")
    wait_for_iopub(kc, msg_id, "execute_input")  # kc sees all iopub traffic
    leaving.stop_channels()
    iopub_until_idle(kc, msg_id)
    assert_alive(kc)


def test_restart_keeps_working_and_history_persists():
    km, kc = start_new_kernel(kernel_name="finch", startup_timeout=60)
    try:
        marker = f'print "before restart {uuid.uuid4().hex}"'
        reply, _ = run_cell(kc, marker)
        assert reply["content"]["status"] == "ok"
        pid = km.provisioner.process.pid

        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        assert km.provisioner.process.pid != pid
        reply, outputs = run_cell(kc, "6*7")
        assert reply["content"]["execution_count"] == 1
        assert result_text(outputs) == "42"

        msg_id = kc.history(hist_access_type="tail", n=10, output=False, raw=True)
        history = wait_reply(kc, msg_id)["content"]["history"]
        sessions = {source: session for session, _, source in history}
        assert marker in sessions, "the cell run before the restart is in the history"
        assert sessions[marker] < sessions["6*7"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_shutdown_reply_and_exit():
    km, kc = start_new_kernel(kernel_name="finch", startup_timeout=60)
    try:
        request = kc.session.msg("shutdown_request", {"restart": False})
        kc.control_channel.send(request)
        reply = wait_reply(kc, request["header"]["msg_id"], channel="control")
        assert reply["content"] == {"status": "ok", "restart": False}
        deadline = time.monotonic() + 5
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not km.is_alive(), "the kernel exits after its shutdown reply"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_notebook_runs_with_nbclient():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in
                      ["x = 6*7", "x", 'print "hello from nbclient"', "plot schedule kind=cosine steps=100"]]
    NotebookClient(notebook, kernel_name="finch", timeout=120).execute()
    result = notebook.cells[1].outputs[0]
    assert result.output_type == "execute_result"
    assert result.data["text/plain"] == "42"
    assert notebook.cells[1].execution_count == 2
    assert notebook.cells[2].outputs[0].text == "hello from nbclient\n"
    assert any("image/svg+xml" in output.get("data", {}) for output in notebook.cells[3].outputs)


def test_listens_only_on_the_connection_file_address(kernel):
    km, kc = kernel
    assert_alive(kc)
    pid = km.provisioner.process.pid
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    listening = [line.split()[3] for line in lines if f"pid={pid}," in line]
    ports = {km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port}
    assert {int(address.rsplit(":", 1)[1]) for address in listening} == ports, listening
    assert all(address.rsplit(":", 1)[0] == km.ip for address in listening), listening


def test_history_file_is_owner_only(kernel):
    km, kc = kernel
    assert_alive(kc)
    path = os.environ["FINCH_HISTORY_FILE"]
    assert os.stat(path).st_mode & 0o777 == 0o600
