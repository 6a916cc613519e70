"""credinet_ops.retention: what may be deleted, locally and offsite, and the guards around it."""
import datetime as dt

import pytest

from credinet_ops import retention, sets
from credinet_ops.retention import Policy, RetentionRefused

MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=MX)


def bset(days_ago, status="good", hour=2):
    moment = NOW - dt.timedelta(days=days_ago)
    moment = moment.replace(hour=hour)
    return sets.BackupSet(sets.set_key("credinet", moment), moment, status, (), 100)


def at(moment, status="good"):
    return sets.BackupSet(sets.set_key("credinet", moment), moment, status, (), 100)


class TestPlan:
    def test_sixty_days_of_failures_never_delete_the_last_good(self):
        good = [bset(d) for d in range(60, 67)]
        failed = [bset(d, "failed") for d in range(60)]
        keep, delete = retention.plan(good + failed, NOW, Policy(keep_days=30, min_good=7))
        assert all(s.key in keep for s in good)
        assert all("newest-7-good" in keep[s.key] for s in good)
        deleted = {s.key for s in delete}
        assert deleted == {s.key for s in failed if (NOW - s.taken_at).days >= 7}

    def test_normal_thirty_day_pruning(self):
        found = [bset(d) for d in range(45)]
        keep, delete = retention.plan(found, NOW, Policy(keep_days=30, min_good=7))
        assert sorted((NOW - s.taken_at).days for s in delete) == list(range(30, 45))
        assert len(keep) == 30

    def test_newest_good_counts_only_restorable_sets(self):
        found = [bset(40), bset(41), bset(1, "failed"), bset(2, "incomplete")]
        keep, delete = retention.plan(found, NOW, Policy(keep_days=30, min_good=2, failed_keep_days=7))
        assert {s.key for s in delete} == set()
        assert keep[found[0].key] == ["newest-2-good"]

    def test_legacy_files_follow_the_same_policy(self):
        old = sets.BackupSet("/old/a.sql.gz", NOW - dt.timedelta(days=90), "legacy", ("/old/a.sql.gz",))
        recent = [bset(d) for d in range(10)]
        keep, delete = retention.plan([old] + recent, NOW, Policy(keep_days=30, min_good=7))
        assert delete == [old]
        keep, delete = retention.plan([old], NOW, Policy(keep_days=30, min_good=1))
        assert delete == [] and keep[old.key] == ["newest-1-good"]

    def test_gfs_keeps_newest_per_day_week_month(self):
        found = [bset(d, hour=h) for d in range(120) for h in (2, 14)]
        keep, delete = retention.plan(found, NOW, Policy(keep_days=0, min_good=1, daily=7, weekly=4, monthly=3))
        kept = [s for s in found if s.key in keep]
        daily = [s for s in kept if "daily" in keep[s.key]]
        assert len(daily) == 7 and all(s.taken_at.hour == 14 for s in daily)
        assert len([s for s in kept if "weekly" in keep[s.key]]) == 4
        monthly = [s for s in kept if "monthly" in keep[s.key]]
        assert len(monthly) == 3
        assert len({(s.taken_at.year, s.taken_at.month) for s in monthly}) == 3
        assert len(delete) == len(found) - len(kept)

    def test_verified_sets_win_over_newer_legacy_files_for_protection(self):
        good = [bset(d) for d in range(60, 62)]
        legacy = sets.BackupSet("/old/new.sql.gz", NOW - dt.timedelta(days=40), "legacy", ("/old/new.sql.gz",))
        keep, delete = retention.plan(good + [legacy], NOW, Policy(keep_days=30, min_good=2))
        assert delete == [legacy]
        keep, delete = retention.plan(good + [legacy], NOW, Policy(keep_days=30, min_good=3))
        assert delete == []

    def test_failed_sets_are_kept_for_failed_keep_days(self):
        found = [bset(3, "failed"), bset(9, "failed"), bset(0)]
        keep, delete = retention.plan(found, NOW, Policy(keep_days=30, min_good=1, failed_keep_days=7))
        assert delete == [found[1]]

    def test_nothing_to_do_on_empty_input(self):
        assert retention.plan([], NOW, Policy()) == ({}, [])

    @pytest.mark.parametrize("bad", [dict(min_good=0), dict(keep_days=-1), dict(daily="7"), dict(weekly=True),
                                     dict(max_deletes=0)])
    def test_invalid_policy_is_refused(self, bad):
        with pytest.raises(ValueError):
            retention.plan([], NOW, Policy(**bad))

    @pytest.mark.parametrize(("days_ago", "kept"), [(0, True), (8, True), (29, True), (31, False)])
    def test_incomplete_sets_are_kept_as_long_as_good_ones(self, days_ago, kept):
        # A dump whose manifest write failed (a full disk) may be that day's only copy.
        incomplete = bset(days_ago, "incomplete")
        keep, delete = retention.plan([bset(0), incomplete], NOW, Policy(keep_days=30, min_good=1, failed_keep_days=7))
        assert (incomplete.key in keep) is kept
        assert (incomplete in delete) is not kept

    def test_incomplete_sets_never_count_as_the_newest_good(self):
        incomplete = [bset(d, "incomplete") for d in range(40, 43)]
        good = bset(50)
        keep, delete = retention.plan(incomplete + [good], NOW, Policy(keep_days=30, min_good=1))
        assert keep == {good.key: ["newest-1-good"]}
        assert delete == incomplete


