//! Finding and loading the configuration file.

use std::path::{Path, PathBuf};

use rsched::{Config, ConfigError};

/// The file `rsched run` and `rsched check` read when no `--config` is given.
pub const DEFAULT_CONFIG: &str = "rsched.toml";

/// Loads `--config FILE`, else `./rsched.toml` if present, else an empty configuration.
pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    match path {
        Some(path) => Config::load(path).map(|c| (c, Some(path.to_owned()))),
        None => {
            let default = Path::new(DEFAULT_CONFIG);
            if default.exists() {
                Config::load(default).map(|c| (c, Some(default.to_owned())))
            } else {
                Ok((Config::default(), None))
            }
        }
    }
}
