"""Fault injection against a finch binary: nothing a person trained is lost when the process is killed,
the disk fills, the client vanishes or Ctrl-C lands anywhere in a training step. Run through faults.sh
(which installs the kernelspec into a temporary Jupyter path); each scenario prints PASS/FAIL and its time.

    faults.py --finch FINCH_BINARY [--only NAME ...]

Uses all-MiniLM-L6-v2 under $FINCH_MODELS (default ~/.cache/finch/models), 40 rows of SST-2 and LoRA r=4
(a training step takes ~0.1 s). Kills at exact moments come from the FINCH_FAULT hook
(Sources/Engine/Checkpoint/FaultInjection.swift).
"""
import argparse
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("FINCH_MODELS", os.path.expanduser("~/.cache/finch/models"))
TRAIN = "train max_steps={steps} batch=4 lr=1e-3 max_length=32 seed=3"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# Files ---------------------------------------------------------------------------------------------

def safetensors_ok(path):
    """Whether path is a whole safetensors file: header JSON parses, every tensor's bytes are present."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        return False
    (size,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + size])
    except ValueError:
        return False
    end = max([entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"], default=0)
    return 8 + size + end == len(data)


def checkpoint_ok(folder):
    """Whether a checkpoint-N folder holds every file whole."""
    for name in ("trainer_state.json", "config.json", "adapter/adapter_config.json"):
        with open(os.path.join(folder, name)) as f:
            json.load(f)
    return all(safetensors_ok(os.path.join(folder, name))
               for name in ("trainable.safetensors", "optimizer.safetensors", "adapter/adapter_model.safetensors"))


def checkpoints(folder):
    """Step → path of the checkpoint-N folders (what a resume may pick)."""
    found = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith("checkpoint-") and name[len("checkpoint-"):].isdigit():
            found[int(name[len("checkpoint-"):])] = os.path.join(folder, name)
    return found


def temporaries(root):
    """Paths of leftover temporary files and folders (`.NAME.tmp-…`) under root."""
    found = []
    for folder, dirs, files in os.walk(root):
        found += [os.path.join(folder, n) for n in dirs + files if ".tmp-" in n]
    return found


def digests(root, skip=()):
    """Relative path → sha256 of every file under root."""
    result = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.relpath(path, root) in skip:
                continue
            with open(path, "rb") as f:
                result[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return result


# finch run -----------------------------------------------------------------------------------------

class Finch:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.setup = (f'data load "{work}/tiny.tsv" text=content label=label\n'
                      "data split train=75% valid=25% test=0% seed=7\n"
                      'model load "all-MiniLM-L6-v2"\n'
                      "lora r=4 alpha=8 dropout=0 targets=[query, value]\n")

    def script(self, name, body):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(self.setup + body)
        return path

    def start(self, name, body, fault=None):
        env = dict(os.environ, FINCH_MODELS=MODELS)
        env.pop("FINCH_FAULT", None)
        if fault:
            env["FINCH_FAULT"] = fault
        return subprocess.Popen([self.binary, "run", self.script(name, body)], cwd=self.work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, name, body, fault=None, timeout=120):
        """(exit status, output) of `finch run` on setup + body."""
        process = self.start(name, body, fault)
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out


# Scenarios: kills ----------------------------------------------------------------------------------

def kill_during_training(finch, rng):
    """SIGKILL at a random moment of a run writing checkpoints every 5 steps: every checkpoint-N left is
    whole, `train resume` in a new process finishes the run, and its adapter equals an uninterrupted run's."""
    ck = os.path.join(finch.work, "ck-kill")
    body = TRAIN.format(steps=40) + f' save_every=5 checkpoints="{ck}"\n'
    process = finch.start("kill.finch", body)
    deadline = time.monotonic() + 60
    while 15 not in checkpoints(ck) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.8))
    process.kill()
    process.wait()
    left = checkpoints(ck)
    check(left and max(left) < 40, f"the kill came too late or too early: checkpoints {sorted(left)}")
    for step, path in left.items():
        check(checkpoint_ok(path), f"checkpoint-{step} is not whole after the kill")
    status, out = finch.run("resume.finch", f'train resume checkpoints="{ck}"\nsave adapter "{finch.work}/resumed"\n')
    check(status == 0 and "(step 40 of 40)" in out, f"resume failed (status {status}):\n{out[-1500:]}")
    status, out = finch.run("straight.finch", TRAIN.format(steps=40) + f'\nsave adapter "{finch.work}/straight"\n')
    check(status == 0, f"the uninterrupted run failed:\n{out[-1500:]}")
    same = digests(os.path.join(finch.work, "resumed")) == digests(os.path.join(finch.work, "straight"))
    check(same, "the resumed adapter differs from the uninterrupted run's")
    check(not temporaries(ck), f"temporaries left after the resume: {temporaries(ck)}")
    return f"killed after checkpoint-{max(left)}, resumed to step 40, adapter byte-identical"


