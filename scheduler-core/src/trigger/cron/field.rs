//! Cron fields and their expressions, with APScheduler 3's grammar and semantics
//! (`apscheduler/triggers/cron/fields.py` and `expressions.py`).
//!
//! Each field holds a list of expressions; the next allowed value is the smallest any of them
//! allows. Expressions over fixed ranges are compiled to a bit set; `last`, `last fri` and
//! `2nd mon` (day field only) depend on the month and are evaluated per month.
//!
//! Stricter than APScheduler 3, on purpose: trailing text after an expression (`lastx`,
//! `2nd mon foo`, `mon-5`) is an error instead of being ignored, and a step after a name range
//! (`jan-mar/2`) is honoured instead of being silently dropped.

use std::fmt;

use crate::civil::{Parts, days_from_civil, days_in_month, iso_week, weekday};
use crate::error::{Error, Result};

/// Month abbreviations, `jan` = 1.
pub(crate) const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
/// Weekday abbreviations, `mon` = 0 (APScheduler's numbering).
pub(crate) const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const POSITIONS: [&str; 6] = ["1st", "2nd", "3rd", "4th", "5th", "last"];

/// The eight cron fields, most significant first (APScheduler's `FIELD_NAMES` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Year,
    Month,
    Day,
    Week,
    DayOfWeek,
    Hour,
    Minute,
    Second,
}

impl Kind {
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Year,
        Kind::Month,
        Kind::Day,
        Kind::Week,
        Kind::DayOfWeek,
        Kind::Hour,
        Kind::Minute,
        Kind::Second,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Kind::Year => "year",
            Kind::Month => "month",
            Kind::Day => "day",
            Kind::Week => "week",
            Kind::DayOfWeek => "day_of_week",
            Kind::Hour => "hour",
            Kind::Minute => "minute",
            Kind::Second => "second",
        }
    }

    /// Smallest value (`MIN_VALUES`).
    #[inline]
    pub(crate) const fn min(self) -> u32 {
        match self {
            Kind::Year => 1970,
            Kind::Month | Kind::Day | Kind::Week => 1,
            Kind::DayOfWeek | Kind::Hour | Kind::Minute | Kind::Second => 0,
        }
    }

    /// Largest value (`MAX_VALUES`); the day field's real maximum is the month's length.
    #[inline]
    pub(crate) const fn max(self) -> u32 {
        match self {
            Kind::Year => 9999,
            Kind::Month => 12,
            Kind::Day => 31,
            Kind::Week => 53,
            Kind::DayOfWeek => 6,
            Kind::Hour => 23,
            Kind::Minute | Kind::Second => 59,
        }
    }

    /// Whether the field is a component of a datetime (`REAL`); week and day_of_week are not.
    #[inline]
    pub(crate) const fn is_real(self) -> bool {
        !matches!(self, Kind::Week | Kind::DayOfWeek)
    }

    /// The field's value in a wall time (`get_value`).
    #[inline]
    pub(crate) const fn value(self, p: &Parts) -> u32 {
        match self {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // years 1..=9999
            Kind::Year => p.year as u32,
            Kind::Month => p.month,
            Kind::Day => p.day,
            Kind::Week => iso_week(p.days),
            Kind::DayOfWeek => weekday(p.days),
            Kind::Hour => p.hour,
            Kind::Minute => p.minute,
            Kind::Second => p.second,
        }
    }

    /// The field's largest value in a wall time's month (`get_max`).
    #[inline]
    pub(crate) const fn max_at(self, p: &Parts) -> u32 {
        match self {
            Kind::Day => days_in_month(p.year, p.month),
            _ => self.max(),
        }
    }

    /// APScheduler 3's default for an omitted field less significant than the given ones.
    pub(crate) const fn default_expr(self) -> &'static str {
        match self {
            Kind::Year | Kind::Week | Kind::DayOfWeek => "*",
            Kind::Month | Kind::Day => "1",
            Kind::Hour | Kind::Minute | Kind::Second => "0",
        }
    }
}

/// Which names a range was written with, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    Numbers,
    Months,
    Weekdays,
}