class TestPolicyFromConfig:
    def test_valid_settings(self):
        assert Policy.from_config({"keep_days": 9, "min_good": 2}) == Policy(keep_days=9, min_good=2)
        assert Policy.from_config({}) == Policy()

    def test_unknown_keys_are_named(self):
        with pytest.raises(ValueError, match="unknown retention setting\\(s\\): keep_weeks, max_delete$"):
            Policy.from_config({"keep_days": 9, "max_delete": 3, "keep_weeks": 1})

    @pytest.mark.parametrize("values", [None, [], "keep_days=3", 7])
    def test_not_a_mapping(self, values):
        with pytest.raises(ValueError, match="must be a mapping"):
            Policy.from_config(values)

    @pytest.mark.parametrize(("values", "field"), [({"min_good": 0}, "min_good"), ({"keep_days": "30"}, "keep_days"),
                                                   ({"max_deletes": 0}, "max_deletes"), ({"daily": False}, "daily"),
                                                   ({"failed_keep_days": 1.5}, "failed_keep_days")])
    def test_invalid_values_are_named(self, values, field):
        with pytest.raises(ValueError, match=field):
            Policy.from_config(values)


class TestGuards:
    def test_a_set_dated_after_the_clock_stops_pruning(self):
        found = [bset(d) for d in range(40, 60)] + [at(NOW + dt.timedelta(hours=2))]
        with pytest.raises(RetentionRefused, match="clock jumped") as err:
            retention.guarded_plan(found, NOW, Policy(keep_days=30, min_good=1, max_deletes=100))
        assert found[-1].key in str(err.value)

    @pytest.mark.parametrize(("ahead", "refused"), [(dt.timedelta(minutes=59), False), (dt.timedelta(hours=1), False),
                                                    (dt.timedelta(hours=1, seconds=1), True), (dt.timedelta(days=3650), True)])
    def test_clock_tolerance_is_one_hour(self, ahead, refused):
        found = [bset(1), at(NOW + ahead)]
        if refused:
            with pytest.raises(RetentionRefused):
                retention.guarded_plan(found, NOW, Policy())
        else:
            assert retention.guarded_plan(found, NOW, Policy())[1] == []

    def test_failed_and_incomplete_sets_in_the_future_count_too(self):
        for status in ("failed", "incomplete"):
            with pytest.raises(RetentionRefused):
                retention.check_clock([at(NOW + dt.timedelta(days=1), status)], NOW)

    def test_legacy_files_in_the_future_do_not_stop_pruning(self):
        # Their times come from names and copied mtimes, not from the clock of a backup run.
        legacy = sets.BackupSet("/old/x.sql.gz", NOW + dt.timedelta(days=30), "legacy", ("/old/x.sql.gz",))
        retention.check_clock([legacy], NOW)

    @pytest.mark.parametrize(("sets_over_limit", "refused"), [(-1, False), (0, False), (1, True)])
    def test_max_deletes_caps_one_prune(self, sets_over_limit, refused):
        limit = 5
        found = [bset(d) for d in range(7)] + [bset(d) for d in range(100, 100 + limit + sets_over_limit)]
        policy = Policy(keep_days=30, min_good=7, max_deletes=limit)
        if refused:
            with pytest.raises(RetentionRefused, match="would delete %d backup sets in one run \\(limit %d\\)"
                                                      % (limit + sets_over_limit, limit)):
                retention.guarded_plan(found, NOW, policy)
        else:
            keep, delete = retention.guarded_plan(found, NOW, policy)
            assert len(delete) == limit + sets_over_limit


