//! [`CalendarStore`] for [`RedisJobStore`]: one hash, `{prefix}calendars`, name → definition
//! (JSON text).

use async_trait::async_trait;
use scheduler_core::{CalendarStore, Result};

use crate::error::redis_error;
use crate::store::RedisJobStore;

#[async_trait]
impl CalendarStore for RedisJobStore {
    async fn load_calendars(&self) -> Result<Vec<(String, String)>> {
        let mut conn = self.conn.clone();
        let mut calendars: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.calendars_key())
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        // By name, as code points (a hash has no order).
        calendars.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(calendars)
    }

    async fn save_calendar(&self, name: &str, definition: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("HSET")
            .arg(self.calendars_key())
            .arg(name)
            .arg(definition)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn delete_calendar(&self, name: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let removed: i64 = redis::cmd("HDEL")
            .arg(self.calendars_key())
            .arg(name)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(removed > 0)
    }
}