def kill_during_checkpoint_write(finch, rng):
    """SIGKILL inside the second checkpoint's write (mid-file, before a file's rename, before the folder's
    swap): checkpoint-5 stays whole, no checkpoint-10 appears, and a resume finishes and cleans up."""
    results = []
    for fault in ("file-partial:trainable.safetensors@2", "file-before-rename:optimizer.safetensors@2",
                  "file-partial:adapter_model.safetensors@2", "folder-before-swap:checkpoint-10"):
        ck = os.path.join(finch.work, "ck-" + fault.split(":")[0] + str(len(results)))
        status, out = finch.run("ckfault.finch", TRAIN.format(steps=15) + f' save_every=5 checkpoints="{ck}"\n', fault=fault)
        check(status == -signal.SIGKILL, f"{fault}: expected a SIGKILL, got status {status}:\n{out[-800:]}")
        left = checkpoints(ck)
        check(sorted(left) == [5], f"{fault}: checkpoints {sorted(left)} (expected only checkpoint-5)")
        check(checkpoint_ok(left[5]), f"{fault}: checkpoint-5 is not whole")
        status, out = finch.run("ckresume.finch", f'train resume checkpoints="{ck}"\n')
        check(status == 0 and "(step 15 of 15)" in out, f"{fault}: resume failed (status {status}):\n{out[-1500:]}")
        check(not temporaries(ck), f"{fault}: temporaries left after the resume: {temporaries(ck)}")
        results.append(fault.split("@")[0])
    return "; ".join(results)


def kill_during_save(finch, kind):
    """SIGKILL inside `save adapter` / `export model` over an earlier save: the earlier folder is unchanged
    (byte for byte equal to a reference copy) and loads in a new process; the next save cleans up."""
    if kind == "adapter":
        command, file = "save adapter", "adapter_model.safetensors"
        faults = [f"file-partial:{file}@3", "file-before-rename:adapter_config.json@3", "folder-before-swap:out@2"]
        load = 'load adapter "{}"\n'
    else:
        command, file = "export model", "model.safetensors"
        faults = [f"file-partial:{file}@3", "file-before-rename:config.json@3", "folder-before-swap:out@2"]
        load = 'model load "{}"\npredict "a fine film"\n'
    results = []
    for fault in faults:
        base = os.path.join(finch.work, f"{kind}-{len(results)}")
        os.makedirs(base)
        out_dir, ref = os.path.join(base, "out"), os.path.join(base, "ref")
        body = (TRAIN.format(steps=2) + f'\n{command} "{out_dir}"\n{command} "{ref}"\n'
                + TRAIN.format(steps=4) + f'\n{command} "{out_dir}"\nprint "NOT KILLED"\n')
        status, out = finch.run("save.finch", body, fault=fault)
        check(status == -signal.SIGKILL, f"{fault}: expected a SIGKILL, got status {status}:\n{out[-800:]}")
        check(digests(out_dir) == digests(ref), f"{fault}: the earlier {kind} folder changed")
        check(safetensors_ok(os.path.join(out_dir, file)), f"{fault}: {file} does not parse")
        others = [n for n in os.listdir(base) if n not in ("out", "ref")]
        check(all(n.startswith(".out.tmp-") for n in others), f"{fault}: entries a reader could take for a save: {others}")
        status, out = finch.run("load.finch", load.format(out_dir) + f'{command} "{out_dir}"\n')
        check(status == 0, f"{fault}: the earlier folder does not load or save again (status {status}):\n{out[-1500:]}")
        check(not temporaries(base), f"{fault}: temporaries left after the next save: {temporaries(base)}")
        results.append(fault.split("@")[0])
    return "; ".join(results)


# Kernel helpers ------------------------------------------------------------------------------------

def wait_reply(kc, msg_id, timeout, channel="shell"):
    deadline = time.monotonic() + timeout
    get = getattr(kc, f"get_{channel}_msg")
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failure(f"no {channel} reply within {timeout} s")
        try:
            msg = get(timeout=remaining)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def until_idle(kc, msg_id, timeout):
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
    raise Failure(f"no idle status within {timeout} s")


def cell(kc, code, timeout=60, expect="ok"):
    """(reply content, text of every output) of a cell; fails unless its status is `expect`."""
    msg_id = kc.execute(code)
    reply = wait_reply(kc, msg_id, timeout)["content"]
    outputs = until_idle(kc, msg_id, timeout)
    text = []
    for m in outputs:
        c = m["content"]
        if m["msg_type"] == "stream":
            text.append(c["text"])
        elif m["msg_type"] in ("execute_result", "display_data"):
            text.append(c["data"].get("text/plain", ""))
        elif m["msg_type"] == "error":
            text.append(c["evalue"] + "\n" + "\n".join(c["traceback"]))
    text = "\n".join(text)
    check(reply["status"] == expect, f"cell {code!r}: status {reply['status']} (expected {expect}):\n{text[-1500:]}")
    return reply, text


