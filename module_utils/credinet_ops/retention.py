"""What may be deleted: one set of rules for the local folder and for the offsite copy.

Guards shared by both sides: the newest good sets are never deleted, one prune deletes at most
`max_deletes` sets, and a set dated in the future (the clock jumped) stops pruning altogether.
"""
import dataclasses
import datetime as dt
import statistics

from .sets import FAILED, GOOD, INCOMPLETE, LEGACY

# A set this far in the future means the clock is wrong (or was): pruning would be guesswork.
CLOCK_TOLERANCE = dt.timedelta(hours=1)


class RetentionRefused(ValueError):
    """Pruning was refused: nothing was deleted. The message says why and what to check."""


@dataclasses.dataclass(frozen=True)
class Policy:
    keep_days: int = 30
    min_good: int = 7
    failed_keep_days: int = 7
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    max_deletes: int = 10

    def validate(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("retention %s must be a whole number >= 0, got %r" % (field.name, value))
        if self.min_good < 1:
            raise ValueError("retention min_good must be >= 1: the newest good backup is never deleted")
        if self.max_deletes < 1:
            raise ValueError("retention max_deletes must be >= 1")
        return self

    @classmethod
    def from_config(cls, values):
        if not isinstance(values, dict):
            raise ValueError("retention must be a mapping, got %s" % type(values).__name__)
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError("unknown retention setting(s): %s" % ", ".join(unknown))
        return cls(**values).validate()


def _newest_per_bucket(sets, bucket, count):
    """The newest set of each of the `count` most recent buckets (days, weeks, months)."""
    chosen = {}
    for backup in sorted(sets, key=lambda s: s.taken_at, reverse=True):
        b = bucket(backup.taken_at)
        if b not in chosen:
            if len(chosen) == count:
                break
            chosen[b] = backup
    return list(chosen.values())


def _newest_first(sets, status):
    return sorted((s for s in sets if s.status == status), key=lambda s: s.taken_at, reverse=True)


def plan(sets, now, policy):
    """Split backup sets into (keep, delete).

    keep maps set key -> the reasons it is kept; delete lists the sets to remove. Rules:
    - the newest `min_good` verified sets are kept whatever their age (a month of failing runs
      must not erase the last good backups); legacy files top up when there are fewer;
    - anything younger than keep_days is kept; sets that failed verification only
      failed_keep_days. A dump without a manifest (the manifest write failed, e.g. a full disk)
      may still be the only copy of that day: it is kept as long as a good one;
    - with GFS counts, the newest restorable set of each of the last N days/weeks/months.
    """
    policy.validate()
    keep = {}

    def mark(backup, reason):
        keep.setdefault(backup.key, []).append(reason)

    for backup in (_newest_first(sets, GOOD) + _newest_first(sets, LEGACY))[: policy.min_good]:
        mark(backup, "newest-%d-good" % policy.min_good)
    for backup in sets:
        limit = policy.failed_keep_days if backup.status == FAILED else policy.keep_days
        if now - backup.taken_at < dt.timedelta(days=limit):
            mark(backup, "younger-than-%dd" % limit)
    restorable = [s for s in sets if s.restorable]
    tiers = (
        ("daily", policy.daily, lambda t: t.date()),
        ("weekly", policy.weekly, lambda t: tuple(t.isocalendar())[:2]),
        ("monthly", policy.monthly, lambda t: (t.year, t.month)),
    )
    for name, count, bucket in tiers:
        if count:
            for backup in _newest_per_bucket(restorable, bucket, count):
                mark(backup, name)
    return keep, [s for s in sets if s.key not in keep]


def check_clock(sets, now, tolerance=CLOCK_TOLERANCE):
    """Refuse when a set is dated after `now` (+ tolerance): the clock jumped, ages are unknown."""
    future = [s for s in sets if s.status != LEGACY and s.taken_at - now > tolerance]
    if future:
        newest = max(future, key=lambda s: s.taken_at)
        raise RetentionRefused(
            "backup %s is dated %s, after the host clock (%s): the clock jumped; retention refuses to delete "
            "anything until the clock is checked" % (newest.key, newest.taken_at.isoformat(), now.isoformat()))


def guarded_plan(sets, now, policy):
    """(keep, delete) under the guards: clock sanity and at most policy.max_deletes sets per prune."""
    check_clock(sets, now)
    keep, delete = plan(sets, now, policy)
    if len(delete) > policy.max_deletes:
        raise RetentionRefused(
            "retention would delete %d backup sets in one run (limit %d): refusing; check the clock and the "
            "listing, or raise the limit" % (len(delete), policy.max_deletes))
    return keep, delete


def size_anomaly(size, previous_sizes, low=0.5, high=2.0, window=7):
    """A warning text when `size` is far from the median of the recent good sizes, else None."""
    recent = [s for s in previous_sizes if s > 0][-window:]
    if len(recent) < 3:
        return None
    median = statistics.median(recent)
    ratio = size / median
    if ratio < low or ratio > high:
        return "size %d bytes is %.0f%% of the median of the last %d good backups (%d bytes)" % (
            size, ratio * 100, len(recent), median)
    return None


__all__ = ["Policy", "RetentionRefused", "plan", "guarded_plan", "check_clock", "size_anomaly", "INCOMPLETE"]