/// One expression of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    /// `*` or `*/n`: every value from the field's minimum, in steps of `n`.
    All { step: Option<u32> },
    /// `a`, `a-b`, `a-b/n`, `a/n` and name forms (`mon-fri`, `jan-mar/2`).
    Range {
        first: u32,
        last: Option<u32>,
        step: Option<u32>,
        names: Names,
    },
    /// `1st mon` .. `5th mon`, `last mon` (day field only): `nth` is 0..=4, or 5 for `last`.
    WeekdayPosition { nth: u8, weekday: u32 },
    /// `last` (day field only): the last day of the month.
    LastDay,
    /// Quartz's day-of-month forms (day field only): `15W` (the weekday nearest the 15th),
    /// `L-3` (three days before the last), `LW` (the last weekday), `L-3W`. The day is `n`, or
    /// the month's last day minus `n` when `from_end`; `weekday` moves it to the nearest
    /// Monday..Friday without leaving the month (Quartz's `W`). A day the month does not have
    /// matches nothing.
    MonthDay {
        from_end: bool,
        n: u32,
        weekday: bool,
    },
}

impl Expr {
    /// The values this expression allows within the field's fixed range, as a bit set (bit `v`
    /// set when value `v` is allowed). Not for the year field, nor month-dependent expressions.
    fn bits(&self, kind: Kind) -> u64 {
        let (lo, hi, step) = match *self {
            Expr::All { step } => (kind.min(), kind.max(), step.unwrap_or(1)),
            Expr::Range {
                first, last, step, ..
            } => (
                first.max(kind.min()),
                last.unwrap_or(kind.max()).min(kind.max()),
                step.unwrap_or(1),
            ),
            Expr::WeekdayPosition { .. } | Expr::LastDay | Expr::MonthDay { .. } => return 0,
        };
        let mut bits = 0u64;
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
        bits
    }

    /// The smallest allowed value `>= start` and `<= max` (APScheduler's `get_next_value`),
    /// for expressions evaluated directly (year field, and month-dependent day expressions).
    fn next_value(&self, kind: Kind, start: u32, p: &Parts, max: u32) -> Option<u32> {
        match *self {
            Expr::All { step } => {
                let minval = kind.min();
                let start = start.max(minval);
                let next = match step {
                    Some(step) => start + (step - (start - minval) % step) % step,
                    None => start,
                };
                (next <= max).then_some(next)
            }
            Expr::Range {
                first, last, step, ..
            } => {
                let minval = kind.min().max(first);
                let maxval = last.map_or(max, |last| last.min(max));
                let mut next = minval.max(start);
                if let Some(step) = step {
                    next += (step - (next - minval) % step) % step;
                }
                (next <= maxval).then_some(next)
            }
            Expr::WeekdayPosition { nth, weekday: wd } => {
                let first_weekday = weekday(days_from_civil(p.year, p.month, 1));
                let last_day = days_in_month(p.year, p.month);
                let mut first_hit = i64::from(wd) - i64::from(first_weekday) + 1;
                if first_hit <= 0 {
                    first_hit += 7;
                }
                let target = if nth < 5 {
                    first_hit + i64::from(nth) * 7
                } else {
                    first_hit + (i64::from(last_day) - first_hit) / 7 * 7
                };
                let target = u32::try_from(target).ok()?;
                (target <= last_day && target >= p.day).then_some(target)
            }
            Expr::LastDay => Some(days_in_month(p.year, p.month)),
            Expr::MonthDay {
                from_end,
                n,
                weekday: nearest,
            } => {
                let target = month_day(p.year, p.month, from_end, n, nearest)?;
                (target >= p.day).then_some(target)
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Expr::All { step: None } => f.write_str("*"),
            Expr::All { step: Some(step) } => write!(f, "*/{step}"),
            Expr::Range {
                first,
                last,
                step,
                names,
            } => {
                let name = |v: u32| -> String {
                    let idx = usize::try_from(v).unwrap_or(usize::MAX);
                    match names {
                        Names::Numbers => v.to_string(),
                        Names::Months => MONTHS
                            .get(idx.wrapping_sub(1))
                            .map_or_else(|| v.to_string(), |s| (*s).to_owned()),
                        Names::Weekdays => WEEKDAYS
                            .get(idx)
                            .map_or_else(|| v.to_string(), |s| (*s).to_owned()),
                    }
                };
                match last {
                    Some(last) if last != first => write!(f, "{}-{}", name(first), name(last))?,
                    _ => f.write_str(&name(first))?,
                }
                if let Some(step) = step {
                    write!(f, "/{step}")?;
                }
                Ok(())
            }
            Expr::WeekdayPosition { nth, weekday } => write!(
                f,
                "{} {}",
                POSITIONS[usize::from(nth)],
                WEEKDAYS[usize::try_from(weekday).unwrap_or(0)]
            ),
            Expr::LastDay => f.write_str("last"),
            Expr::MonthDay {
                from_end,
                n,
                weekday,
            } => {
                match (from_end, n) {
                    (true, 0) => f.write_str("L")?,
                    (true, n) => write!(f, "L-{n}")?,
                    (false, n) => write!(f, "{n}")?,
                }
                if weekday {
                    f.write_str("W")?;
                }
                Ok(())
            }
        }
    }
}

/// A compiled cron field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) kind: Kind,
    exprs: Vec<Expr>,
    /// Union of the fixed-range expressions (not used for the year field).
    bits: u64,
    /// Whether some expression depends on the month (`last`, `2nd mon`).
    dynamic: bool,
    /// Whether the value came from APScheduler's defaults rather than the user.
    pub(crate) is_default: bool,
    /// Whether every value of the field matches (`*`), so the search can skip it.
    pub(crate) allows_all: bool,
}

