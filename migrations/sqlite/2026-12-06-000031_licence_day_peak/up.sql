-- The day's peak use, kept on the counter's own row. A newcomer taking a free seat raises
-- `held` and `day_peak` with one conditional UPDATE, the last statement before its commit,
-- so a create locks one row (not also today's history row) and for the shortest time.
-- `peak_day` is the day `day_peak` belongs to (`YYYY-MM-DD`, UTC, as in
-- `licence_usage_days.day`); that day's history row is written by the next settlement that
-- holds the licences' lock, and readers fold `day_peak` in meanwhile.
ALTER TABLE licences ADD COLUMN peak_day TEXT;
ALTER TABLE licences ADD COLUMN day_peak BIGINT NOT NULL DEFAULT 0;
