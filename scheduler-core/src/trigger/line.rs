//! What the `crontab` and `quartz` triggers share: a line read into items per field, the
//! `cron` triggers those items compile to, and the line in plain words.
//!
//! Each dialect reads its own text (field count, weekday numbering, the forms it allows) into a
//! [`Line`]; from there the two are one code path. Values stay in the dialect's numbering
//! (`Dialect::weekday_index` converts weekdays), so a description can say what the user wrote.

use crate::error::{Error, Result};
use crate::trigger::{BuiltinTrigger, CronSpec, CronTrigger, CronValue};

/// English month names, `January` = month 1.
const MONTH_WORDS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// English weekday names, `Sunday` = 0.
const WEEKDAY_WORDS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The two dialects read into a [`Line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// cron(8), croner, tokio-cron-scheduler: day of week 0-7 (0 and 7 = Sunday); a day matches
    /// if either restricted day field matches (Vixie cron).
    Crontab,
    /// Quartz and the `cron` crate: day of week 1-7 (1 = Sunday); both day fields must match;
    /// `a/n` and wrapping ranges (`FRI-MON`, `22-2`).
    Quartz,
}

impl Dialect {
    /// The weekday a day-of-week value means, 0 = Sunday.
    pub(crate) fn weekday_index(self, v: u32) -> u32 {
        match self {
            Dialect::Crontab => v % 7,
            Dialect::Quartz => (v + 6) % 7,
        }
    }
}

/// One field's grammar.
pub(crate) struct FieldDef {
    pub(crate) name: &'static str,
    pub(crate) min: u32,
    pub(crate) max: u32,
    /// Accepted names, each with the value it stands for.
    pub(crate) names: &'static [(&'static str, u32)],
}

/// The fields both dialects read the same way.
pub(crate) const SECOND: FieldDef = FieldDef {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
pub(crate) const MINUTE: FieldDef = FieldDef {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
pub(crate) const HOUR: FieldDef = FieldDef {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
pub(crate) const DAY: FieldDef = FieldDef {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};

/// Places an error about the line under the `expr` key: `expr: hour: value 24 ...`.
pub(crate) fn in_expr(e: Error) -> Error {
    Error::invalid("expr", e.message())
}

/// One comma-separated item of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// `*` (or `?` in a day field).
    All,
    /// `*/n` (no bounds), `a/n` (from `a` to the field's end), `a-b/n`.
    Step {
        first: Option<u32>,
        last: Option<u32>,
        step: u32,
    },
    /// `a-b`; `b < a` wraps around the field's end (Quartz's `FRI-MON`).
    Range(u32, u32),
    /// `a`.
    Value(u32),
    /// Day of month `L`: the last day.
    LastDay,
    /// Day of month `15W`, `LW`, `L-3`, `L-3W` (see the `cron` day field's `MonthDay`).
    MonthDay {
        from_end: bool,
        n: u32,
        weekday: bool,
    },
    /// Day of week `5L`: the last such weekday of the month (the value in the dialect's
    /// numbering).
    LastOf(u32),
    /// Day of week `5#2`: the `n`th such weekday of the month (1..=5).
    Nth(u32, u32),
}

/// A line read into items, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) dialect: Dialect,
    /// `None` for a five-field line (second 0).
    pub(crate) second: Option<Vec<Item>>,
    pub(crate) minute: Vec<Item>,
    pub(crate) hour: Vec<Item>,
    pub(crate) day: Vec<Item>,
    pub(crate) month: Vec<Item>,
    pub(crate) weekday: Vec<Item>,
    /// Quartz's optional seventh field.
    pub(crate) year: Option<Vec<Item>>,
    /// Whether the day-of-month field leaves days unrestricted (`*`, `?`, or, for cron(8)'s
    /// either-or rule, any field starting with `*`).
    pub(crate) day_star: bool,
    /// As `day_star`, for the day of week.
    pub(crate) weekday_star: bool,
}

