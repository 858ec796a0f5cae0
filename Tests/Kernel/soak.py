"""Soak: one Finch kernel driven through jupyter_client for N cells of mixed work, watching memory and latency.

    .venv/bin/python Tests/Kernel/soak.py --finch .build/release/finch --cells 1000 [--check] [--seed N]

The mix: trivial cells (`print 1`, `6*7`, timed from execute_request to execute_reply and idle), variables,
help, `data load` of a small real CSV (40 rows of SST-2), data show/stats, `model load` of all-MiniLM-L6-v2,
params, short train runs, predict, errors (syntax, unknown commands, bad arguments), interrupted long cells,
complete_request, inspect_request, history_request, is_complete_request, and kernel restarts (only in the
first 100 cells, so cells 100..N are one kernel lifetime). The kernel's resident memory (VmRSS) is read after
every cell; cell 100 and the last cell run the same probe (a short train, predict, 6*7) so their RSS
compare like with like (between them RSS swings by ~60 MiB with what ran last: a model just loaded is
mapped but not yet touched). It prints cells run, every failure (unexpected status, error or timeout, with the cell), RSS at
cell 100 and at the end with the growth, and p50/p90/p99 of the trivial cells' latency. Exit status 1 on a
failure, or with --check when a goal is missed: RSS growth from cell 100 to the end ≤ 5 %, p99 ≤ 20 ms.

With --finch, the binary's kernelspec is installed into a temporary Jupyter path first (as Tests/Kernel/run.sh
does); without it, the installed "finch" kernelspec runs (Tests/Kernel/test_soak.py, under run.sh).
"""
import argparse
import csv
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import time

