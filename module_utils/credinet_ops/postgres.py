"""The stack's PostgreSQL as the jobs see it: its container, psql sessions, dump and decode streams.

Every client runs inside the database container (client version = server version) or in a
network-less throwaway container of the server's own image; nothing here needs a password.
"""
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time

from .job import JobError, sha256_of

CHUNK = 1 << 20
# Row text depends on session settings (a timestamptz prints in the session zone): pinned, so a
# backup taken in Mexico City and a drill in a UTC container hash alike.
CANONICAL_SETTINGS = ("SET TimeZone TO 'UTC'", "SET DateStyle TO 'ISO, YMD'", "SET IntervalStyle TO 'postgres'",
                      "SET extra_float_digits TO 1", "SET bytea_output TO 'hex'")
COMPRESSORS = {
    "zstd": {"ext": "zst", "compress": ["zstd", "-q", "-T0", "-c"], "level": "-%d", "decompress": ["zstd", "-q", "-dc"]},
    "gzip": {"ext": "gz", "compress": ["gzip", "-c"], "level": "-%d", "decompress": ["gzip", "-dc"]},
}


def run(cmd, check=True, input_data=None, timeout=None):
    try:
        proc = subprocess.run(cmd, capture_output=True, input=input_data, timeout=timeout)
    except FileNotFoundError:
        raise JobError("%s command not found (is it installed?)" % cmd[0])
    except subprocess.TimeoutExpired:
        raise JobError("%s did not finish in %d s" % (" ".join(cmd[:2]), timeout))
    if check and proc.returncode != 0:
        raise JobError("%s failed (exit %d): %s" % (cmd[0] if cmd[0] != "docker" else " ".join(cmd[:2]),
                                                    proc.returncode, proc.stderr.decode(errors="replace").strip()[-500:]))
    return proc


# --- containers --------------------------------------------------------------------------------

def compose_containers(project, service, running_only=True, status=None):
    """Container ids of a compose service, found by the labels Compose puts on them (running
    ones, every one, or those in `status`: restarting, exited, ...)."""
    cmd = ["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=%s" % project,
           "--filter", "label=com.docker.compose.service=%s" % service]
    if status:
        cmd[2:2] = ["-a"]
        cmd += ["--filter", "status=%s" % status]
    elif running_only:
        cmd += ["--filter", "status=running"]
    else:
        cmd.insert(2, "-a")
    out = run(cmd, check=False)
    return out.stdout.decode().split() if out.returncode == 0 else []


def db_container(cfg):
    ids = compose_containers(cfg["compose_project"], cfg["db_service"])
    if not ids:
        raise JobError("database container not running (compose project %r, service %r)"
                       % (cfg["compose_project"], cfg["db_service"]))
    return ids[0]


def container_facts(cid):
    info = json.loads(run(["docker", "inspect", cid]).stdout)[0]
    env = dict(e.split("=", 1) for e in info["Config"]["Env"] if "=" in e)
    return {"image": info["Config"]["Image"], "image_id": info["Image"], "env": env}


def db_identity(cfg, facts):
    user = cfg.get("db_user") or facts["env"].get("POSTGRES_USER", "postgres")
    name = cfg.get("db_name") or facts["env"].get("POSTGRES_DB", user)
    return user, name


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def unquote_ident(text):
    """The name an SQL identifier as PostgreSQL prints it stands for (quoted or not)."""
    return text[1:-1].replace('""', '"') if len(text) > 1 and text[0] == text[-1] == '"' else text


def quote_literal(text):
    return "'%s'" % text.replace("'", "''")


# --- psql -------------------------------------------------------------------------------------

# Errors a catalogue change can meet when another session changes the same row at that moment
# (autovacuum writing a database's frozen xid, a client starting up), or a session still on a
# database being renamed: the same statements, run again a moment later, succeed. Matched on
# psql's whole ERROR line, so a name that merely contains these words is no match.
TRANSIENT_ERROR = re.compile(
    r'ERROR:\s+(tuple concurrently updated|deadlock detected|could not serialize access due to [a-z/ ]+'
    r'|database ".*" is being accessed by other users)\s*$', re.M)


