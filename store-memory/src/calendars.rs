//! [`CalendarStore`] for [`MemoryJobStore`]: the calendars in a map, by name.

use async_trait::async_trait;
use scheduler_core::{CalendarStore, Result};

use crate::store::MemoryJobStore;

#[async_trait]
impl CalendarStore for MemoryJobStore {
    async fn load_calendars(&self) -> Result<Vec<(String, String)>> {
        let calendars = self.calendars.lock().unwrap_or_else(|e| e.into_inner());
        Ok(calendars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn save_calendar(&self, name: &str, definition: &str) -> Result<()> {
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), definition.to_owned());
        Ok(())
    }

    async fn delete_calendar(&self, name: &str) -> Result<bool> {
        Ok(self
            .calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some())
    }
}