impl Field {
    /// Parses a field's expression list (`"1-5,10,*/20"`), as APScheduler's
    /// `BaseField.compile_expressions` does, but rejecting trailing text.
    pub(crate) fn parse(kind: Kind, text: &str, is_default: bool) -> Result<Field> {
        let field = kind.name();
        let trimmed = text.trim();
        let mut exprs = Vec::new();
        for item in trimmed.split(',') {
            let item = item.trim_matches(' ');
            exprs.push(parse_expr(kind, item).map_err(|e| e.in_field(field))?);
        }
        let dynamic = exprs.iter().any(|e| {
            matches!(
                e,
                Expr::WeekdayPosition { .. } | Expr::LastDay | Expr::MonthDay { .. }
            )
        });
        let bits = if kind == Kind::Year {
            0
        } else {
            exprs.iter().fold(0, |acc, e| acc | e.bits(kind))
        };
        // A year field of `*` allows every year the search can reach (it ends at 9999).
        let allows_all = if kind == Kind::Year {
            exprs == [Expr::All { step: None }]
        } else {
            let full = (kind.min()..=kind.max()).fold(0u64, |acc, v| acc | 1 << v);
            bits & full == full
        };
        Ok(Field {
            kind,
            exprs,
            bits,
            dynamic,
            is_default,
            allows_all,
        })
    }

    /// The smallest allowed value `>=` the field's current value in `p`, or `None`.
    #[inline]
    pub(crate) fn next_value(&self, p: &Parts) -> Option<u32> {
        let start = self.kind.value(p);
        let max = self.kind.max_at(p);
        if self.kind == Kind::Year {
            return self
                .exprs
                .iter()
                .filter_map(|e| e.next_value(self.kind, start, p, max))
                .min();
        }
        let mut best = None;
        if start <= max {
            let upto = if max >= 63 {
                u64::MAX
            } else {
                (1u64 << (max + 1)) - 1
            };
            let candidates = (self.bits >> start << start) & upto;
            if candidates != 0 {
                best = Some(candidates.trailing_zeros());
            }
        }
        if self.dynamic {
            for e in &self.exprs {
                if let Some(v) = e.next_value(self.kind, start, p, max) {
                    if best.is_none_or(|b| v < b) {
                        best = Some(v);
                    }
                }
            }
        }
        best
    }

    /// For the day field: the smallest day of month it can ever match, if every expression is
    /// a fixed number (used to prove `day=31, month=2`-style expressions can never fire).
    pub(crate) fn min_fixed_day(&self) -> Option<u32> {
        if self.dynamic || self.bits == 0 {
            return None;
        }
        Some(self.bits.trailing_zeros())
    }