def is_transient(exc):
    return isinstance(exc, JobError) and TRANSIENT_ERROR.search(str(exc)) is not None


def with_retries(action, attempts=5, pause=1.0, sleep=None, retry_on=is_transient, log=None):
    """action(), run again after `pause` seconds while it fails with an error `retry_on` accepts
    (transient ones by default; each attempt opens its own session: psql stops on the first
    error). `attempts` counts the first run: 5 = up to 4 more. Only JobError is ever retried."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except JobError as exc:
            if attempt == attempts or not retry_on(exc):
                raise
            if log:
                log("attempt %d of %d failed (%s); again in %s s", attempt, attempts, exc, pause)
            (sleep or time.sleep)(pause)
    raise ValueError("attempts must be at least 1")


class Psql:
    """A psql session inside a container, one query at a time (-qAt: one line a row)."""

    def __init__(self, cid, user, db):
        self.proc = subprocess.Popen(
            ["docker", "exec", "-i", cid, "psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql, rows=1):
        try:
            self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise JobError("psql: %s" % self.proc.stderr.read().strip()[-500:])
        out = [self.proc.stdout.readline() for _ in range(rows)]
        if any(line == "" for line in out):
            raise JobError("psql: %s" % self.proc.stderr.read().strip()[-500:])
        return [line.rstrip("\n") for line in out]

    def execute(self, *statements):
        """Statements without rows, then a probe: psql reports an error only by stopping."""
        for sql in statements:
            self.query(sql, rows=0)
        self.query("SELECT 1")

    def close(self):
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def list_tables(session):
    count = int(session.query("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')")[0])
    if not count:
        return []
    return session.query(
        "SELECT quote_ident(schemaname)||'.'||quote_ident(tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1", rows=count)


def table_stats(session, checksums=True):
    """{table: {rows, checksum}}: row count and an order-independent sum of row hashes."""
    stats = {}
    for setting in CANONICAL_SETTINGS:
        session.query(setting, rows=0)
    for table in list_tables(session):
        expr = "coalesce(sum(hashtextextended(t::text, 0)), 0)" if checksums else "0"
        rows, checksum = session.query("SELECT count(*)||' '||%s FROM %s t" % (expr, table))[0].split(" ")
        stats[table] = {"rows": int(rows), "checksum": checksum}
    return stats


def compare_stats(expected, actual):
    """Differences between two {table: stats} maps, as readable lines ([] = equal)."""
    return ["%s: backup %s, restored %s" % (t, expected[t], actual.get(t)) for t in expected if actual.get(t) != expected[t]]


# --- streams ----------------------------------------------------------------------------------

def compressor(cfg):
    spec = COMPRESSORS[cfg.get("compression", "zstd")]
    return spec["compress"] + [spec["level"] % int(cfg.get("compression_level", 3))], spec


def spec_for(path):
    return next(s for s in COMPRESSORS.values() if path.endswith("." + s["ext"]) or ("." + s["ext"] + ".") in path)


class StreamCheck:
    """decompress | consumer, fed with the compressed stream while it is written (the full decode
    of the dump costs no second read of the file). feed() never raises: a consumer that failed
    early is reported by result()."""

    def __init__(self, decompress_cmd, consumer_cmd):
        self.dec = subprocess.Popen(decompress_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.consumer = subprocess.Popen(consumer_cmd, stdin=self.dec.stdout, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        self.dec.stdout.close()
        self.broken = False

    def feed(self, chunk):
        if not self.broken:
            try:
                self.dec.stdin.write(chunk)
            except (BrokenPipeError, OSError):
                self.broken = True

    def result(self):
        """(ok, error text)."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.dec.stdin.close()
        dec_rc = self.dec.wait()
        err = self.consumer.stderr.read().decode(errors="replace").strip()
        consumer_rc = self.consumer.wait()
        if dec_rc != 0:
            return False, "decompression failed: %s" % (self.dec.stderr.read().decode(errors="replace").strip()[-300:]
                                                         or "exit %d" % dec_rc)
        if consumer_rc != 0:
            return False, err[-500:] or "exit %d" % consumer_rc
        return True, ""

    def kill(self):
        for proc in (self.dec, self.consumer):
            with contextlib.suppress(OSError):
                proc.kill()


