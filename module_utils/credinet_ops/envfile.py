"""KEY=VALUE files (the app's .env, /etc/credinet/notify.env) as Docker Compose reads them.

Compose interpolates unquoted and double-quoted values (`$X`, `${X}`), treats ` #` after an
unquoted value as a comment, and takes single-quoted values literally: only `\\'` is special (a
quote); any other backslash stays in the value. A value written unquoted can therefore change
meaning; `quote` writes every value single-quoted, so what is read back is exactly what was
written. What single quotes cannot carry is refused by `check_value` before any file is touched:
line breaks (they would start a new key) and a backslash before a quote or at the very end
(Compose would read it as an escaped quote).

`merge` sets the managed keys of an existing file and keeps everything else (unmanaged keys,
comments, order), which is how the app's hand-written .env is adopted without losing a setting.
"""
import re

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Compose's dotenv also reads the YAML-like `KEY: value` (the first `=` or `:` ends the key).
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*)$")
# A backslash Compose would read as escaping a quote: one before a quote of the value, or
# a last one (before the closing quote).
_UNQUOTABLE = re.compile(r"\\('|\Z)")
_DOUBLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$"}


def check_value(key, value):
    """Errors for a key/value that cannot be written safely ([] when fine); names, never values."""
    errors = []
    if not KEY.match(str(key)):
        errors.append("%s is not a valid variable name" % key)
    if any(c in str(value) for c in "\n\r\0"):
        errors.append("the value of %s contains a line break or NUL, which a .env file cannot hold" % key)
    if _UNQUOTABLE.search(str(value)):
        errors.append("the value of %s has a backslash before a quote or at its end, which Compose cannot read "
                      "back from a .env file" % key)
    return errors


def quote(value):
    """`value` single-quoted as Compose reads it back literally.

    Only quotes are escaped: Compose keeps every other backslash as it is (doubling them would
    double them in the value). check_value refuses what this cannot write.
    """
    return "'%s'" % str(value).replace("'", "\\'")


def line(key, value):
    return "%s=%s" % (key, quote(value))


def _single_escape(pair):
    """compose-go, single quotes: a backslash keeps the next character from ending the value and
    is dropped only before a quote (so `\\\\'` still ends it)."""
    return "'" if pair[1] == "'" else pair


def _double_escape(pair):
    return _DOUBLE_ESCAPES.get(pair[1], pair)


def _quoted(rest, quote, escape):
    """The value of a quoted .env value whose opening quote was cut off (up to the closing one)."""
    out, i = [], 0
    while i < len(rest):
        c = rest[i]
        if c == "\\" and i + 1 < len(rest):
            out.append(escape(rest[i:i + 2]))
            i += 2
            continue
        if c == quote:
            break
        out.append(c)
        i += 1
    return "".join(out)


def parse_value(raw):
    raw = raw.strip()
    if raw.startswith("'"):
        return _quoted(raw[1:], "'", _single_escape)
    if raw.startswith('"'):
        return _quoted(raw[1:], '"', _double_escape)
    comment = re.search(r"\s#", raw)
    return (raw[: comment.start()] if comment else raw).strip()


def parse(text):
    """{key: value} of a .env text (last assignment wins, as in Compose)."""
    values = {}
    for raw in text.splitlines():
        match = _LINE.match(raw)
        if match and not raw.lstrip().startswith("#"):
            values[match.group(1)] = parse_value(match.group(2))
    return values


def merge(text, managed, keep_when_empty=()):
    """(new text, changed key names, kept key names).

    Managed keys are set in place (first occurrence; later duplicates removed) or appended;
    every other line stays as it was. A key listed in `keep_when_empty` whose new value is empty
    keeps its current value (an empty vault entry never blanks a working token).
    """
    current = parse(text)
    lines = text.splitlines()
    changed, kept, done = [], [], set()
    out = []
    for raw in lines:
        match = _LINE.match(raw)
        key = match.group(1) if match and not raw.lstrip().startswith("#") else None
        if key not in managed:
            out.append(raw)
            continue
        if key in done:
            continue
        done.add(key)
        value = str(managed[key])
        if value == "" and key in keep_when_empty and current.get(key, "") != "":
            kept.append(key)
            # The value in force is the last assignment: it stays (on this first line; later
            # duplicates go).
            out.append(raw if parse_value(match.group(2)) == current[key] else line(key, current[key]))
            continue
        if current.get(key) != value:
            changed.append(key)
        # A line that already holds the value stays as the operator wrote it.
        out.append(raw if parse_value(match.group(2)) == value else line(key, value))
    for key, value in managed.items():
        if key not in done:
            changed.append(key)
            out.append(line(key, str(value)))
    new_text = "\n".join(out) + "\n" if out else ""
    return new_text, changed, kept
