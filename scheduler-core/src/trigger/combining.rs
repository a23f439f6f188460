//! The `and` and `or` triggers: APScheduler's `AndTrigger` and `OrTrigger`.
//!
//! `or` fires at the earliest fire time any of its triggers gives (and is finished when all
//! are). `and` fires at the earliest time all of its triggers agree on (and is finished when
//! any is).
//!
//! One deliberate difference from APScheduler 3: its `AndTrigger` searches forever when its
//! triggers disagree after a previous fire time (it keeps asking them for the time after the
//! previous fire instead of after the latest candidate), and forever when they can never agree
//! (`minute=0` and `minute=30`). Ours moves the search forward on every round and gives up
//! after [`AND_ROUND_LIMIT`] rounds, so an `and` that can never fire ends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::trigger::{BuiltinTrigger, FireTime, Jitter, Trigger};
use crate::tz::TimeZone;

/// Rounds of candidate comparison an `and` trigger makes before concluding its triggers never
/// agree.
pub const AND_ROUND_LIMIT: u32 = 10_000;

/// The keyword form of an `and` / `or` trigger: `{"type": "or", "triggers": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombiningSpec {
    /// The combined triggers, each in its own JSON form.
    pub triggers: Vec<Value>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Combined {
    triggers: Vec<BuiltinTrigger>,
    jitter: Jitter,
}

impl Combined {
    fn from_spec(spec: CombiningSpec) -> Result<Combined> {
        if spec.triggers.is_empty() {
            return Err(Error::invalid("triggers", "must list at least one trigger"));
        }
        let triggers = spec
            .triggers
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                BuiltinTrigger::from_value(v).map_err(|e| e.in_field(&format!("triggers[{i}]")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Combined {
            triggers,
            jitter: Jitter::new(spec.jitter)?,
        })
    }

    fn spec(&self) -> CombiningSpec {
        CombiningSpec {
            triggers: self
                .triggers
                .iter()
                .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
                .collect(),
            jitter: self.jitter.0,
        }
    }

    fn set_default_timezone(&mut self, tz: &TimeZone) {
        for t in &mut self.triggers {
            t.set_default_timezone(tz);
        }
    }

    fn anchor(&mut self, now: i64) {
        let now = chrono::DateTime::from_timestamp_micros(now).unwrap_or_default();
        for t in &mut self.triggers {
            t.anchor(now);
        }
    }

    fn timezone(&self) -> &TimeZone {
        self.triggers[0].timezone()
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>, kind: &str) -> fmt::Result {
        write!(f, "{kind}[")?;
        for (i, t) in self.triggers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        f.write_str("]")
    }
}

macro_rules! combining_trigger {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name(Arc<Combined>);

        impl $name {
            /// Builds the trigger from its keyword form, with errors naming the nested field
            /// (`triggers[1].hour: ...`).
            ///
            /// # Errors
            /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an empty list
            /// or any invalid nested trigger.
            pub fn from_spec(spec: CombiningSpec) -> Result<Self> {
                Combined::from_spec(spec).map(|c| $name(Arc::new(c)))
            }

            /// Combines already-built triggers.
            ///
            /// # Errors
            /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an empty list.
            pub fn new(triggers: Vec<BuiltinTrigger>) -> Result<Self> {
                if triggers.is_empty() {
                    return Err(Error::invalid("triggers", "must list at least one trigger"));
                }
                Ok($name(Arc::new(Combined {
                    triggers,
                    jitter: Jitter::default(),
                })))
            }

            /// The combined triggers.
            pub fn triggers(&self) -> &[BuiltinTrigger] {
                &self.0.triggers
            }

            /// The zone of the first combined trigger (for display).
            pub fn timezone(&self) -> &TimeZone {
                self.0.timezone()
            }

            /// Maximum random delay per fire time (applied by the scheduler).
            pub fn jitter(&self) -> Option<Duration> {
                self.0.jitter.duration()
            }

            /// Applies the scheduler's zone to the combined triggers that name none.
            pub fn set_default_timezone(&mut self, tz: &TimeZone) {
                Arc::make_mut(&mut self.0).set_default_timezone(tz);
            }

            pub(crate) fn anchor(&mut self, now: i64) {
                Arc::make_mut(&mut self.0).anchor(now);
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.describe(f, $kind)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                self.0.spec().serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let spec = CombiningSpec::deserialize(d)?;
                $name::from_spec(spec).map_err(serde::de::Error::custom)
            }
        }
    };
}

combining_trigger!(
    AndTrigger,
    "and",
    "Fires at the earliest time all of its triggers agree on; finished when any is."
);
combining_trigger!(
    OrTrigger,
    "or",
    "Fires at the earliest fire time of any of its triggers; finished when all are."
);

impl OrTrigger {
    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        earliest(&self.0.triggers, prev, now)
    }
}

/// The earliest of the triggers' next fire times, by Python's `min()` (first of equals).
pub(crate) fn earliest(
    triggers: &[BuiltinTrigger],
    prev: Option<&FireTime>,
    now: i64,
) -> Option<FireTime> {
    triggers
        .iter()
        .filter_map(|t| t.next_fire(prev, now))
        .reduce(|best, f| if f.py_cmp(&best).is_lt() { f } else { best })
}

impl AndTrigger {
    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, mut now: i64) -> Option<FireTime> {
        let triggers = &self.0.triggers;
        let mut prev = prev;
        let mut fires = Vec::with_capacity(triggers.len());
        for round in 0..AND_ROUND_LIMIT {
            fires.clear();
            for t in triggers {
                let fire = t.next_fire(prev, now)?;
                if round > 0 && fire.utc < now {
                    return None; // stuck before the search point (a spent `date`): never agrees
                }
                fires.push(fire);
            }
            let min = fires
                .iter()
                .copied()
                .reduce(|a, b| if b.py_cmp(&a).is_lt() { b } else { a })?;
            let max = fires
                .iter()
                .copied()
                .reduce(|a, b| if b.py_cmp(&a).is_gt() { b } else { a })?;
            if min.py_cmp(&max).is_eq() {
                return Some(fires[0]);
            }
            // Next round: the first fire time of each trigger at or after the latest candidate.
            now = max.utc;
            prev = None;
        }
        None
    }
}