    /// For the month field: whether month `m` (1..=12) is allowed.
    pub(crate) fn allows(&self, v: u32) -> bool {
        v < 64 && self.bits & (1 << v) != 0
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.exprs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

fn parse_expr(kind: Kind, item: &str) -> Result<Expr> {
    let unrecognized = || {
        let forms = match kind {
            Kind::Day => {
                "*, */n, a, a-b, a-b/n, a/n, last, last <weekday>, 1st..5th <weekday>, 15W, LW or L-3"
            }
            Kind::Month => "*, */n, a, a-b, a-b/n, a/n or month names such as jan or jan-mar",
            Kind::DayOfWeek => "*, */n, a, a-b, a-b/n, a/n or weekday names such as mon or mon-fri",
            _ => "*, */n, a, a-b, a-b/n or a/n",
        };
        if item.is_empty() {
            Error::invalid("", format!("empty expression (expected {forms})"))
        } else {
            Error::invalid(
                "",
                format!("unrecognized expression '{item}' (expected {forms})"),
            )
        }
    };
    if let Some(rest) = item.strip_prefix('*') {
        let step = match rest {
            "" => None,
            _ => Some(parse_step(
                kind,
                rest.strip_prefix('/').ok_or_else(unrecognized)?,
            )?),
        };
        if let Some(step) = step {
            let range = kind.max() - kind.min();
            if step > range {
                return Err(Error::invalid(
                    "",
                    format!("step {step} in '{item}' is larger than the field's range ({range})"),
                ));
            }
        }
        return Ok(Expr::All { step });
    }
    // Split off a step: `a-b/n`, `a/n`, `jan-mar/2`.
    let (body, step) = match item.split_once('/') {
        Some((body, step)) => (body, Some(parse_step(kind, step)?)),
        None => (item, None),
    };
    let lower = item.to_ascii_lowercase();
    if kind == Kind::Day {
        if lower == "last" {
            return Ok(Expr::LastDay);
        }
        if let Some(expr) = quartz_month_day(item)? {
            return Ok(expr);
        }
        if let Some((pos, rest)) = lower.split_once(' ') {
            if let Some(nth) = POSITIONS.iter().position(|p| *p == pos) {
                let name = rest.trim_start_matches(' ');
                let weekday = WEEKDAYS.iter().position(|w| *w == name).ok_or_else(|| {
                    Error::invalid(
                        "",
                        format!("invalid weekday name '{name}' in '{item}' (expected mon..sun)"),
                    )
                })?;
                return Ok(Expr::WeekdayPosition {
                    nth: u8::try_from(nth).unwrap_or(5),
                    weekday: u32::try_from(weekday).unwrap_or(0),
                });
            }
            if rest
                .split_whitespace()
                .next()
                .is_some_and(|w| WEEKDAYS.contains(&w))
            {
                return Err(Error::invalid(
                    "",
                    format!(
                        "invalid weekday position '{pos}' in '{item}' (expected 1st, 2nd, 3rd, 4th, 5th or last)"
                    ),
                ));
            }
        }
    }
    if body.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let (first, last) = match body.split_once('-') {
            Some((a, b)) => (
                parse_number(a, item, &unrecognized)?,
                Some(parse_number(b, item, &unrecognized)?),
            ),
            None => (parse_number(body, item, &unrecognized)?, None),
        };
        return range_expr(kind, item, first, last, step, Names::Numbers);
    }
    if kind == Kind::Day {
        return Err(unrecognized());
    }
    let (names, table): (Names, &[&str]) = match kind {
        Kind::Month => (Names::Months, &MONTHS),
        Kind::DayOfWeek => (Names::Weekdays, &WEEKDAYS),
        _ => return Err(unrecognized()),
    };
    let body_lower = body.to_ascii_lowercase();
    if body_lower.is_empty()
        || !body_lower
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c == b'-')
    {
        return Err(unrecognized());
    }
    let offset = if names == Names::Months { 1 } else { 0 };
    let lookup = |name: &str| -> Result<u32> {
        table
            .iter()
            .position(|n| *n == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + offset)
            .ok_or_else(|| {
                let what = if names == Names::Months {
                    "month"
                } else {
                    "weekday"
                };
                let expect = if names == Names::Months {
                    "jan..dec"
                } else {
                    "mon..sun"
                };
                Error::invalid(
                    "",
                    format!("invalid {what} name '{name}' (expected {expect})"),
                )
            })
    };
    let (first, last) = match body_lower.split_once('-') {
        Some((a, b)) => (lookup(a)?, Some(lookup(b)?)),
        None => (lookup(&body_lower)?, None),
    };
    range_expr(kind, item, first, last, step, names)
}