def entry(name, size=10):
    return {"Path": name, "Name": name, "Size": size, "IsDir": False}


def listing(days, manifest=True):
    out = []
    for day in days:
        key = sets.set_key("credinet", NOW - dt.timedelta(days=day))
        out.append(entry(key + ".dump.zst", 100))
        out.append(entry(key + ".globals.sql.zst"))
        if manifest:
            out.append(entry(key + ".manifest.json"))
    return out


def doomed_files(found, now, policy):
    keep, delete = retention.guarded_plan(found, now, policy)
    return [f for s in delete for f in s.files]


class TestRemoteRetention:
    """The offsite copy goes through the same rules (sets.from_listing + guarded_plan)."""

    def test_sets_from_a_listing(self):
        found = sets.from_listing(listing([0, 1]) + listing([2], manifest=False) + [{"Path": "dir", "IsDir": True}])
        assert [s.status for s in found] == ["incomplete", "good", "good"]
        assert all(len(s.files) in (2, 3) for s in found)

    def test_longer_offsite_policy_and_newest_good_protected(self):
        found = sets.from_listing(listing(range(100)))
        doomed = doomed_files(found, NOW, Policy(keep_days=90, min_good=7, max_deletes=20))
        assert len(doomed) == 10 * 3

    def test_too_many_deletions_are_refused(self):
        found = sets.from_listing(listing(range(100)))
        with pytest.raises(RetentionRefused, match="would delete 70 backup sets"):
            doomed_files(found, NOW, Policy(keep_days=30, min_good=7, max_deletes=20))

    def test_a_wrong_clock_cannot_wipe_the_history(self):
        found = sets.from_listing(listing(range(10)))
        far_future = NOW + dt.timedelta(days=3650)
        doomed = doomed_files(found, far_future, Policy(keep_days=30, min_good=7, max_deletes=5))
        assert len(doomed) == 3 * 3  # the newest 7 good sets survive whatever the clock says

    def test_a_clock_set_back_refuses_instead_of_guessing(self):
        found = sets.from_listing(listing(range(10)))
        with pytest.raises(RetentionRefused, match="clock"):
            doomed_files(found, NOW - dt.timedelta(days=365), Policy(keep_days=30, min_good=1, max_deletes=100))


class TestSizeAnomaly:
    def test_within_range_is_quiet(self):
        assert retention.size_anomaly(100, [90, 100, 110, 105]) is None

    def test_tiny_dump_warns(self):
        assert "10% of the median" in retention.size_anomaly(10, [100, 100, 100])

    def test_huge_dump_warns(self):
        assert retention.size_anomaly(500, [100, 100, 100]) is not None

    def test_too_little_history_is_quiet(self):
        assert retention.size_anomaly(1, [100, 100]) is None

    def test_only_the_recent_window_counts(self):
        assert retention.size_anomaly(1000, [10] * 20 + [1000] * 7) is None

    def test_empty_previous_sizes_are_ignored(self):
        assert retention.size_anomaly(100, [0, 0, 0, 100]) is None