/// Reads one field: items separated by commas. `wrap` allows `a/n` and reversed (wrapping)
/// ranges (Quartz); without it they are errors that say how cron(8) writes them.
pub(crate) fn parse_field(def: &FieldDef, text: &str, wrap: bool) -> Result<Vec<Item>> {
    let field = def.name;
    let mut items = Vec::new();
    for item in text.split(',') {
        let unrecognized = || {
            Error::invalid(
                "",
                format!(
                    "{field}: unrecognized expression '{item}' (expected *, */n, a, a-b, a-b/n{} or a comma-separated list)",
                    if wrap { ", a/n" } else { "" }
                ),
            )
        };
        if item.is_empty() {
            return Err(Error::invalid(
                "",
                format!("{field}: empty expression in '{text}'"),
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                if step.is_empty() || !step.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(unrecognized());
                }
                let step: u32 = step.parse().map_err(|_| {
                    Error::invalid("", format!("{field}: step {step} is out of range"))
                })?;
                if step == 0 {
                    return Err(Error::invalid(
                        "",
                        format!("{field}: step must be at least 1, got 0"),
                    ));
                }
                if step > def.max - def.min + 1 && def.max - def.min < 1000 {
                    return Err(Error::invalid(
                        "",
                        format!(
                            "{field}: step {step} in '{item}' is larger than the field's range ({}..={})",
                            def.min, def.max
                        ),
                    ));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let parsed = if range == "*" {
            match step {
                Some(step) => Item::Step {
                    first: None,
                    last: None,
                    step,
                },
                None => Item::All,
            }
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(def, a, item)?, value(def, b, item)?);
            if a > b && !wrap {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: range '{item}' is reversed (its start must not be after its end)"
                    ),
                ));
            }
            match step {
                Some(step) => Item::Step {
                    first: Some(a),
                    last: Some(b),
                    step,
                },
                None => Item::Range(a, b),
            }
        } else {
            let v = value(def, range, item)?;
            match step {
                Some(step) if wrap => Item::Step {
                    first: Some(v),
                    last: None,
                    step,
                },
                Some(_) => {
                    return Err(Error::invalid(
                        "",
                        format!(
                            "{field}: a step needs a range or * in '{item}' (cron(8) has no 'a/n' form; write '{range}-{}/n', or use type \"quartz\", where '{item}' counts from {range})",
                            def.max
                        ),
                    ));
                }
                None => Item::Value(v),
            }
        };
        items.push(parsed);
    }
    Ok(items)
}

/// A value: digits or one of the field's names (any case).
pub(crate) fn value(def: &FieldDef, text: &str, item: &str) -> Result<u32> {
    let field = def.name;
    let v = if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        text.parse::<u32>().unwrap_or(u32::MAX)
    } else {
        let lower = text.to_ascii_lowercase();
        match def.names.iter().find(|(n, _)| *n == lower) {
            Some(&(_, v)) => v,
            None if def.names.is_empty() => {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: unrecognized expression '{item}' (expected *, */n, a, a-b, a-b/n or a comma-separated list)"
                    ),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: invalid name '{text}' in '{item}' (expected {}..{})",
                        def.names[0].0,
                        def.names[def.names.len() - 1].0
                    ),
                ));
            }
        }
    };
    if v < def.min || v > def.max {
        return Err(Error::invalid(
            "",
            format!(
                "{field}: value {text} is out of range {}..={}",
                def.min, def.max
            ),
        ));
    }
    Ok(v)
}

/// The values of a field's plain items (`*`, steps, ranges, values), sorted, in the dialect's
/// numbering; day items (`L`, `15W`, `5L`, `5#2`) are left to the caller.
fn expand(def: &FieldDef, items: &[Item]) -> Vec<u32> {
    let len = def.max - def.min + 1;
    let mut values = Vec::new();
    // Along the field's cycle from `first` to `last` (wrapping when `last < first`).
    let walk = |values: &mut Vec<u32>, first: u32, last: u32, step: u32| {
        let span = (last + len - first) % len;
        let mut k = 0;
        while k <= span {
            values.push(def.min + (first - def.min + k) % len);
            k += step;
        }
    };
    for item in items {
        match *item {
            Item::All => walk(&mut values, def.min, def.max, 1),
            Item::Step { first, last, step } => {
                walk(
                    &mut values,
                    first.unwrap_or(def.min),
                    last.unwrap_or(def.max),
                    step,
                );
            }
            Item::Range(a, b) => walk(&mut values, a, b, 1),
            Item::Value(v) => values.push(v),
            Item::LastDay | Item::MonthDay { .. } | Item::LastOf(_) | Item::Nth(..) => {}
        }
    }
    values.sort_unstable();
    values.dedup();
    values
}

