//! [`CalendarStore`] for [`MongoJobStore`]: `{collection}_calendars`, one document per
//! calendar, `{"_id": name, "definition": JSON text}`.

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use scheduler_core::{CalendarStore, Result};

use crate::error::mongo_error;
use crate::model::all;
use crate::store::MongoJobStore;

#[async_trait]
impl CalendarStore for MongoJobStore {
    async fn load_calendars(&self) -> Result<Vec<(String, String)>> {
        let documents: Vec<Document> = all(self.calendars.find(doc! {})).await?;
        let mut calendars: Vec<(String, String)> = documents
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("_id").ok()?.to_owned(),
                    d.get_str("definition").ok()?.to_owned(),
                ))
            })
            .collect();
        // By name, as code points (sorted here, not by the server: wire-compatible servers
        // need not compare strings as MongoDB's default binary collation does).
        calendars.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(calendars)
    }

    async fn save_calendar(&self, name: &str, definition: &str) -> Result<()> {
        self.calendars
            .replace_one(
                doc! { "_id": name },
                doc! { "_id": name, "definition": definition },
            )
            .upsert(true)
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn delete_calendar(&self, name: &str) -> Result<bool> {
        let result = self
            .calendars
            .delete_one(doc! { "_id": name })
            .await
            .map_err(mongo_error)?;
        Ok(result.deleted_count > 0)
    }
}