/// The day `from_end`/`n`/`nearest` names in a month (see [`Expr::MonthDay`]), if the month
/// has it.
fn month_day(year: i64, month: u32, from_end: bool, n: u32, nearest: bool) -> Option<u32> {
    let last = days_in_month(year, month);
    let day = if from_end { last.checked_sub(n)? } else { n };
    if day < 1 || day > last {
        return None;
    }
    if !nearest {
        return Some(day);
    }
    // Quartz's `W`: a Saturday moves to the Friday before, a Sunday to the Monday after, but
    // never out of the month (`1W` on a Saturday is Monday the 3rd, a Sunday last day is the
    // Friday two days before).
    Some(match weekday(days_from_civil(year, month, day)) {
        5 if day == 1 => 3,
        5 => day - 1,
        6 if day == last => day - 2,
        6 => day + 1,
        _ => day,
    })
}

/// Quartz's day-of-month forms `15W`, `L-3`, `LW`, `L-3W` (upper or lower case), or `None`
/// when `item` is none of them.
fn quartz_month_day(item: &str) -> Result<Option<Expr>> {
    let upper = item.to_ascii_uppercase();
    let (body, weekday) = match upper.strip_suffix('W') {
        Some(body) => (body, true),
        None => (upper.as_str(), false),
    };
    let (from_end, digits) = if let Some(rest) = body.strip_prefix('L') {
        match rest.strip_prefix('-') {
            Some(digits) => (true, digits),
            None if rest.is_empty() && weekday => (true, "0"),
            None => return Ok(None),
        }
    } else if weekday {
        (false, body)
    } else {
        return Ok(None);
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let n: u32 = digits.parse().unwrap_or(u32::MAX);
    if from_end && n > 30 {
        return Err(Error::invalid(
            "",
            format!("'{item}': at most 30 days before the last day (L-30)"),
        ));
    }
    if !from_end && !(1..=31).contains(&n) {
        return Err(Error::invalid(
            "",
            format!("value {n} in '{item}' is out of range 1..=31"),
        ));
    }
    Ok(Some(Expr::MonthDay {
        from_end,
        n,
        weekday,
    }))
}

fn parse_number(text: &str, item: &str, unrecognized: &dyn Fn() -> Error) -> Result<u32> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(unrecognized());
    }
    text.parse::<u32>()
        .map_err(|_| Error::invalid("", format!("value {text} in '{item}' is out of range")))
}

fn parse_step(kind: Kind, text: &str) -> Result<u32> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            "",
            format!("invalid step '{text}' (expected a positive whole number)"),
        ));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(Error::invalid("", "step must be at least 1, got 0")),
        Ok(step) => Ok(step),
        Err(_) => Err(Error::invalid(
            "",
            format!(
                "step {text} is larger than the field's range ({})",
                kind.max() - kind.min()
            ),
        )),
    }
}

