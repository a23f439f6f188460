//! Durations in configuration files and request bodies: seconds (a number) or a string such as
//! `"90s"`, `"1h30m"`, `"500ms"` (humantime's syntax).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A duration read from a number of seconds or a humantime string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    /// Reads a duration from seconds (`90`, `1.5`) or text (`"90s"`, `"1h30m"`, `"2.5"`).
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse_value(value: &Value) -> Result<DurationValue, String> {
        match value {
            Value::Number(n) => {
                let secs = n.as_f64().unwrap_or(-1.0);
                Duration::try_from_secs_f64(secs)
                    .map(DurationValue)
                    .map_err(|_| format!("expected a non-negative number of seconds, got {n}"))
            }
            Value::String(s) => DurationValue::parse_str(s),
            other => Err(format!(
                "expected seconds or a duration such as \"90s\" or \"1h30m\", got {other}"
            )),
        }
    }

    /// Reads a duration from text: `"90s"`, `"1h30m"`, or bare seconds `"2.5"`.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse_str(s: &str) -> Result<DurationValue, String> {
        let trimmed = s.trim();
        if let Ok(secs) = trimmed.parse::<f64>() {
            return Duration::try_from_secs_f64(secs)
                .map(DurationValue)
                .map_err(|_| format!("expected a non-negative number of seconds, got {s}"));
        }
        let spaced = humantime_spacing(trimmed);
        humantime::parse_duration(&spaced)
            .map(DurationValue)
            .map_err(|e| format!("invalid duration '{s}' ({e}); write e.g. \"90s\", \"1h30m\" or a number of seconds"))
    }
}

/// humantime wants `1h 30m`; accept `1h30m` too.
fn humantime_spacing(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_alpha = false;
    for c in s.chars() {
        if c.is_ascii_digit() && prev_alpha {
            out.push(' ');
        }
        prev_alpha = c.is_ascii_alphabetic();
        out.push(c);
    }
    out
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        DurationValue::parse_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for DurationValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.as_secs_f64())
    }
}

impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A `misfire_grace_time`: a duration, or `null` / `"none"` for no limit (APScheduler's `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceTime(pub Option<Duration>);

impl GraceTime {
    /// Reads a grace time from JSON: seconds, a duration string, `null` or `"none"`.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse_value(value: &Value) -> Result<GraceTime, String> {
        if matches!(value, Value::String(s) if s.eq_ignore_ascii_case("none")) || value.is_null() {
            return Ok(GraceTime(None));
        }
        DurationValue::parse_value(value).map(|d| GraceTime(Some(d.0)))
    }
}

impl<'de> Deserialize<'de> for GraceTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        GraceTime::parse_value(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_strings() {
        let d = |v: Value| DurationValue::parse_value(&v).map(|d| d.0);
        assert_eq!(d(Value::from(90)), Ok(Duration::from_secs(90)));
        assert_eq!(d(Value::from(1.5)), Ok(Duration::from_millis(1500)));
        assert_eq!(d(Value::from("1h30m")), Ok(Duration::from_secs(5400)));
        assert_eq!(d(Value::from("90s")), Ok(Duration::from_secs(90)));
        assert_eq!(d(Value::from("2.5")), Ok(Duration::from_millis(2500)));
        assert!(d(Value::from(-1)).is_err());
        assert!(
            d(Value::from("soon"))
                .unwrap_err()
                .contains("invalid duration 'soon'")
        );
    }
}
