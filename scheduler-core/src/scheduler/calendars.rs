//! The scheduler's exclusion calendars (see [`crate::calendar`]): kept in the first job store
//! that keeps calendars ([`JobStore::calendar_store`](crate::JobStore::calendar_store)), so
//! every instance using it sees the same, and cached here for the engine, which judges fire
//! times by them. The cache is read again from the store at start and every
//! `max_poll_interval` (another instance may have changed a calendar).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::{Inner, Scheduler};
use crate::calendar::{Calendars, ExclusionCalendar};
use crate::error::{Error, ErrorKind, Result};
use crate::store::CalendarStore;

/// The cache, and the changes made before the scheduler started (written to the store then).
#[derive(Default)]
pub(crate) struct CalendarState {
    set: RwLock<Calendars>,
    /// Changes made before start: (name, definition or `None` for a removal).
    pending: Mutex<Vec<(String, Option<Arc<ExclusionCalendar>>)>>,
    /// When the cache was last read from the store (the scheduler's clock).
    loaded: Mutex<Option<DateTime<Utc>>>,
}

impl Inner {
    /// The calendars as the engine judges fire times now.
    pub(crate) fn calendars(&self) -> Calendars {
        self.calendars
            .set
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_calendars(&self, set: Calendars) {
        *self
            .calendars
            .set
            .write()
            .unwrap_or_else(|e| e.into_inner()) = set;
    }

    /// The store keeping calendars: the first that does.
    fn calendar_store(&self) -> Option<&dyn CalendarStore> {
        self.stores.iter().find_map(|(_, s)| s.calendar_store())
    }

    /// Reads the calendars from the store again if the cache is older than `max_poll_interval`
    /// (or `force`); a store error keeps the cache (and is logged).
    pub(crate) async fn refresh_calendars(&self, force: bool) {
        let Some(store) = self.calendar_store() else {
            return;
        };
        let now = self.clock.now();
        {
            let loaded = self
                .calendars
                .loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let fresh = loaded.is_some_and(|at| {
                chrono::Duration::from_std(self.options.max_poll_interval)
                    .is_ok_and(|poll| now - at < poll && now >= at)
            });
            if fresh && !force {
                return;
            }
        }
        match store.load_calendars().await {
            Ok(rows) => {
                let mut set = BTreeMap::new();
                for (name, definition) in rows {
                    let parsed = serde_json::from_str(&definition)
                        .map_err(|e| e.to_string())
                        .and_then(|v| {
                            ExclusionCalendar::from_value(v).map_err(|e| e.message().to_owned())
                        });
                    match parsed {
                        Ok(calendar) => {
                            set.insert(name, Arc::new(calendar));
                        }
                        Err(e) => tracing::warn!(
                            "Stored calendar {name:?} cannot be read and is ignored: {e}"
                        ),
                    }
                }
                self.set_calendars(Calendars::new(set));
                *self
                    .calendars
                    .loaded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(now);
            }
            Err(e) => tracing::warn!("Could not read the exclusion calendars: {e}"),
        }
    }
}

/// Saves `calendar` as `name` in `store`, or (`None`) deletes `name` there.
async fn write_calendar(
    store: &dyn CalendarStore,
    name: &str,
    calendar: Option<&ExclusionCalendar>,
) -> Result<()> {
    match calendar {
        Some(c) => store.save_calendar(name, &c.to_value().to_string()).await,
        None => store.delete_calendar(name).await.map(drop),
    }
}

impl Scheduler {
    /// The exclusion calendars the scheduler knows, by name.
    pub fn calendars(&self) -> Calendars {
        self.inner.calendars()
    }

    /// The calendar named `name`, if known.
    pub fn get_calendar(&self, name: &str) -> Option<Arc<ExclusionCalendar>> {
        self.inner.calendars().get(name).cloned()
    }

    /// Adds or replaces the exclusion calendar `name` (in the store that keeps calendars, so
    /// every instance sees it). Jobs naming it skip its periods from their next fire time on.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a bad name; the store's error.
    pub async fn put_calendar(&self, name: &str, calendar: ExclusionCalendar) -> Result<()> {
        crate::calendar::validate_name(name)?;
        self.change_calendar(name, Some(Arc::new(calendar))).await?;
        self.wakeup();
        Ok(())
    }

    /// Removes the exclusion calendar `name`.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when there is none; [`ErrorKind::InvalidInput`] when jobs still
    /// name it (the message lists up to five of them); the store's error.
    pub async fn remove_calendar(&self, name: &str) -> Result<()> {
        if self.get_calendar(name).is_none() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no calendar named '{name}'"),
            ));
        }
        let users: Vec<String> = self
            .get_jobs(None)
            .await?
            .into_iter()
            .filter(|j| j.calendars().iter().any(|c| **c == *name))
            .map(|j| j.id().to_owned())
            .collect();
        if !users.is_empty() {
            return Err(Error::invalid(
                "calendar",
                format!(
                    "'{name}' is named by {} job(s) ({}); remove it from their calendars first",
                    users.len(),
                    users.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        self.change_calendar(name, None).await
    }

    /// Adds, replaces or (`None`) removes calendar `name`: in the store when the scheduler
    /// runs, else kept for [`Scheduler::start_calendars`]; then in the cache.
    async fn change_calendar(
        &self,
        name: &str,
        calendar: Option<Arc<ExclusionCalendar>>,
    ) -> Result<()> {
        if self.running() {
            if let Some(store) = self.inner.calendar_store() {
                write_calendar(store, name, calendar.as_deref()).await?;
            }
        } else {
            self.inner
                .calendars
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((name.to_owned(), calendar.clone()));
        }
        let mut set: BTreeMap<String, Arc<ExclusionCalendar>> = self
            .inner
            .calendars()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match calendar {
            Some(calendar) => set.insert(name.to_owned(), calendar),
            None => set.remove(name),
        };
        self.inner.set_calendars(Calendars::new(set));
        Ok(())
    }

    /// At start: reads the stored calendars, then applies the changes made before start
    /// (calendars of the configuration file replace stored ones of the same name).
    pub(super) async fn start_calendars(&self) -> Result<()> {
        let pending = std::mem::take(
            &mut *self
                .inner
                .calendars
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let Some(store) = self.inner.calendar_store() else {
            return Ok(()); // kept in memory: the cache already has them
        };
        for (name, calendar) in &pending {
            write_calendar(store, name, calendar.as_deref()).await?;
        }
        self.inner.refresh_calendars(true).await;
        Ok(())
    }

    /// Checks that every calendar `job` names is known.
    pub(super) fn check_calendars(&self, job: &crate::job::Job) -> Result<()> {
        let known = self.inner.calendars();
        for (i, name) in job.calendars().iter().enumerate() {
            if known.get(name).is_none() {
                return Err(Error::invalid(
                    &format!("calendars[{i}]"),
                    format!(
                        "no calendar named '{name}' (define it under [calendars.{name}] or with PUT {{prefix}}/calendars/{name})"
                    ),
                ));
            }
        }
        Ok(())
    }
}