def alive(kc):
    _, text = cell(kc, "6*7", timeout=20)
    check("42" in text, f"6*7 gave {text!r}")


class Kernel:
    def __init__(self, cwd):
        self.km = KernelManager(kernel_name="finch")
        self.km.start_kernel(cwd=cwd, env=dict(os.environ, FINCH_MODELS=MODELS))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


# Scenarios: disk full, vanished client, interrupts -------------------------------------------------

def disk_full(finch, rng):
    """A full tmpfs as the destination of a checkpoint, `save adapter` and `export model`: each cell fails
    naming the path and "no space left", the kernel goes on, earlier files are unchanged, no temporaries."""
    full = os.path.join(finch.work, "full")
    os.makedirs(full)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", full], capture_output=True, text=True)
    if mounted.returncode != 0:
        return "SKIP: mount -t tmpfs refused (" + (mounted.stderr.strip() or "not root?") + ")"
    kernel = Kernel(finch.work)
    try:
        kc = kernel.kc
        cell(kc, finch.setup)
        cell(kc, TRAIN.format(steps=4) + f' save_every=2 checkpoints="{full}/ck"')
        cell(kc, f'save adapter "{full}/ad"')
        cell(kc, f'export model "{full}/ex" dtype=bf16')
        before = digests(full)
        stats = os.statvfs(full)
        with open(os.path.join(full, "filler"), "wb") as f:
            f.write(b"\0" * (stats.f_bavail * stats.f_frsize - 48 * 1024))
        results = []
        for label, code, path in (("save adapter", f'save adapter "{full}/ad"', f"{full}/ad"),
                                  ("checkpoint", TRAIN.format(steps=4) + f' save_every=2 checkpoints="{full}/ck2"', f"{full}/ck2"),
                                  ("export model", f'export model "{full}/ex" dtype=bf16', f"{full}/ex")):
            reply, text = cell(kc, code, expect="error")
            message = reply["evalue"]
            check(message.startswith(path + "/") and "no space left" in message.lower(),
                  f"{code!r}: the error does not name {path}/… and 'no space left':\n{message}")
            check(digests(full, skip=("filler",)) == before, f"{code!r}: earlier files changed")
            check(not temporaries(full), f"{code!r}: temporaries left: {temporaries(full)}")
            alive(kc)
            results.append(f"{label}: {message.replace(full, 'FULL')}")
        os.remove(os.path.join(full, "filler"))
        _, text = cell(kc, "train resume")
        check("(step 4 of 4)" in text, f"train resume after the full disk did not finish:\n{text[-800:]}")
        check(checkpoint_ok(os.path.join(full, "ck2", "checkpoint-4")), "the resumed run's checkpoint-4 is not whole")
        cell(kc, f'load adapter "{full}/ad"')
        return "; ".join(results) + "; then train resume finished"
    finally:
        kernel.close()
        subprocess.run(["umount", "-l", full])


VANISHING_CLIENT = """
import sys, time
from jupyter_client.blocking.client import BlockingKernelClient
kc = BlockingKernelClient(connection_file=sys.argv[1])
kc.load_connection_file()
kc.start_channels()
msg_id = kc.execute(sys.argv[2])
while True:
    msg = kc.get_iopub_msg(timeout=60)
    if msg["parent_header"].get("msg_id") == msg_id and "step " in str(msg["content"]):
        break
import os
os._exit(0)
"""


def vanished_client(finch, rng):
    """A client sends a long training cell and dies mid-cell: a new client on the same connection file gets
    kernel_info (control at once, shell after the cell), a trivial cell, and the run in `runs`."""
    kernel = Kernel(finch.work)
    try:
        cell(kernel.kc, finch.setup)
        kernel.kc.stop_channels()
        code = TRAIN.format(steps=60)
        child = subprocess.run([sys.executable, "-c", VANISHING_CLIENT, kernel.km.connection_file, code], timeout=120)
        check(child.returncode == 0, f"the vanishing client failed ({child.returncode})")
        kc = BlockingKernelClient(connection_file=kernel.km.connection_file)
        kc.load_connection_file()
        kc.start_channels()
        try:
            request = kc.session.msg("kernel_info_request")
            start = time.monotonic()
            kc.control_channel.send(request)
            wait_reply(kc, request["header"]["msg_id"], 5, channel="control")
            control = time.monotonic() - start
            wait_reply(kc, kc.kernel_info(), 120)
            alive(kc)
            _, text = cell(kc, "runs")
            check("train" in text, f"runs does not show the training run:\n{text}")
            return f"control kernel_info in {control * 1000:.0f} ms while training; shell, 6*7 and runs answered"
        finally:
            kc.stop_channels()
    finally:
        kernel.close()