fn range_expr(
    kind: Kind,
    item: &str,
    first: u32,
    last: Option<u32>,
    step: Option<u32>,
    names: Names,
) -> Result<Expr> {
    // APScheduler: a lone value is the range `a-a`; `a/n` runs from a to the field's maximum.
    let last = if last.is_none() && step.is_none() {
        Some(first)
    } else {
        last
    };
    let range = format!("{}..={}", kind.min(), kind.max());
    if let Some(last) = last {
        if first > last {
            return Err(Error::invalid(
                "",
                format!("range '{item}' is reversed (its start must not be after its end)"),
            ));
        }
    }
    for v in [Some(first), last].into_iter().flatten() {
        if v < kind.min() || v > kind.max() {
            return Err(Error::invalid(
                "",
                format!("value {v} is out of range {range}"),
            ));
        }
    }
    if let Some(step) = step {
        // As APScheduler computes it: `(last or MAX) - first`, so a range ending at 0 counts
        // up to the field's maximum here.
        let span = last.filter(|&l| l != 0).unwrap_or(kind.max()) - first;
        if step > span {
            return Err(Error::invalid(
                "",
                format!("step {step} in '{item}' is larger than the range it steps over ({span})"),
            ));
        }
    }
    Ok(Expr::Range {
        first,
        last,
        step,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: Kind, text: &str) -> Result<Field> {
        Field::parse(kind, text, false)
    }

    #[test]
    fn errors_name_field_and_value() {
        let msg = |k, t| parse(k, t).unwrap_err().message().to_owned();
        assert_eq!(
            msg(Kind::Hour, "24"),
            "hour: value 24 is out of range 0..=23"
        );
        assert_eq!(
            msg(Kind::Second, "60"),
            "second: value 60 is out of range 0..=59"
        );
        assert_eq!(
            msg(Kind::Hour, "*/0"),
            "hour: step must be at least 1, got 0"
        );
        assert!(msg(Kind::Hour, "*/24").starts_with("hour: step 24"));
        assert!(msg(Kind::Hour, "5-3").contains("reversed"));
        assert!(msg(Kind::Day, "lastx").starts_with("day: unrecognized expression 'lastx'"));
        assert!(msg(Kind::Day, "2nd mon foo").starts_with("day: invalid weekday name"));
        assert!(msg(Kind::Day, "6th mon").starts_with("day: invalid weekday position '6th'"));
        assert!(msg(Kind::Month, "january").contains("invalid month name 'january'"));
        assert!(msg(Kind::DayOfWeek, "funday").contains("invalid weekday name 'funday'"));
        assert!(msg(Kind::Hour, "").starts_with("hour: empty expression"));
        assert!(msg(Kind::Hour, "1,,2").starts_with("hour: empty expression"));
        assert!(msg(Kind::Hour, "-1").starts_with("hour: unrecognized expression '-1'"));
        assert!(msg(Kind::DayOfWeek, "mon-5").starts_with("day_of_week: unrecognized"));
        assert!(msg(Kind::Minute, "99999999999").contains("out of range"));
    }

    #[test]
    fn display_matches_apscheduler() {
        let show = |k, t| parse(k, t).unwrap().to_string();
        assert_eq!(show(Kind::Month, "JAN-Mar"), "jan-mar");
        assert_eq!(show(Kind::Month, "jan-mar/2"), "jan-mar/2");
        assert_eq!(show(Kind::Day, "2ND MON, LAST"), "2nd mon,last");
        assert_eq!(
            show(Kind::Minute, " */5 , 7 ,9-11/2, 5/20"),
            "*/5,7,9-11/2,5/20"
        );
    }

    #[test]
    fn quartz_day_forms() {
        // The day each form picks in a month: 2026-02 starts on a Sunday (28 days), 2026-08
        // starts on a Saturday and ends on a Monday, 2026-05 ends on a Sunday.
        let day = |text: &str, year: i64, month: u32| {
            let f = parse(Kind::Day, text).unwrap();
            let p = Parts::from_wall(days_from_civil(year, month, 1) * 86_400);
            f.next_value(&p)
        };
        assert_eq!(day("15W", 2026, 2), Some(16)); // the 15th is a Sunday
        assert_eq!(day("14w", 2026, 2), Some(13)); // a Saturday
        assert_eq!(day("1W", 2026, 8), Some(3)); // Saturday the 1st: Monday, same month
        assert_eq!(day("31W", 2026, 5), Some(29)); // Sunday the 31st: Friday
        assert_eq!(day("31W", 2026, 2), None); // February has no 31st
        assert_eq!(day("LW", 2026, 5), Some(29));
        assert_eq!(day("L-3", 2026, 2), Some(25));
        assert_eq!(day("L-3W", 2026, 5), Some(28));
        assert_eq!(day("L-30", 2026, 2), None);
        assert_eq!(parse(Kind::Day, "l-3w").unwrap().to_string(), "L-3W");
        assert!(
            parse(Kind::Day, "L-31")
                .unwrap_err()
                .message()
                .contains("at most 30")
        );
        assert!(
            parse(Kind::Day, "32W")
                .unwrap_err()
                .message()
                .contains("out of range")
        );
        assert!(parse(Kind::Day, "LX").is_err());
    }

    #[test]
    fn name_range_steps_are_honoured() {
        let f = parse(Kind::Month, "jan-mar/2").unwrap();
        assert!(f.allows(1) && !f.allows(2) && f.allows(3));
    }
}
