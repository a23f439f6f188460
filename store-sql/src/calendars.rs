//! [`CalendarStore`] for [`SqlJobStore`]: one row per calendar in `{prefix}calendars` (`name`
//! primary key, `definition` JSON text).

use async_trait::async_trait;
use scheduler_core::{CalendarStore, Result};

use crate::dialect::Dialect;
use crate::error::db_error;
use crate::model::text;
use crate::store::SqlJobStore;

#[async_trait]
impl CalendarStore for SqlJobStore {
    async fn load_calendars(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(&self.sql.select_calendars)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| Ok((text(row, 0)?, text(row, 1)?)))
            .collect()
    }

    async fn save_calendar(&self, name: &str, definition: &str) -> Result<()> {
        let mut q = sqlx::query(&self.sql.upsert_calendar)
            .bind(name)
            .bind(definition);
        if self.dialect == Dialect::MySql {
            // `ON DUPLICATE KEY UPDATE definition = ?`.
            q = q.bind(definition);
        }
        q.execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn delete_calendar(&self, name: &str) -> Result<bool> {
        let done = sqlx::query(&self.sql.delete_calendar)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }
}