GROWTH_GOAL = 5.0      # % RSS growth from cell 100 to the last cell
P99_GOAL = 0.020       # s, trivial cell round trip
MODELS = os.environ.get("FINCH_MODELS", os.path.expanduser("~/.cache/finch/models"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def install_kernelspec(binary, tmp):
    """Installs the binary's kernelspec under tmp and points Jupyter (and the history file) there."""
    subprocess.run([binary, "kernel", "install", "--prefix", f"{tmp}/prefix"], check=True, stdout=subprocess.DEVNULL)
    os.environ.update(JUPYTER_PATH=f"{tmp}/prefix/share/jupyter", JUPYTER_DATA_DIR=f"{tmp}/data",
                      JUPYTER_RUNTIME_DIR=f"{tmp}/runtime", JUPYTER_CONFIG_DIR=f"{tmp}/config",
                      JUPYTER_PLATFORM_DIRS="1", FINCH_HISTORY_FILE=f"{tmp}/history.jsonl", FINCH_MODELS=MODELS)
    for name in ("data", "runtime", "config"):
        os.makedirs(f"{tmp}/{name}", exist_ok=True)


def write_csv(path):
    """40 rows of SST-2's dev set (20 of each label) as a CSV with quoting."""
    with open(os.path.join(REPO, "..", "shared", "data", "sst2", "dev.tsv"), encoding="utf-8") as source:
        rows = [line.rstrip("\n").split("\t") for line in source][1:]
    picked = [r for r in rows if r[0] == "0"][:20] + [r for r in rows if r[0] == "1"][:20]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "text"])
        writer.writerows(picked)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, km, data_file, rng):
        self.km, self.data_file, self.rng = km, data_file, rng
        self.kc = None
        self.failures = []
        self.trivial = []
        self.rss = []
        self.trace = []
        self.has_data = self.has_model = False
        self.connect()

    def connect(self):
        if self.kc:
            self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.has_data = self.has_model = False

    @property
    def pid(self):
        return self.km.provisioner.process.pid

    # Messages ------------------------------------------------------------------------------------

    def reply(self, msg_id, timeout, channel="shell"):
        deadline = time.monotonic() + timeout
        get = getattr(self.kc, f"get_{channel}_msg")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {channel} reply within {timeout} s")
            try:
                msg = get(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def idle(self, msg_id, timeout):
        """The text of the iopub outputs of msg_id, through its idle status."""
        deadline = time.monotonic() + timeout
        text = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no idle status within {timeout} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                return "\n".join(text)
            if kind == "stream":
                text.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                text.append(content["evalue"])

    def execute(self, code, expect="ok", contains=None, timeout=60):
        """Runs a cell; returns its round-trip time. A status other than `expect` or missing text is a failure."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        content = self.reply(msg_id, timeout)["content"]
        text = self.idle(msg_id, timeout)
        elapsed = time.perf_counter() - start
        if content["status"] != expect:
            raise AssertionError(f"status {content['status']} (expected {expect}): {content.get('evalue', text)[:300]}")
        if contains and contains not in text:
            raise AssertionError(f"output lacks {contains!r}: {text[:300]!r}")
        return elapsed

    # Cells -----------------------------------------------------------------------------------------

    def trivial_cell(self):
        code, result = self.rng.choice([("print 1", "1"), ("6*7", "42")])
        self.trivial.append(self.execute(code, contains=result))

    def setup_cells(self):
        self.execute(f'data load "{self.data_file}" text=text label=label\ndata split train=75% valid=25% test=0% seed=7')
        self.has_data = True
        self.execute('model load "all-MiniLM-L6-v2"\nlora r=4 alpha=8 dropout=0 targets=[query, value]', timeout=120)
        self.has_model = True

    def interrupted_cell(self):
        msg_id = self.kc.execute(self.rng.choice(["sleep 30", "train max_steps=500 batch=4 max_length=32"])
                                 if self.has_model else "sleep 30")
        while True:
            msg = self.kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                break
        time.sleep(self.rng.uniform(0.05, 0.6))
        self.km.interrupt_kernel()
        content = self.reply(msg_id, 10)["content"]
        self.idle(msg_id, 10)
        if content["status"] != "error" or "interrupt" not in content.get("evalue", "").lower():
            raise AssertionError(f"not ended as interrupted: {content}")

    def protocol_request(self, kind):
        if kind == "complete":
            content = self.reply(self.kc.complete("dat", 3), 10)["content"]
            ok = content["status"] == "ok" and "data" in " ".join(content["matches"])
        elif kind == "inspect":
            content = self.reply(self.kc.inspect("lora", 4), 10)["content"]
            ok = content["status"] == "ok" and content["found"]
        elif kind == "history":
            content = self.reply(self.kc.history(hist_access_type="tail", n=10), 10)["content"]
            ok = content["status"] == "ok"
        else:
            content = self.reply(self.kc.is_complete("x = [1,"), 10)["content"]
            ok = content["status"] == "incomplete"
        if not ok:
            raise AssertionError(f"{kind}_reply: {content}")

    def one_cell(self, number):
        """Runs cell `number` of the mix; returns its description."""
        if number in self.restarts:
            self.km.restart_kernel(now=False)
            self.connect()
            return "restart"
        if not self.has_data or not self.has_model:
            self.setup_cells()
            return "setup (data load, model load, lora)"
        if number in self.probes:
            # The RSS compared between cell 100 and the last is taken in the same state: after a short
            # train and a predict (weights touched, step buffers allocated), then a trivial cell.
            self.execute("train max_steps=3 batch=4 max_length=32 lr=1e-3", contains="step 3")
            self.execute('predict "a gorgeous , witty , seductive movie ."')
            self.trivial_cell()
            return "probe (train, predict, 6*7)"
        roll = self.rng.random()
        n = number
        if roll < 0.35:
            self.trivial_cell()
            return "trivial"
        mix = [
            (f"v{n} = {n} * 3\nv{n} + 1", "ok", str(n * 3 + 1)),
            (f's{n} = "cell {n}"\nprint s{n}', "ok", f"cell {n}"),
            ("help train", "ok", "max_steps"),
            (f'data load "{self.data_file}" text=text label=label\ndata split train=75% valid=25% test=0% seed=7', "ok", "40 rows"),
            ("data show n=3", "ok", None),
            ("data stats", "ok", None),
            ("params", "ok", "trainable"),
            ("train max_steps=3 batch=4 max_length=32 lr=1e-3", "ok", "step 3"),
            ('predict "a gorgeous , witty , seductive movie ."', "ok", None),
            ("x = ]", "error", None),
            ("frobnicate", "error", None),
            ("train lr=abc", "error", None),
            ('data load "no-such-file.csv" text=text label=label', "error", None),
        ]
        if roll < 0.80:
            code, expect, contains = self.rng.choice(mix)
            self.execute(code, expect=expect, contains=contains)
            return code.splitlines()[0]
        if roll < 0.83:
            self.execute('model load "all-MiniLM-L6-v2"\nlora r=4 alpha=8 dropout=0 targets=[query, value]', timeout=120)
            return "model load"
        if roll < 0.86:
            self.interrupted_cell()
            return "interrupted cell"
        kind = self.rng.choice(["complete", "inspect", "history", "is_complete"])
        self.protocol_request(kind)
        return kind + "_request"

    def run(self, cells, restarts):
        self.restarts = restarts
        self.probes = {min(100, cells), cells}
        for number in range(1, cells + 1):
            description = "?"
            try:
                description = self.one_cell(number)
            except Exception as error:  # every unexpected outcome is recorded with its cell
                self.failures.append(f"cell {number} ({description}): {type(error).__name__}: {error}")
                if not self.km.is_alive():
                    self.failures.append(f"cell {number}: the kernel died; restarting it")
                    self.km.restart_kernel(now=True)
                    self.connect()
            self.rss.append(rss_kib(self.pid))
            self.trace.append(f"{number}\t{self.rss[-1]}\t{description}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finch", help="the finch binary (its kernelspec is installed into a temporary Jupyter path); "
                                         "without it, the installed \"finch\" kernelspec")
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--check", action="store_true", help=f"exit 1 unless growth ≤ {GROWTH_GOAL} %% and p99 ≤ {P99_GOAL * 1000:.0f} ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trace", help="write 'cell, RSS KiB, what it ran' per cell to this file")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(MODELS, "all-MiniLM-L6-v2", "config.json")):
        print(f"SKIP: the soak needs {MODELS}/all-MiniLM-L6-v2")
        return 0
    tmp = tempfile.mkdtemp(prefix="finch-soak-")
    try:
        if args.finch:
            install_kernelspec(os.path.abspath(args.finch), tmp)
        from jupyter_client.manager import KernelManager  # after JUPYTER_PATH points at the kernelspec

        data_file = os.path.join(tmp, "sst2-40.csv")
        write_csv(data_file)
        km = KernelManager(kernel_name="finch")
        km.start_kernel(cwd=tmp)
        # Restarts only before cell 100, so cells 100..N are one kernel lifetime.
        restarts = {n for n in (40, 80) if n < args.cells}
        soak = Soak(km, data_file, random.Random(args.seed))
        start = time.monotonic()
        try:
            soak.run(args.cells, restarts)
        finally:
            soak.kc.stop_channels()
            km.shutdown_kernel(now=True)
        elapsed = time.monotonic() - start
        if args.trace:
            with open(args.trace, "w") as f:
                f.write("\n".join(soak.trace) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    at = min(100, len(soak.rss)) - 1
    growth = 100.0 * (soak.rss[-1] - soak.rss[at]) / soak.rss[at]
    trivial = soak.trivial
    print(f"cells run: {args.cells} in {elapsed:.0f} s (restarts at {sorted(restarts)}; {len(trivial)} trivial cells)")
    print(f"failures: {len(soak.failures)}")
    for failure in soak.failures:
        print("  " + failure)
    window = max(1, min(100, (len(soak.rss) - at) // 2))
    print(f"RSS at cell {at + 1}: {soak.rss[at] / 1024:.1f} MiB; at cell {len(soak.rss)}: {soak.rss[-1] / 1024:.1f} MiB; "
          f"growth {growth:+.2f} %")
    print(f"RSS peak of cells {at + 1}-{at + window}: {max(soak.rss[at:at + window]) / 1024:.1f} MiB; "
          f"of the last {window}: {max(soak.rss[-window:]) / 1024:.1f} MiB; "
          f"lowest {min(soak.rss[at:at + window]) / 1024:.1f} / {min(soak.rss[-window:]) / 1024:.1f} MiB")
    print(f"trivial cell latency: p50 {percentile(trivial, 0.5) * 1000:.2f} ms, p90 {percentile(trivial, 0.9) * 1000:.2f} ms, "
          f"p99 {percentile(trivial, 0.99) * 1000:.2f} ms, max {max(trivial) * 1000:.2f} ms")
    missed = []
    if args.check and growth > GROWTH_GOAL:
        missed.append(f"RSS growth {growth:.2f} % > {GROWTH_GOAL} %")
    if args.check and percentile(trivial, 0.99) > P99_GOAL:
        missed.append(f"p99 {percentile(trivial, 0.99) * 1000:.2f} ms > {P99_GOAL * 1000:.0f} ms")
    for line in missed:
        print("goal missed: " + line)
    return 1 if soak.failures or missed else 0


if __name__ == "__main__":
    sys.exit(main())
