"""Filters for the shared runtime: schedules as systemd calendar events, operator messages,
strict booleans for command-line overrides, .env lines.

Messages and .env quoting come from the runtime package (credinet_ops), the code the hosts run.
"""
import os
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.credinet_ops import envfile, fingerprint, messages

CRON_FIELDS = ("minute", "hour", "day", "month", "weekday")
# Cron numbers weekdays 0-7 with 0 and 7 = Sunday.
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LIMITS = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "weekday": (0, 7)}
_ITEM = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def _check_number(field, text):
    low, high = LIMITS[field]
    value = int(text)
    if not low <= value <= high:
        raise AnsibleFilterError("schedule %s value %s is outside %d-%d" % (field, text, low, high))
    return value


def _range(field, base):
    """(start, end) of a cron item N or N-M: both within the field's limits, start <= end."""
    numbers = [_check_number(field, n) for n in base.split("-")]
    if numbers[0] > numbers[-1]:
        raise AnsibleFilterError("schedule %s range %s goes backwards (neither cron nor systemd accept it)" % (field, base))
    return numbers[0], numbers[-1]


def _check_step(field, start, step):
    """systemd refuses a repetition that does not repeat within the field (start + step > max)."""
    low, high = LIMITS[field]
    if step < 1 or start + step > high:
        raise AnsibleFilterError("schedule %s step /%d from %d does not repeat within %d-%d (systemd refuses it)"
                                 % (field, step, start, low, high))
    return step


def _weekdays(start, end):
    """Cron weekdays start-end as systemd writes them. systemd's week starts on Monday and it
    refuses a range through Sunday (Sun..Wed), so a range from Sunday (0) is split."""
    if start == 0:
        return "Sun" if end == 0 else "Sun," + _weekdays(1, end)
    return WEEKDAYS[start] if start == end else "%s..%s" % (WEEKDAYS[start], WEEKDAYS[end])


def _calendar_item(field, item):
    """One comma-separated cron item as systemd writes it."""
    match = _ITEM.match(item)
    if not match:
        raise AnsibleFilterError("schedule %s item %r is not cron syntax (N, N-M, */S, N/S)" % (field, item))
    base, step = match.group(1), match.group(3)
    if step and "-" in base:
        raise AnsibleFilterError("schedule %s item %r: ranges with a step are not supported; list the values" % (field, item))
    if field == "weekday":
        if step:
            raise AnsibleFilterError("schedule weekday %r: steps are not supported for weekdays" % item)
        if base == "*":
            return None
        return _weekdays(*_range(field, base))
    if base == "*":
        if not step:
            return "*"
        start = LIMITS[field][0]
        return "%d/%d" % (start, _check_step(field, start, int(step[1:])))
    start, end = _range(field, base)
    repeat = "/%d" % _check_step(field, start, int(step[1:])) if step else ""
    numbers = (start, end) if "-" in base else (start,)
    return "..".join(str(n).zfill(2 if field in ("minute", "hour") else 1) for n in numbers) + repeat


def _field(schedule, field):
    items = [_calendar_item(field, i.strip()) for i in str(schedule.get(field, "*")).split(",")]
    if field == "weekday":
        if None in items:
            return None
        return ",".join(items)
    return ",".join(items)


def oncalendar(schedule, timezone):
    """{minute, hour, day, month, weekday} (cron fields, strings or ints) -> an OnCalendar= value.

    {'hour': '2', 'minute': '0'}, 'America/Mexico_City' -> '*-*-* 02:00:00 America/Mexico_City'.
    Unset fields are '*' except minute (0), as the roles' schedules always meant.
    """
    if not isinstance(schedule, dict) or not schedule:
        raise AnsibleFilterError("a schedule is a mapping of cron fields, got %r" % (schedule,))
    unknown = sorted(set(schedule) - set(CRON_FIELDS))
    if unknown:
        raise AnsibleFilterError("unknown schedule field(s) %s (use %s)" % (", ".join(unknown), ", ".join(CRON_FIELDS)))
    if str(schedule.get("day", "*")) != "*" and str(schedule.get("weekday", "*")) != "*":
        raise AnsibleFilterError("a schedule cannot restrict both day and weekday (cron ORs them, systemd ANDs them)")
    fields = dict(schedule)
    fields.setdefault("minute", "0")
    weekday = _field(fields, "weekday")
    date = "*-%s-%s" % (_field(fields, "month"), _field(fields, "day"))
    time_part = "%s:%s:00" % (_field(fields, "hour"), _field(fields, "minute"))
    return " ".join(p for p in (weekday, date, time_part, timezone) if p)


def schedule_errors(schedule):
    """Errors of a cron-style schedule ([] when it can be written as OnCalendar=)."""
    try:
        oncalendar(schedule, "UTC")
    except AnsibleFilterError as exc:
        return [str(exc)]
    return []


def message(name, lang="es", **values):
    """An operator text of the runtime catalog (the commands use the same one)."""
    try:
        return messages.render(lang, name, **values)
    except (KeyError, IndexError, ValueError) as exc:
        raise AnsibleFilterError("message %r: %s" % (name, exc))


def strict_bool(value, name="value"):
    """A boolean from what an operator types with -e key=value (true/false, yes/no, on/off, 1/0).

    Anything else raises, naming the variable: a typo must never decide a deploy.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise AnsibleFilterError("%s must be true or false (also yes/no, on/off, 1/0), got %r" % (name, value))


def is_strict_bool(value):
    try:
        strict_bool(value)
        return True
    except AnsibleFilterError:
        return False


def env_lines(values):
    """{KEY: value} -> .env text, every value quoted so Compose reads it back literally."""
    errors = [e for k, v in values.items() for e in envfile.check_value(k, v)]
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return "".join(envfile.line(k, v) + "\n" for k, v in values.items())


def env_errors(values):
    """Value-free errors of {KEY: value} meant for a .env file ([] when fine)."""
    return [e for k, v in (values or {}).items() for e in envfile.check_value(k, "" if v is None else v)]


def package_fingerprint(directory, file_mode="0644", dir_mode="0755"):
    """{"fingerprint", "paths"} of the controller's package as the copy installs it (those modes,
    owned by root): what role runtime compares with the host's answer."""
    try:
        desired = (int(str(file_mode), 8), int(str(dir_mode), 8), 0, 0)
    except ValueError as exc:
        raise AnsibleFilterError("package modes must be octal strings like '0644': %s" % exc) from exc
    if not os.path.isdir(str(directory)):
        raise AnsibleFilterError("cannot read the runtime package at %s: not a folder" % directory)
    try:
        return fingerprint.describe(str(directory), desired)
    except OSError as exc:
        raise AnsibleFilterError("cannot read the runtime package at %s: %s" % (directory, exc)) from exc


class FilterModule:
    def filters(self):
        return {
            "credinet_oncalendar": oncalendar,
            "credinet_schedule_errors": schedule_errors,
            "credinet_message": message,
            "credinet_bool": strict_bool,
            "credinet_is_bool": is_strict_bool,
            "credinet_env_lines": env_lines,
            "credinet_env_errors": env_errors,
            "credinet_package_fingerprint": package_fingerprint,
        }
