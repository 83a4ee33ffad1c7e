"""MXNet's aggregate statistics (``profiler.dumps``): per category, per name, the count, total,
min, max and average, as a table or as JSON, in MXNet 1.9's layout (times in ms; storage in
kB, its "average" being half the range, as MXNet prints it)."""
from __future__ import annotations

import json

SORT_KEYS = ("total", "avg", "min", "max", "count")
_MEMORY = ("Device Storage", "Pool Memory")


def _sort_value(stat, sort_by: str, is_memory: bool) -> float:
    count, total, low, high = stat
    if sort_by == "total":
        return total
    if sort_by == "avg":
        return (high - low) / 2 if is_memory else total / count
    if sort_by == "min":
        return low
    if sort_by == "max":
        return high
    return count


def _rows(table: dict, sort_by: str, ascending: bool, is_memory: bool) -> list:
    return sorted(table.items(), key=lambda kv: _sort_value(kv[1], sort_by, is_memory),
                  reverse=not ascending)


def _cells(stat, is_memory: bool) -> tuple:
    count, total, low, high = stat
    if is_memory:  # bytes
        return count, None, low / 1e3, high / 1e3, (high - low) / 2 / 1e3
    return count, total / 1e3, low / 1e3, high / 1e3, total / count / 1e3  # us -> ms


def table(aggregate: dict, sort_by: str, ascending: bool) -> str:
    out = ["", "Profile Statistics:", "\tNote the difference in units for different entries."]
    for category, entries in aggregate.items():
        is_memory = category in _MEMORY
        out += [category, "================="]
        time_head = "" if is_memory else f"{'Time (ms)':>16} "
        time_rule = "" if is_memory else f"{'---------':>16} "
        unit = "Use  (kB)" if is_memory else "Time (ms)"
        out.append(f"{'Name':<25}{'Total Count':>16} {time_head}{'Min ' + unit:>16} "
                   f"{'Max ' + unit:>16} {'Avg ' + unit:>16}")
        out.append(f"{'----':<25}{'-----------':>16} {time_rule}{'-------------':>16} "
                   f"{'-------------':>16} {'-------------':>16}")
        for name, stat in _rows(entries, sort_by, ascending, is_memory):
            count, total, low, high, avg = _cells(stat, is_memory)
            total_cell = "" if is_memory else f"{total:>16.4f} "
            out.append(f"{name:<25}{count:>16} {total_cell}{low:>16.4f} {high:>16.4f} "
                       f"{avg:>16.4f}")
        out.append("")
    return "\n".join(out) + "\n"


def as_json(aggregate: dict, sort_by: str, ascending: bool) -> str:
    time, memory = {}, {}
    for category, entries in aggregate.items():
        is_memory = category in _MEMORY
        block = {}
        for name, stat in _rows(entries, sort_by, ascending, is_memory):
            count, total, low, high, avg = _cells(stat, is_memory)
            cell = {"Count": count}
            if not is_memory:
                cell["Total"] = round(total, 4)
            cell.update(Min=round(low, 4), Max=round(high, 4), Avg=round(avg, 4))
            block[name] = cell
        (memory if is_memory else time)[category] = block
    return json.dumps({"Time": time, "Memory": memory,
                       "Unit": {"Time": "ms", "Memory": "kB"}}, indent=4)
