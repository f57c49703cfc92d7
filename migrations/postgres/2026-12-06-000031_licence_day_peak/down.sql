ALTER TABLE licences DROP COLUMN day_peak;
ALTER TABLE licences DROP COLUMN peak_day;
