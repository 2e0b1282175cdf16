//! Which version of a served plugin calls get: an alias that deploys and
//! rollbacks move, an optional canary taking a share of the calls, and an
//! optional pin that keeps the directory watcher from moving the alias.
//! Pure state over version names: the registry keeps one per plugin.

use serde::Serialize;

/// Whether loading a component moves the alias to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deploy {
    /// Move the alias, even if pinned.
    Always,
    /// Move it unless the plugin is pinned (the directory watcher).
    UnlessPinned,
    /// Only add the version.
    Never,
}

/// A share of a plugin's calls sent to another version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Canary {
    /// The version on trial.
    pub version: String,
    /// Percentage of calls (without an explicit version) it gets, 1 to 99.
    pub percent: u8,
}

/// The alias of one served plugin.
#[derive(Debug, Clone)]
pub struct Alias {
    current: String,
    /// Earlier targets, most recent last.
    history: Vec<String>,
    canary: Option<Canary>,
    pinned: bool,
}

impl Alias {
    /// An alias pointing at the first version loaded.
    pub fn new(version: &str) -> Self {
        Self { current: version.into(), history: Vec::new(), canary: None, pinned: false }
    }

    /// The version calls get.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Earlier targets, most recent last; a rollback goes to the last.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The canary, if one runs.
    pub fn canary(&self) -> Option<&Canary> {
        self.canary.as_ref()
    }

    /// Whether the directory watcher may not move the alias.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// Points the alias at `version` if `deploy` allows; returns whether it
    /// did. A full deploy ends any canary; [`Deploy::Always`] also unpins.
    pub fn deploy(&mut self, version: &str, deploy: Deploy) -> bool {
        let allowed = match deploy {
            Deploy::Always => true,
            Deploy::UnlessPinned => !self.pinned,
            Deploy::Never => false,
        };
        if !allowed {
            return false;
        }
        if self.current != version {
            self.history.push(std::mem::replace(&mut self.current, version.into()));
        }
        self.canary = None;
        if deploy == Deploy::Always {
            self.pinned = false;
        }
        true
    }

    /// Sends `percent` of the calls to `version` while the alias stays.
    pub fn start_canary(&mut self, version: &str, percent: u8) -> Result<(), &'static str> {
        if !(1..=99).contains(&percent) {
            return Err("canary_percent must be between 1 and 99");
        }
        self.canary = Some(Canary { version: version.into(), percent });
        Ok(())
    }

    /// Points the alias back where it was before the last deploy and ends
    /// any canary; the version it now points at, or `None` with no history.
    pub fn rollback(&mut self) -> Option<&str> {
        self.current = self.history.pop()?;
        self.canary = None;
        Some(&self.current)
    }

    /// Deploys `version` and keeps the watcher from moving the alias.
    pub fn pin(&mut self, version: &str) {
        self.deploy(version, Deploy::Always);
        self.pinned = true;
    }

    /// Lets the watcher move the alias again.
    pub fn unpin(&mut self) {
        self.pinned = false;
    }

    /// The version a call that names none gets, for a draw `roll` in `0..100`.
    pub fn pick(&self, roll: u8) -> &str {
        match &self.canary {
            Some(canary) if roll < canary.percent => &canary.version,
            _ => &self.current,
        }
    }

    /// What `version` is to the alias, if it may not be unloaded.
    pub fn role_of(&self, version: &str) -> Option<&'static str> {
        if self.current == version {
            Some("the one calls get")
        } else if self.canary.as_ref().is_some_and(|c| c.version == version) {
            Some("the canary")
        } else {
            None
        }
    }

    /// Forgets an unloaded version: a rollback never goes to it.
    pub fn forget(&mut self, version: &str) {
        self.history.retain(|v| v != version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploys_move_the_alias_and_rollbacks_walk_back_through_them() {
        let mut alias = Alias::new("1");
        assert!(alias.deploy("2", Deploy::Always));
        assert!(alias.deploy("3", Deploy::UnlessPinned));
        assert_eq!((alias.current(), alias.history()), ("3", &["1".to_string(), "2".to_string()][..]));
        // Deploying the version in use adds no history.
        assert!(alias.deploy("3", Deploy::Always));
        assert_eq!(alias.history().len(), 2);
        assert_eq!(alias.rollback(), Some("2"));
        assert_eq!(alias.rollback(), Some("1"));
        assert_eq!(alias.rollback(), None);
        assert_eq!(alias.current(), "1", "a rollback with no history leaves the alias");
        assert!(!alias.deploy("4", Deploy::Never));
        assert_eq!(alias.current(), "1");
    }

    #[test]
    fn a_pin_holds_against_the_watcher_but_not_against_a_deploy() {
        let mut alias = Alias::new("1");
        alias.deploy("2", Deploy::Always);
        alias.pin("1");
        assert!(alias.pinned());
        assert_eq!(alias.current(), "1");
        assert!(!alias.deploy("3", Deploy::UnlessPinned), "the watcher does not move a pinned alias");
        assert_eq!(alias.current(), "1");
        assert!(alias.deploy("3", Deploy::Always), "an explicit deploy does, and unpins");
        assert!(!alias.pinned());
        alias.pin("2");
        alias.unpin();
        assert!(alias.deploy("3", Deploy::UnlessPinned));
    }

    #[test]
    fn a_canary_takes_its_share_until_a_deploy_or_a_rollback_ends_it() {
        let mut alias = Alias::new("1");
        alias.deploy("2", Deploy::Always);
        assert_eq!(alias.start_canary("3", 0), Err("canary_percent must be between 1 and 99"));
        assert_eq!(alias.start_canary("3", 100), Err("canary_percent must be between 1 and 99"));
        alias.start_canary("3", 25).unwrap();
        assert_eq!(alias.current(), "2", "a canary leaves the alias");
        let picks: Vec<&str> = (0..100).map(|roll| alias.pick(roll)).collect();
        assert_eq!(picks.iter().filter(|v| **v == "3").count(), 25);
        assert_eq!(picks.iter().filter(|v| **v == "2").count(), 75);
        assert_eq!(alias.role_of("3"), Some("the canary"));
        assert_eq!(alias.role_of("2"), Some("the one calls get"));
        assert_eq!(alias.role_of("1"), None);

        alias.deploy("3", Deploy::Always);
        assert_eq!(alias.canary(), None, "a full deploy ends the canary");
        alias.start_canary("1", 50).unwrap();
        assert_eq!(alias.rollback(), Some("2"));
        assert_eq!(alias.canary(), None, "a rollback ends the canary");
        assert!((0..100).all(|roll| alias.pick(roll) == "2"));
    }

    #[test]
    fn an_unloaded_version_leaves_the_history() {
        let mut alias = Alias::new("1");
        alias.deploy("2", Deploy::Always);
        alias.deploy("3", Deploy::Always);
        alias.forget("2");
        assert_eq!(alias.rollback(), Some("1"));
    }
}
