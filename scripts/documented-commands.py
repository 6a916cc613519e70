#!/usr/bin/env python3
"""Every `ansible-playbook` command line the documentation gives an operator, as typed.

Sources: README.md, roles/*/README.md, docs/**/*.md and the header comments of playbooks/*.yml.
A command is the text from `ansible-playbook` to the end of its code span, line or trailing
comment. Optional parts written `[...]` give one variant without them and one with all of them;
`<placeholders>` are filled from SAMPLES (the same way for every command).

The host commands the documentation gives (`sudo credinet-backup list`, in a code span) are
listed by host_commands(): the unit test checks each names a subcommand and options the command
still has.

Used by tests/unit/scripts/test_documented_commands.py (every command parses and its -e values are
valid) and by molecule/sandbox/tests/test_documented_commands.py (the ones that can run in the
sandbox run there). `python3 scripts/documented-commands.py` lists them.
"""
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"(?:\.venv/bin/)?ansible-playbook\s[^`\n]*")
# A host command in a code span: `[sudo ][/usr/local/bin/]credinet-<tool>[ arguments]`.
HOST_COMMAND = re.compile(r"`(?:sudo )?(?:/usr/local/bin/)?(credinet-(?:backup|offsite|notify))((?:\s[^`\n]*)?)`")
OPTIONAL = re.compile(r"\s*\[([^\[\]]+)\]")
# Values a placeholder stands for when a documented command is checked or run.
SAMPLES = {
    "<env>": "prod",
    "<commit>": "0123456789abcdef0123456789abcdef01234567",  # pragma: allowlist secret - a sample commit id
    "<set>": "latest",
    "<key>": "latest",
    "<host>": "credicuenta3",
    "<branch>": "main",
    "<name>": "reporte-cartera",
    "<nombre>": "reporte-cartera",
    "<hours>": "48",
}


def sources(root=ROOT):
    docs = [root / "README.md", *sorted(root.glob("roles/*/README.md")), *sorted(root.glob("docs/**/*.md"))]
    return [p for p in docs if p.exists()], sorted(root.glob("playbooks/*.yml"))


def _clean(text):
    text = text.split("  #")[0].split(" # ")[0]
    return re.sub(r"\s+", " ", text).strip().rstrip(".,;:")


def commands_in_markdown(text):
    return [_clean(m.group(0)) for m in COMMAND.finditer(text)]


def commands_in_playbook(text):
    found = []
    for line in text.splitlines():
        if line.strip() == "---":
            continue
        if not line.startswith("#"):
            break
        match = COMMAND.search(line)
        if match:
            found.append(_clean(match.group(0)))
    return found


def variants(command):
    """The command without its optional parts, and with all of them."""
    bare = OPTIONAL.sub("", command)
    full = OPTIONAL.sub(lambda m: " " + m.group(1), command)
    return sorted({_clean(bare), _clean(full)})


def fill(command):
    for placeholder, value in SAMPLES.items():
        command = command.replace(placeholder, value)
    if re.search(r"<[a-z_]+>", command):
        raise ValueError("unknown placeholder in %r (add it to SAMPLES)" % command)
    return command


def extract(root=ROOT):
    """{filled command: [where it is documented]} of every documented command variant."""
    markdown, playbooks = sources(root)
    found = {}
    for path in markdown:
        for command in commands_in_markdown(path.read_text()):
            for variant in variants(command):
                found.setdefault(fill(variant), []).append(str(path.relative_to(root)))
    for path in playbooks:
        for command in commands_in_playbook(path.read_text()):
            for variant in variants(command):
                found.setdefault(fill(variant), []).append(str(path.relative_to(root)))
    return found


def host_commands(root=ROOT):
    """{(tool, argument words): [where]} of every host command in a code span of the docs.
    Synopsis forms count too (`verify [SET] [--file COPY]`, `--set latest|KEY|PATH`)."""
    markdown, _ = sources(root)
    found = {}
    for path in markdown:
        for match in HOST_COMMAND.finditer(path.read_text()):
            words = tuple(match.group(2).split())
            found.setdefault((match.group(1), words), []).append(str(path.relative_to(root)))
    return found


def synopsis(words):
    """(subcommand or None, --options named) of a documented host command's words: brackets and
    `a|b` alternatives are a synopsis' notation, UPPERCASE and <placeholders> its values."""
    tokens = [t for w in words for t in re.sub(r"[\[\]]", " ", w).replace("|", " ").split()]
    options = sorted({t.split("=")[0] for t in tokens if t.startswith("--")})
    first = tokens[0] if tokens and not tokens[0].startswith("-") else None
    return first, options


OVERRIDE = re.compile(r"(?<![\w-])-e ([a-z_]+)=([^\s`|)]+)")


def overrides(root=ROOT):
    """{(key, value): [where]} of every `-e key=value` the documentation mentions, inside a
    command or in prose (`-e app_force=true redeploys it`): each must name a declared input."""
    markdown, playbooks = sources(root)
    found = {}
    for path in markdown + playbooks:
        text = path.read_text()
        if path.suffix == ".yml":
            text = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        for match in OVERRIDE.finditer(text):
            key, value = match.group(1), fill(match.group(2)).rstrip(".,;:'\"]")
            found.setdefault((key, value), []).append(str(path.relative_to(root)))
    return found


def parse(command):
    """(playbook, inventory, extra vars {k: v}, other options) of a documented command."""
    words = shlex.split(command)
    playbook, inventory, extra, options = None, None, {}, []
    i = 1
    while i < len(words):
        word = words[i]
        if word in ("-i", "--inventory"):
            inventory, i = words[i + 1], i + 2
        elif word in ("-e", "--extra-vars"):
            key, _, value = words[i + 1].partition("=")
            extra[key] = value
            i += 2
        elif word in ("--vault-id", "-l", "--limit", "--tags", "-t"):
            options += [word, words[i + 1]]
            i += 2
        elif word.endswith(".yml"):
            playbook, i = word, i + 1
        else:
            options.append(word)
            i += 1
    return playbook, inventory, extra, options


def main():
    for command, where in sorted(extract().items()):
        print("%-110s %s" % (command, ", ".join(sorted(set(where)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
