//! The store's options.

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "rsched";

/// The collection used when none is configured.
pub const DEFAULT_COLLECTION: &str = "jobs";

/// Options of a [`MongoJobStore`](crate::MongoJobStore). The database comes from the URL
/// (`mongodb://host/db`; default [`DEFAULT_DATABASE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoOptions {
    /// The jobs collection (default [`DEFAULT_COLLECTION`], `jobs`); run history lives in
    /// `{collection}_runs`, runs in progress in `{collection}_running`.
    pub collection: String,
}

impl Default for MongoOptions {
    fn default() -> Self {
        MongoOptions {
            collection: DEFAULT_COLLECTION.to_owned(),
        }
    }
}