def interrupts_in_kernel(finch, rng):
    """interrupt_request (and SIGINT) at random moments of training: the cell ends as an error saying it
    was interrupted, then `eval` or `train resume` works and the kernel answers."""
    kernel = Kernel(finch.work)
    delays = []
    try:
        kc = kernel.kc
        cell(kc, finch.setup)
        for attempt in range(8):
            msg_id = kc.execute(TRAIN.format(steps=60))
            started = False
            while not started:
                msg = kc.get_iopub_msg(timeout=10)
                started = msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input"
            delay = rng.uniform(0.0, 2.5)
            delays.append(delay)
            time.sleep(delay)
            if attempt % 4 == 3:
                kernel.km.signal_kernel(signal.SIGINT)
            else:
                kernel.km.interrupt_kernel()
            reply = wait_reply(kc, msg_id, 10)["content"]
            until_idle(kc, msg_id, 10)
            check(reply["status"] == "error" and "interrupt" in (reply.get("evalue", "") + reply.get("ename", "")).lower(),
                  f"attempt {attempt} ({delay:.2f} s): reply {reply}")
            if attempt % 2:
                _, text = cell(kc, "train resume", timeout=60)
                check("(step 60 of 60)" in text, f"train resume after the interrupt did not finish:\n{text[-800:]}")
            else:
                cell(kc, "eval", timeout=60)
            alive(kc)
        return "8 interrupts at " + ", ".join(f"{d:.2f}" for d in delays) + " s; eval/resume worked after each"
    finally:
        kernel.close()


def interrupts_in_run(finch, rng):
    """SIGINT to `finch run` at random moments of training: exit status 130 and an 'interrupted' message,
    never a crash."""
    delays = []
    for attempt in range(3):
        process = finch.start("sigint.finch", TRAIN.format(steps=400) + "\n")
        delay = rng.uniform(1.0, 3.0)
        delays.append(delay)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        check(process.returncode == 130, f"SIGINT at {delay:.2f} s: status {process.returncode}:\n{out[-800:]}")
        check("interrupted" in out, f"SIGINT at {delay:.2f} s: no 'interrupted' message:\n{out[-800:]}")
    return "3 SIGINTs at " + ", ".join(f"{d:.2f}" for d in delays) + " s: status 130 each"


SCENARIOS = [
    ("kill during training", kill_during_training),
    ("kill during a checkpoint write", kill_during_checkpoint_write),
    ("kill during save adapter", lambda finch, rng: kill_during_save(finch, "adapter")),
    ("kill during export model", lambda finch, rng: kill_during_save(finch, "export")),
    ("disk full", disk_full),
    ("client vanishes mid-cell", vanished_client),
    ("interrupts in the kernel", interrupts_in_kernel),
    ("SIGINT to finch run", interrupts_in_run),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finch", required=True)
    parser.add_argument("--only", nargs="*", help="run the scenarios whose name contains one of these words")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    binary = os.path.abspath(args.finch)
    if not os.path.isfile(os.path.join(MODELS, "all-MiniLM-L6-v2", "config.json")):
        print(f"SKIP: the fault scenarios need {MODELS}/all-MiniLM-L6-v2")
        return 0
    print(f"seed {args.seed} (rerun the same random moments with --seed {args.seed})")
    passed = failed = 0
    for name, scenario in SCENARIOS:
        if args.only and not any(word in name for word in args.only):
            continue
        work = tempfile.mkdtemp(prefix="finch-faults-")
        try:
            with open(os.path.join(REPO, "..", "shared", "data", "sst2", "dev.tsv")) as source:
                lines = source.read().splitlines()
            rows = [lines[0]] + [l for l in lines[1:] if l.startswith("0\t")][:20] + [l for l in lines[1:] if l.startswith("1\t")][:20]
            with open(os.path.join(work, "tiny.tsv"), "w") as f:
                f.write("\n".join(rows) + "\n")
            start = time.monotonic()
            try:
                detail = scenario(Finch(binary, work), random.Random(args.seed))
                print(f"PASS: {name} ({time.monotonic() - start:.1f} s): {detail}")
                passed += 1
            except Exception as error:  # a scenario's failure is reported, the others still run
                print(f"FAIL: {name} ({time.monotonic() - start:.1f} s): {error}")
                if not isinstance(error, Failure):
                    traceback.print_exc()
                failed += 1
        finally:
            shutil.rmtree(work, ignore_errors=True)
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
