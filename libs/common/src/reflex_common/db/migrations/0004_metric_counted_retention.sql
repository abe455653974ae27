-- metric_counted only has to outlive every possible redelivery; old ids are forgotten by age.
CREATE INDEX metric_counted_counted_at ON metric_counted (counted_at);
