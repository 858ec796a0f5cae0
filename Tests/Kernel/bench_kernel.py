"""Kernel latency, Finch against ipykernel, through jupyter_client as a notebook server drives them.

For each kernel: start it RUNS times and time start → first kernel_info reply (what a front end waits
for before it calls a kernel ready), then run a trivial cell (`6*7`) CELLS times per start and time
each execute request → its reply and idle status. Prints median and p90 of both, and Finch's ratio.
Goal: Finch ready in 0.3 s or less.

    .venv/bin/python Tests/Kernel/bench_kernel.py --finch .build/release/finch [--runs 5] [--cells 50]

With --finch, the binary's kernelspec is installed into a temporary Jupyter path first; without it,
the installed "finch" kernelspec is used. The Python kernel is "python3" (ipykernel).
"""
import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def wait_reply(kc, msg_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.001, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def wait_idle(kc, msg_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.001, deadline - time.monotonic()))
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            return


def measure(kernel_name, runs, cells):
    """(ready times, execute round-trip times) in seconds."""
    ready, round_trips = [], []
    for _ in range(runs):
        km = KernelManager(kernel_name=kernel_name)
        start = time.perf_counter()
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            msg_id = kc.kernel_info()
            wait_reply(kc, msg_id)
            ready.append(time.perf_counter() - start)
            # iopub may not be subscribed yet (its status messages are then lost): ask again until
            # a request's idle status arrives, as jupyter_client's wait_for_ready does.
            while True:
                try:
                    wait_idle(kc, msg_id, timeout=0.5)
                    break
                except queue.Empty:
                    msg_id = kc.kernel_info()
                    wait_reply(kc, msg_id)
            for _ in range(cells):
                begin = time.perf_counter()
                msg_id = kc.execute("6*7")
                reply = wait_reply(kc, msg_id)
                wait_idle(kc, msg_id)
                round_trips.append(time.perf_counter() - begin)
                assert reply["content"]["status"] == "ok", reply["content"]
        except queue.Empty:
            sys.exit(f"{kernel_name}: no answer within 60 s")
        finally:
            kc.stop_channels()
            km.shutdown_kernel()
    return ready, round_trips


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finch", help="finch binary whose kernelspec to install and measure")
    parser.add_argument("--runs", type=int, default=5, help="kernel starts per kernel")
    parser.add_argument("--cells", type=int, default=50, help="trivial cells per start")
    parser.add_argument("--kernels", nargs="+", default=["finch", "python3"])
    args = parser.parse_args()

    temporary = None
    if args.finch:
        temporary = tempfile.mkdtemp(prefix="finch-bench-")
        subprocess.run([args.finch, "kernel", "install", "--prefix", temporary], check=True, stdout=subprocess.DEVNULL)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [os.path.join(temporary, "share", "jupyter")] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
        os.environ.setdefault("FINCH_HISTORY_FILE", os.path.join(temporary, "history.jsonl"))
    try:
        results = {name: measure(name, args.runs, args.cells) for name in args.kernels}
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)

    print(f"{args.runs} starts per kernel, {args.cells} cells of `6*7` per start (times in ms)")
    print(f"{'kernel':<10} {'ready median':>13} {'ready p90':>10} {'execute median':>15} {'execute p90':>12}")
    for name, (ready, trips) in results.items():
        print(f"{name:<10} {statistics.median(ready) * 1e3:>13.1f} {percentile(ready, 0.9) * 1e3:>10.1f} "
              f"{statistics.median(trips) * 1e3:>15.2f} {percentile(trips, 0.9) * 1e3:>12.2f}")
    if "finch" in results and "python3" in results:
        (f_ready, f_trips), (p_ready, p_trips) = results["finch"], results["python3"]
        print(f"ratio finch/python3: ready {statistics.median(f_ready) / statistics.median(p_ready):.2f}×, "
              f"execute {statistics.median(f_trips) / statistics.median(p_trips):.2f}×")
        verdict = "meets" if statistics.median(f_ready) <= 0.3 else "misses"
        print(f"finch ready median {statistics.median(f_ready):.3f} s {verdict} the 0.3 s goal")


if __name__ == "__main__":
    main()
