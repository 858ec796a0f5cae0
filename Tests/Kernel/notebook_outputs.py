"""What of a notebook's outputs must be reproduced exactly when it is executed again.

Every loss, metric, count and parameter number must come back identical; only measurements of the
machine may differ: wall-clock times, speeds, ETAs, timestamps and resident-memory readings. Those are
the VOLATILE_KEYS of the JSON form (application/vnd.finch+json, compared structurally) and the VOLATILE_TEXT
patterns of the text form (the same patterns `finch weave --check` masks, plus memory readings).
Absolute paths are compared relative to the notebook's repository, so a clone elsewhere compares equal
(the committed outputs hold the path of the clone that executed them).
"""
import re

# An absolute path into a repository's notebooks/ or tutorials/ folder, up to that folder.
REPOSITORY_PATH = re.compile(r"/[^\s\"']*/(?=(?:notebooks|tutorials)/)")


def relative_paths(text: str, root: str) -> str:
    return REPOSITORY_PATH.sub("<root>/", text.replace(root.rstrip("/") + "/", "<root>/"))

# The MIME type of Finch's JSON form (LanguageBridge.swift).
JSON_TYPE = "application/vnd.finch+json"

# JSON keys whose values measure the machine rather than the run.
VOLATILE_KEYS = {"seconds", "samples_per_second", "eta_seconds", "started", "finished", "elapsed_seconds",
                 "step_seconds", "load_seconds", "measured_peak_bytes", "process_bytes", "resident_bytes"}
VOLATILE_KEY_SUFFIXES = ("_seconds", "_per_second", "_rss_bytes", "_measured_bytes")

VOLATILE_TEXT = [
    r"\d+ h \d+ min", r"\d+ min \d+ s", r"\d+(\.\d+)? ?(ms|s)\b", r"[\d.,]+ samples/s", r"[\d.,]+ tokens/s", r"ETA [^·\n]*",
    r"\d{4}-\d\d-\d\dT[\d:.]+Z?", r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?",
]


def is_volatile(key: str) -> bool:
    return key in VOLATILE_KEYS or key.endswith(VOLATILE_KEY_SUFFIXES)


# A `memory` plan mixes counted bytes (exact) with readings of the process (resident memory now, the
# allocator's free heap, checkpoint pages the kernel keeps): the readings and the totals built on them.
MEMORY_PLAN_READINGS = {"predicted_peak_bytes", "fp32_peak_bytes", "resident_bytes", "peak_so_far_bytes",
                        "mapped_checkpoint_bytes", "categories"}
MEASURED_ITEMS = ("process baseline", "runtime, libraries", "checkpoint file pages")


def counted_memory_plan(plan: dict) -> dict:
    """The parts of a `memory` plan that are counted rather than measured."""
    kept = {k: v for k, v in plan.items() if k not in MEMORY_PLAN_READINGS}
    kept["items"] = [item for item in plan.get("items", [])
                     if item.get("category") != "process_baseline" and not str(item.get("name", "")).startswith(MEASURED_ITEMS)]
    return kept


def normalized_json(value, root: str):
    """The JSON value with volatile keys dropped and the repository root replaced by <root>."""
    if isinstance(value, dict):
        if "predicted_peak_bytes" in value:
            value = counted_memory_plan(value)
        return {k: normalized_json(v, root) for k, v in value.items() if not is_volatile(k)}
    if isinstance(value, list):
        return [normalized_json(v, root) for v in value]
    if isinstance(value, str):
        return relative_paths(value, root)
    return value


def masked_text(text: str, root: str) -> str:
    text = relative_paths(text, root)
    for pattern in VOLATILE_TEXT:
        text = re.sub(pattern, "…", text)
    return text


def comparable(output: dict, root: str):
    """One output as what must be reproduced: its JSON form when it has one, else its masked text."""
    kind = output.get("output_type")
    if kind == "stream":
        return ("stream", output.get("name"), masked_text("".join(output.get("text", "")), root))
    if kind == "error":
        return ("error", output.get("ename"), output.get("evalue"))
    data = output.get("data", {})
    if JSON_TYPE in data:
        return (kind, "json", normalized_json(data[JSON_TYPE], root))
    text = data.get("text/plain", "")
    return (kind, "text", masked_text("".join(text) if isinstance(text, list) else text, root))


def differences(committed_cells, executed_cells, root: str, name: str):
    """Human-readable differences between the committed and the re-executed code cells' outputs."""
    found = []
    committed = [c for c in committed_cells if c.cell_type == "code"]
    executed = [c for c in executed_cells if c.cell_type == "code"]
    if len(committed) != len(executed):
        return [f"{name}: {len(committed)} code cells committed, {len(executed)} executed"]
    for index, (old, new) in enumerate(zip(committed, executed), start=1):
        before = [comparable(o, root) for o in old.outputs]
        after = [comparable(o, root) for o in new.outputs]
        if before == after:
            continue
        if len(before) != len(after):
            found.append(f"{name} cell {index}: {len(before)} outputs committed, {len(after)} now")
            continue
        for position, (b, a) in enumerate(zip(before, after), start=1):
            if b != a:
                found.append(f"{name} cell {index} output {position}:\n  committed: {str(b)[:400]}\n  now:       {str(a)[:400]}")
    return found