/// A field's values as a `cron` field expression (`"0,15,30"`).
fn list(values: &[u32]) -> CronValue {
    CronValue::Expr(
        values
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The years field as an APScheduler `year` expression (years can't be a bit set).
fn years(items: &[Item]) -> Result<CronValue> {
    let mut out = Vec::new();
    for item in items {
        out.push(match *item {
            Item::All => "*".to_owned(),
            Item::Step {
                first: None,
                last: None,
                step,
            } => format!("*/{step}"),
            Item::Step {
                first: Some(a),
                last: None,
                step,
            } => format!("{a}/{step}"),
            Item::Step {
                first: Some(a),
                last: Some(b),
                step,
            } if a <= b => format!("{a}-{b}/{step}"),
            Item::Range(a, b) if a <= b => format!("{a}-{b}"),
            Item::Value(v) => v.to_string(),
            _ => {
                return Err(Error::invalid(
                    "expr",
                    "year: a range of years must not be reversed",
                ));
            }
        });
    }
    Ok(CronValue::Expr(out.join(",")))
}

/// The `cron` day-field expression of the day-of-week items `5L` / `5#2`.
fn weekday_day_expr(dialect: Dialect, item: &Item) -> Option<String> {
    const APS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const NTH: [&str; 5] = ["1st", "2nd", "3rd", "4th", "5th"];
    match *item {
        Item::LastOf(d) => Some(format!("last {}", APS[dialect.weekday_index(d) as usize])),
        Item::Nth(d, n) => Some(format!(
            "{} {}",
            NTH[n.clamp(1, 5) as usize - 1],
            APS[dialect.weekday_index(d) as usize]
        )),
        _ => None,
    }
}

/// Bounds and zone the compiled crons carry.
pub(crate) struct Bounds {
    pub(crate) start_date: Option<String>,
    pub(crate) end_date: Option<String>,
    pub(crate) timezone: Option<String>,
}

/// Compiles a line to `cron` triggers whose earliest fire time is the line's: one, or several
/// or'ed (cron(8)'s either-or rule, and each `5L` / `5#2` item, which are day-field
/// expressions of their own). Errors about the line name `expr`; those about the bounds name
/// their key (`start_date: ...`).
pub(crate) fn compile(
    line: &Line,
    defs: &LineDefs,
    bounds: &Bounds,
) -> Result<Vec<BuiltinTrigger>> {
    let second = match &line.second {
        Some(items) => list(&expand(defs.second, items)),
        None => CronValue::Expr("0".into()),
    };
    let weekdays: Vec<u32> = {
        // APScheduler's numbering: 0 = Monday .. 6 = Sunday.
        let mut v: Vec<u32> = expand(defs.weekday, &line.weekday)
            .into_iter()
            .map(|d| (line.dialect.weekday_index(d) + 6) % 7)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let specials: Vec<String> = line
        .weekday
        .iter()
        .filter_map(|i| weekday_day_expr(line.dialect, i))
        .collect();
    let day_expr = {
        let mut items: Vec<String> = expand(defs.day, &line.day)
            .iter()
            .map(u32::to_string)
            .collect();
        for item in &line.day {
            match *item {
                Item::LastDay => items.push("last".into()),
                Item::MonthDay {
                    from_end,
                    n,
                    weekday,
                } => items.push(format!(
                    "{}{}",
                    match (from_end, n) {
                        (true, 0) => "L".to_owned(),
                        (true, n) => format!("L-{n}"),
                        (false, n) => n.to_string(),
                    },
                    if weekday { "W" } else { "" }
                )),
                _ => {}
            }
        }
        CronValue::Expr(items.join(","))
    };
    let base = CronSpec {
        year: line.year.as_deref().map(years).transpose()?,
        second: Some(second),
        minute: Some(list(&expand(defs.minute, &line.minute))),
        hour: Some(list(&expand(defs.hour, &line.hour))),
        month: Some(list(&expand(defs.month, &line.month))),
        start_date: bounds.start_date.clone(),
        end_date: bounds.end_date.clone(),
        timezone: bounds.timezone.clone(),
        ..CronSpec::default()
    };
    let build = |day: CronValue, day_of_week: CronValue| -> Result<BuiltinTrigger> {
        let spec = CronSpec {
            day: Some(day),
            day_of_week: Some(day_of_week),
            ..base.clone()
        };
        let cron = CronTrigger::try_from(spec)?;
        Ok(BuiltinTrigger::Cron(match line.dialect {
            // The conformance vectors pin APScheduler's search for crontab lines.
            Dialect::Crontab => cron,
            Dialect::Quartz => cron.civil(),
        }))
    };
    let star = || CronValue::Expr("*".into());
    let either = line.dialect == Dialect::Crontab && !line.day_star && !line.weekday_star;
    let plain_weekdays = line
        .weekday
        .iter()
        .any(|i| weekday_day_expr(line.dialect, i).is_none());
    let mut crons = Vec::new();
    if specials.is_empty() {
        if either {
            crons.push(build(day_expr, star())?);
            crons.push(build(star(), list(&weekdays))?);
        } else {
            crons.push(build(day_expr, list(&weekdays))?);
        }
        return Ok(crons);
    }
    // `5L` / `5#2` are day-field expressions: each is a cron of its own, or'ed with the plain
    // weekdays (and with the day of month, under the either-or rule).
    if either {
        crons.push(build(day_expr, star())?);
    } else if !line.day_star {
        return Err(Error::invalid(
            "expr",
            match line.dialect {
                Dialect::Crontab => {
                    "day of week: L or # items with * in the same field; list the weekdays instead"
                }
                Dialect::Quartz => {
                    "day of week: L or # items need ? in the day of month (Quartz matches both day fields)"
                }
            },
        ));
    }
    if plain_weekdays {
        crons.push(build(star(), list(&weekdays))?);
    }
    for day in specials {
        crons.push(build(CronValue::Expr(day), star())?);
    }
    Ok(crons)
}

/// A dialect's field grammars.
pub(crate) struct LineDefs {
    pub(crate) second: &'static FieldDef,
    pub(crate) minute: &'static FieldDef,
    pub(crate) hour: &'static FieldDef,
    pub(crate) day: &'static FieldDef,
    pub(crate) month: &'static FieldDef,
    pub(crate) weekday: &'static FieldDef,
}

// --- Plain words --------------------------------------------------------------------------

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// How a field's plain values are named in words.
#[derive(Clone, Copy)]
enum Words {
    Number,
    /// Years: numbers without the unit (`in 2027`, `in 2027 to 2030`).
    Year,
    Month,
    Weekday(Dialect),
}

impl Words {
    fn name(self, v: u32) -> String {
        match self {
            Words::Number | Words::Year => v.to_string(),
            Words::Month => MONTH_WORDS
                .get(v.wrapping_sub(1) as usize)
                .map_or_else(|| v.to_string(), |s| (*s).to_owned()),
            Words::Weekday(d) => WEEKDAY_WORDS[d.weekday_index(v) as usize].to_owned(),
        }
    }
}

/// One item in words, for a field whose unit is `unit` (`minute`): `every 5th minute`,
/// `minutes 10 to 20`, `minute 30`; `None` for `*`.
fn item_words(item: &Item, unit: &str, words: Words) -> Option<String> {
    let name = |v| words.name(v);
    let plural = matches!(words, Words::Number);
    Some(match *item {
        Item::All => return None,
        Item::Step {
            first: None,
            last: None,
            step,
        } => format!("every {} {unit}", ordinal(step)),
        Item::Step {
            first: Some(a),
            last: None,
            step,
        } => format!("every {} {unit} from {}", ordinal(step), name(a)),
        Item::Step { first, last, step } => format!(
            "every {} {unit} from {} to {}",
            ordinal(step),
            name(first.unwrap_or(0)),
            name(last.unwrap_or(0))
        ),
        Item::Range(a, b) if plural => format!("{unit}s {} to {}", name(a), name(b)),
        Item::Range(a, b) => format!("{} to {}", name(a), name(b)),
        Item::Value(v) if plural => format!("{unit} {}", name(v)),
        Item::Value(v) => name(v),
        Item::LastDay => "the last day of the month".into(),
        Item::MonthDay {
            from_end,
            n,
            weekday,
        } => {
            let day = match (from_end, n) {
                (true, 0) => "the last day of the month".to_owned(),
                (true, 1) => "the day before the last day of the month".to_owned(),
                (true, n) => format!("{n} days before the last day of the month"),
                (false, n) => format!("day {n}"),
            };
            if !weekday {
                day
            } else if from_end && n == 0 {
                "the last weekday of the month".into()
            } else {
                format!("the weekday nearest {day}")
            }
        }
        Item::LastOf(d) => format!("the last {} of the month", name(d)),
        Item::Nth(d, n) => format!("the {} {} of the month", ordinal(n), name(d)),
    })
}

/// A field in words: its items joined by `and`; `None` when it is `*`.
fn field_words(items: &[Item], unit: &str, words: Words) -> Option<String> {
    if items.contains(&Item::All) {
        return None;
    }
    // Consecutive plain values of a numbered field read better as one list: `minutes 0, 15
    // and 30`.
    let values: Vec<u32> = items
        .iter()
        .filter_map(|i| match i {
            Item::Value(v) => Some(*v),
            _ => None,
        })
        .collect();
    let mut parts = Vec::new();
    if values.len() > 1 && matches!(words, Words::Number) {
        let names: Vec<String> = values.iter().map(u32::to_string).collect();
        parts.push(format!("{unit}s {}", and_list(&names)));
    }
    for item in items {
        if values.len() > 1 && matches!(words, Words::Number) && matches!(item, Item::Value(_)) {
            continue;
        }
        parts.extend(item_words(item, unit, words));
    }
    Some(and_list(&parts))
}

/// The single value of a field written as one number, if it is that.
fn single(items: &[Item]) -> Option<u32> {
    match items {
        [Item::Value(v)] => Some(*v),
        _ => None,
    }
}

/// The line in plain words: `at second 0 of every 5th minute, Monday to Friday`.
pub(crate) fn describe(line: &Line) -> String {
    let mut out: Vec<String> = Vec::new();
    let second = line.second.as_deref();
    let second_value = second.map_or(Some(0), single);
    let minute_value = single(&line.minute);
    let hour_values: Option<Vec<u32>> = line
        .hour
        .iter()
        .map(|i| match i {
            Item::Value(v) => Some(*v),
            _ => None,
        })
        .collect();
    match (second_value, minute_value, hour_values) {
        // A clock time, or a few: `at 09:00`, `at 09:00:30 and 17:00:30`.
        (Some(s), Some(m), Some(hours)) if !hours.is_empty() => {
            let times: Vec<String> = hours
                .iter()
                .map(|h| {
                    if s == 0 {
                        format!("{h:02}:{m:02}")
                    } else {
                        format!("{h:02}:{m:02}:{s:02}")
                    }
                })
                .collect();
            out.push(format!("at {}", and_list(&times)));
        }
        _ => {
            let mut time = String::new();
            if let Some(items) = second {
                time = match field_words(items, "second", Words::Number) {
                    Some(words) if single(items).is_some() => format!("at {words}"),
                    Some(words) => words,
                    None => "every second".into(),
                };
            }
            let minute = match field_words(&line.minute, "minute", Words::Number) {
                Some(words) if single(&line.minute).is_some() && time.is_empty() => {
                    if line.hour == [Item::All] {
                        format!("at {words} of every hour")
                    } else {
                        format!("at {words}")
                    }
                }
                Some(words) => words,
                None => "every minute".into(),
            };
            time = if time.is_empty() {
                minute
            } else if time == "every second" && minute == "every minute" {
                time
            } else {
                format!("{time} of {minute}")
            };
            out.push(time);
            if let Some(hours) = field_words(&line.hour, "hour", Words::Number) {
                out.push(format!("in {hours}"));
            }
        }
    }
    let days = field_words(&line.day, "day", Words::Number).map(|d| format!("on {d}"));
    let weekdays = field_words(&line.weekday, "day", Words::Weekday(line.dialect)).map(|w| {
        if w.starts_with("every") {
            w.replace(" day", " day of the week")
        } else if w.contains(" to ") && !w.starts_with("the ") {
            // `Monday to Friday`.
            w
        } else {
            format!("on {w}")
        }
    });
    let either = line.dialect == Dialect::Crontab && !line.day_star && !line.weekday_star;
    match (days, weekdays) {
        (Some(d), Some(w)) if either => out.push(format!("{d} or {w}")),
        (Some(d), Some(w)) => out.push(format!("{d}, if it is {}", w.trim_start_matches("on "))),
        (Some(d), None) => out.push(d),
        (None, Some(w)) => out.push(w),
        (None, None) => {}
    }
    if let Some(months) = field_words(&line.month, "month", Words::Month) {
        out.push(format!("in {months}"));
    }
    if let Some(years) = line
        .year
        .as_deref()
        .and_then(|y| field_words(y, "year", Words::Year))
    {
        out.push(format!("in {years}"));
    }
    out.join(", ")
}
