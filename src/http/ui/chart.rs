//! A line chart drawn on the server as SVG (no script): one line per series over days, a dot
//! per recorded day (with its value in a `<title>`, read on hover and by screen readers),
//! the y axis from 0 with three labelled ticks, the first, middle and last day on the x
//! axis. The `<svg>` carries `role="img"`, a `<title>` and a `<desc>`; the page puts the
//! numbers in a table beside it for anyone who cannot see the picture. Colours come from
//! the stylesheet, by the series' class.

use chrono::NaiveDate;
use maud::{Markup, html};

/// One line: a class (colour and the dots' `point <class>`), and its values by day.
pub struct Series {
    pub class: &'static str,
    pub label: String,
    pub points: Vec<(NaiveDate, i64)>,
}

/// What the chart says in words.
pub struct Words {
    pub id: &'static str,
    pub title: String,
    pub desc: String,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A round top for the y axis at or above `max` (at least 1): 1, 2 or 5 times a power of
/// ten, so the middle tick is a whole number too when it can be.
fn axis_top(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart of `series` over the days `since..=until` (each day at its place, so a day
/// without a record is a gap in the spacing, not a missing slot).
pub fn line_chart(words: &Words, since: NaiveDate, until: NaiveDate, series: &[Series]) -> Markup {
    let days = (until - since).num_days().max(1) as f64;
    let top = axis_top(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .max()
            .unwrap_or(0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |d: NaiveDate| LEFT + plot_w * ((d - since).num_days() as f64 / days);
    let y = |v: i64| TOP + plot_h * (1.0 - v as f64 / top as f64);
    let middle = since + chrono::Days::new(((until - since).num_days() / 2) as u64);
    let x_ticks: Vec<NaiveDate> = {
        let mut t = vec![since, middle, until];
        t.dedup();
        t
    };
    let y_ticks = [0, top / 2, top];
    let title_id = format!("{}-title", words.id);
    let desc_id = format!("{}-desc", words.id);
    html! {
        svg.chart id=(words.id) role="img" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            xmlns="http://www.w3.org/2000/svg"
            aria-labelledby=(format!("{title_id} {desc_id}")) {
            title id=(title_id) { (words.title) }
            desc id=(desc_id) { (words.desc) }
            g.axis {
                line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
                line x1=(LEFT) y1=(TOP + plot_h) x2=(LEFT + plot_w) y2=(TOP + plot_h) {}
                @for v in y_ticks {
                    line.grid x1=(LEFT) y1=(y(v)) x2=(LEFT + plot_w) y2=(y(v)) {}
                    text x=(LEFT - 6.0) y=(y(v) + 4.0) text-anchor="end" { (v) }
                }
                @for (i, d) in x_ticks.iter().enumerate() {
                    @let anchor = if i == 0 { "start" } else if *d == until { "end" } else { "middle" };
                    text x=(x(*d)) y=(HEIGHT - BOTTOM + 18.0) text-anchor=(anchor) { (d) }
                }
            }
            @for s in series {
                g class=(format!("series {}", s.class)) {
                    @if s.points.len() > 1 {
                        polyline fill="none" points=(
                            s.points.iter()
                                .map(|(d, v)| format!("{:.1},{:.1}", x(*d), y(*v)))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ) {}
                    }
                    @for (d, v) in &s.points {
                        circle class=(format!("point {}", s.class)) cx=(format!("{:.1}", x(*d)))
                            cy=(format!("{:.1}", y(*v))) r="3.5" {
                            title { (d) ": " (v) " " (s.label) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_top_is_round_and_never_below_the_highest_value() {
        assert_eq!(axis_top(0), 1);
        assert_eq!(axis_top(1), 1);
        assert_eq!(axis_top(3), 5);
        assert_eq!(axis_top(7), 10);
        assert_eq!(axis_top(11), 20);
        assert_eq!(axis_top(250), 500);
        assert!(axis_top(i64::MAX) >= 1);
    }

    #[test]
    fn each_recorded_day_is_one_dot_inside_the_plot() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 1, n).unwrap();
        let words = Words {
            id: "c",
            title: "t".into(),
            desc: "d".into(),
        };
        let svg = line_chart(
            &words,
            d(1),
            d(30),
            &[Series {
                class: "full",
                label: "full".into(),
                points: vec![(d(1), 0), (d(2), 4), (d(30), 9)],
            }],
        )
        .into_string();
        assert_eq!(svg.matches("class=\"point full\"").count(), 3);
        assert!(svg.contains("<title id=\"c-title\">t</title>"));
        assert!(svg.contains("cx=\"48.0\" cy=\"220.0\""), "{svg}");
        assert!(svg.contains("cx=\"704.0\""), "{svg}");
    }
}
