"""Filters of playbooks/dr-rebuild.yml: how long each phase of a rebuild took.

A phase is marked when it starts ([name, epoch seconds], the controller's clock); it lasts until
the next mark, the last one until `end`.
"""
from ansible.errors import AnsibleFilterError


def _durations(marks, end):
    if not isinstance(marks, (list, tuple)) or not marks:
        raise AnsibleFilterError("phase marks must be a non-empty list of [name, epoch seconds]")
    try:
        names = [str(name) for name, _ in marks]
        starts = [float(at) for _, at in marks] + [float(end)]
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("phase marks must be [name, epoch seconds] pairs: %s" % exc)
    # A clock stepped back (NTP) would give a negative phase: it counts as 0 s.
    return [(name, max(0.0, starts[i + 1] - starts[i])) for i, name in enumerate(names)]


def phase_total(marks, end):
    """Seconds from the first mark to `end` (the sum of the phases)."""
    return round(sum(seconds for _, seconds in _durations(marks, end)), 1)


def phase_table(marks, end):
    """The table's lines: one per phase (seconds, share of the total), then the total."""
    durations = _durations(marks, end)
    total = sum(seconds for _, seconds in durations)
    width = max([len("phase")] + [len(name) for name, _ in durations])
    lines = ["%-*s %9s %6s" % (width, "phase", "seconds", "share")]
    for name, seconds in durations:
        share = 100.0 * seconds / total if total else 0.0
        lines.append("%-*s %9.1f %5.0f%%" % (width, name, seconds, share))
    # No "(x min y s)": the line would pass 80 columns and Ansible's output would fold it.
    lines.append("%-*s %9.1f" % (width, "total", total))
    return lines


class FilterModule:
    def filters(self):
        return {"credinet_phase_table": phase_table, "credinet_phase_total": phase_total}