# pg_dump writes its archive a few KB at a time, and `docker exec` relays every write on its own:
# that relay doubled the dump's time (bench: 16.7 s against 8.5 s for a 588 MB archive). A dd in
# the container hands the relay 1 MiB blocks; an image whose dd cannot fill blocks runs the tool
# directly (slower, never wrong). sh has no pipefail everywhere, so on both paths the tool's exit
# status comes back as a line of stderr behind a marker made for this run (text in the tool's own
# errors cannot forge it). No marker line is a failure: a killed subshell, a cut stream.
_COALESCE = (
    'm=$1; shift; '
    'if dd bs=1M count=0 iflag=fullblock status=none </dev/null >/dev/null 2>&1; then '
    '{ "$@"; printf "\\n%s%d\\n" "$m" "$?" >&2; } | dd bs=1M iflag=fullblock status=none; '
    'else "$@"; s=$?; printf "\\n%s%d\\n" "$m" "$s" >&2; exit $s; fi'
)
_STATUS = re.compile(r"[0-9]{1,3}")
STDERR_TAIL = 64 * 1024


def new_marker():
    return "credinet-exit-status-%s=" % secrets.token_hex(8)


def coalesced(argv, marker):
    """argv as a command whose stdout is written in 1 MiB blocks (same bytes) and whose exit
    status is reported after `marker` on a line of stderr (read by reported_status)."""
    return ["sh", "-c", _COALESCE, "sh", marker, *argv]


def reported_status(stderr_text, marker):
    """(stderr without the marker line, the status it reported or None when there is none).
    The marker line may be followed by the relay's own errors (dd ends last)."""
    status, kept = None, []
    for line in stderr_text.split("\n"):
        if line.startswith(marker) and _STATUS.fullmatch(line[len(marker):]):
            status = int(line[len(marker):])
        else:
            kept.append(line)
    return "\n".join(kept).strip(), status


class _Tail:
    """Reads a pipe to its end in a thread, keeping the last `limit` bytes: a tool that writes a
    lot to stderr never blocks on a full pipe (its stdout would stall with it)."""

    def __init__(self, pipe, limit=STDERR_TAIL):
        self.data = b""
        self._thread = threading.Thread(target=self._read, args=(pipe, limit), daemon=True)
        self._thread.start()

    def _read(self, pipe, limit):
        for chunk in iter(lambda: pipe.read(CHUNK), b""):
            self.data = (self.data + chunk)[-limit:]

    def text(self):
        self._thread.join()
        return self.data.decode(errors="replace")


