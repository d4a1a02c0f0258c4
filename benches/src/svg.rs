//! A tiny SVG chart writer (grouped bars and lines), enough for the benchmark report without
//! a plotting dependency.

use std::fmt::Write;

const COLORS: &[&str] = &[
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
];

/// Colour of series `i`.
pub fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A y axis: linear from 0, or log10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Linear from zero.
    Linear,
    /// Base-10 logarithmic.
    Log,
}

struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
}

impl Axis {
    fn new(scale: Scale, values: impl Iterator<Item = f64>) -> Axis {
        let vals: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
        let max = vals.iter().copied().fold(0.0f64, f64::max);
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        match scale {
            Scale::Linear => Axis {
                scale,
                lo: 0.0,
                hi: nice_ceil(if max > 0.0 { max } else { 1.0 }),
            },
            Scale::Log => {
                let lo = if min.is_finite() {
                    10f64.powf(min.log10().floor())
                } else {
                    1.0
                };
                let hi = if max > 0.0 {
                    10f64.powf(max.log10().ceil())
                } else {
                    10.0
                };
                Axis {
                    scale,
                    lo,
                    hi: if hi <= lo { lo * 10.0 } else { hi },
                }
            }
        }
    }

    /// Position in 0..=1 of value `v`.
    fn frac(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => (v / self.hi).clamp(0.0, 1.0),
            Scale::Log => {
                if v <= 0.0 {
                    return 0.0;
                }
                ((v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()))
                    .clamp(0.0, 1.0)
            }
        }
    }

    fn ticks(&self) -> Vec<f64> {
        match self.scale {
            Scale::Linear => (0..=5).map(|i| self.hi * i as f64 / 5.0).collect(),
            Scale::Log => {
                let mut t = Vec::new();
                let mut v = self.lo;
                while v <= self.hi * 1.0001 {
                    t.push(v);
                    v *= 10.0;
                }
                t
            }
        }
    }
}

fn nice_ceil(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// Short human form of a number (1.2k, 3.4M).
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.3}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
    .replace(".000", "")
}

const W: f64 = 900.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 90.0;

fn frame(out: &mut String, title: &str, y_label: &str, axis: &Axis) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>
"#,
        W / 2.0,
        esc(title),
        TOP + (H - TOP - BOTTOM) / 2.0,
        esc(y_label)
    );
    let ph = H - TOP - BOTTOM;
    for t in axis.ticks() {
        let y = TOP + ph * (1.0 - axis.frac(t));
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            human(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#333"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##,
        H - BOTTOM,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
}

fn legend(out: &mut String, series: &[String]) {
    let mut x = LEFT;
    let y = H - 18.0;
    for (i, s) in series.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 10.0,
            color(i),
            x + 16.0,
            y,
            esc(s)
        );
        x += 30.0 + 7.5 * s.len() as f64;
    }
}

/// A grouped bar chart: one group per category, one bar per series. `values[s][c]` is series
/// `s` in category `c`; missing values are `None`.
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[String],
    values: &[Vec<Option<f64>>],
    scale: Scale,
) -> String {
    let axis = Axis::new(scale, values.iter().flatten().flatten().copied());
    let mut out = String::new();
    frame(&mut out, title, y_label, &axis);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let gw = pw / categories.len().max(1) as f64;
    let bw = (gw * 0.8) / series.len().max(1) as f64;
    for (c, cat) in categories.iter().enumerate() {
        let gx = LEFT + gw * c as f64 + gw * 0.1;
        for (s, row) in values.iter().enumerate() {
            let Some(v) = row.get(c).copied().flatten() else {
                continue;
            };
            let h = ph * axis.frac(v);
            let x = gx + bw * s as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                TOP + ph - h,
                (bw - 1.0).max(1.0),
                color(s),
                esc(&format!(
                    "{} / {}",
                    series.get(s).map_or("", |s| s.as_str()),
                    cat
                )),
                human(v)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" transform="rotate(-30 {:.1} {:.1})">{}</text>"#,
            gx + gw * 0.4,
            H - BOTTOM + 16.0,
            gx + gw * 0.4,
            H - BOTTOM + 16.0,
            esc(cat)
        );
    }
    legend(&mut out, series);
    out.push_str("</svg>\n");
    out
}

/// A line chart: `series[s]` is a list of (x, y) points.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    names: &[String],
    series: &[Vec<(f64, f64)>],
    scale: Scale,
) -> String {
    let axis = Axis::new(scale, series.iter().flatten().map(|p| p.1));
    let xmax = series
        .iter()
        .flatten()
        .map(|p| p.0)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let xmax = nice_ceil(xmax);
    let mut out = String::new();
    frame(&mut out, title, y_label, &axis);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    for i in 0..=5 {
        let xv = xmax * i as f64 / 5.0;
        let x = LEFT + pw * i as f64 / 5.0;
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - BOTTOM + 16.0,
            human(xv)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - BOTTOM + 36.0,
        esc(x_label)
    );
    for (s, pts) in series.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (x, y)) in pts.iter().enumerate() {
            let px = LEFT + pw * (x / xmax).clamp(0.0, 1.0);
            let py = TOP + ph * (1.0 - axis.frac(*y));
            let _ = write!(d, "{}{px:.1},{py:.1} ", if i == 0 { "M" } else { "L" });
        }
        let _ = writeln!(
            out,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            d.trim_end(),
            color(s)
        );
    }
    legend(&mut out, names);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        let cats = vec!["a".to_string(), "b<".to_string()];
        let series = vec!["x".to_string(), "y".to_string()];
        let s = bars(
            "t",
            "ops/s",
            &cats,
            &series,
            &[vec![Some(1.0), Some(1e6)], vec![None, Some(5.0)]],
            Scale::Log,
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("b&lt;"));
        assert_eq!(s.matches("<rect x=").count(), 3 + 2); // 3 bars + 2 legend boxes
        let l = lines(
            "t",
            "s",
            "µs",
            &series,
            &[vec![(0.0, 1.0), (1.0, 2.0)], vec![]],
            Scale::Linear,
        );
        assert!(l.contains("<path d=\"M"));
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_500_000.0), "1.500M");
        assert_eq!(human(2000.0), "2k");
        assert_eq!(human(0.5), "0.500");
    }
}