def stream_to_file(producer_cmd, compress_cmd, dest, check=None, label=None, marker=None):
    """producer | compressor > dest (fsynced), the compressed stream also fed to `check` (a
    StreamCheck) when given. Returns (sha256, size). `label` names the producer in errors;
    `marker`: the producer is coalesced() and must report its status with it."""
    digest = hashlib.sha256()
    size = 0
    producer = subprocess.Popen(producer_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prod_err = _Tail(producer.stderr)
    comp = subprocess.Popen(compress_cmd, stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    comp_err = _Tail(comp.stderr)
    producer.stdout.close()
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: comp.stdout.read(CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                if check is not None:
                    check.feed(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        for proc in (producer, comp):
            with contextlib.suppress(OSError):
                proc.kill()
        if check is not None:
            check.kill()
        raise
    comp_rc, prod_rc = comp.wait(), producer.wait()
    name = label or " ".join(producer_cmd[3:5])
    err, status = prod_err.text().strip(), prod_rc
    if marker is not None:
        err, reported = reported_status(err, marker)
        if reported is None:
            raise JobError("%s did not report its exit status (killed, or its output cut): %s"
                           % (name, err[-500:] or "exit %d" % prod_rc))
        if reported == 0 and prod_rc != 0:
            name = "the block relay (dd) of %s" % name
        status = reported or prod_rc
    if status != 0:
        raise JobError("%s failed (exit %d): %s" % (name, status, err[-500:]))
    if comp_rc != 0:
        raise JobError("%s failed (exit %d): %s" % (compress_cmd[0], comp_rc, comp_err.text()[-300:]))
    return digest.hexdigest(), size


def decompress_into(path, consumer_cmd, reads_all=True):
    """decompress path | consumer; returns (ok, consumer stdout, error text).

    A consumer that legitimately stops early (pg_restore -l reads only the table of contents)
    closes the pipe: the decompressor's SIGPIPE is then not an error.
    """
    spec = spec_for(path)
    with open(path, "rb") as src:
        dec = subprocess.Popen(spec["decompress"], stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        consumer = subprocess.Popen(consumer_cmd, stdin=dec.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dec.stdout.close()
        out, err = consumer.communicate()
        dec_rc = dec.wait()
    dec_err = dec.stderr.read().decode(errors="replace").strip()
    if dec_rc != 0 and not (dec_rc == -signal.SIGPIPE and not reads_all and consumer.returncode == 0):
        return False, out, "decompression failed: %s" % (dec_err[-300:] or "exit %d" % dec_rc)
    if consumer.returncode != 0:
        return False, out, err.decode(errors="replace").strip()[-500:]
    return True, out, ""


def pg_tool(image, *args):
    """A PostgreSQL client tool of the server's own image, isolated from the live database."""
    return ["docker", "run", "--rm", "-i", "--network", "none", "--entrypoint", args[0], image, *args[1:]]


def toc_tables(toc):
    """schema.table of every TABLE DATA entry of a `pg_restore -l` listing."""
    tables = set()
    for line in toc.splitlines():
        if not line.startswith(";") and " TABLE DATA " in line:
            parts = line.split(" TABLE DATA ", 1)[1].split()
            if len(parts) >= 2:
                tables.add("%s.%s" % (parts[0], parts[1]))
    return tables


def verify_dump(path, image, expected_sha256, critical_tables, decoded=None):
    """Errors found (empty list = verified): checksum, full decode, critical tables present.
    `decoded`: the (ok, error) of a full decode already made from the stream (StreamCheck); the
    sha256 re-read from disk then proves the file holds exactly the bytes that were decoded."""
    errors = []
    actual = sha256_of(path)
    if expected_sha256 and actual != expected_sha256:
        errors.append("sha256 mismatch (manifest %s, file %s)" % (expected_sha256[:12], actual[:12]))
    ok, toc, err = decompress_into(path, pg_tool(image, "pg_restore", "-l"), reads_all=False)
    if not ok:
        errors.append("cannot read the archive table of contents: %s" % err)
    else:
        present = toc_tables(toc.decode(errors="replace"))
        missing = [t for t in critical_tables if t not in present and "public." + t not in present]
        if missing:
            errors.append("critical tables missing from the dump: %s" % ", ".join(missing))
    # pg_restore -l passes truncated and corrupted archives; a full decode does not.
    if decoded is not None:
        ok, err = decoded
    else:
        ok, _, err = decompress_into(path, pg_tool(image, "pg_restore", "-f", "/dev/null"))
    if not ok:
        errors.append("full decode failed: %s" % err)
    return errors
