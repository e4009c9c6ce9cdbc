//! Parse, don't validate: a [`TaskName`] is trimmed and 1-200 characters.

pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskName(String);

impl TaskName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err("must not be empty".into());
        }
        if chars > MAX_NAME_CHARS {
            return Err(format!(
                "must be at most {MAX_NAME_CHARS} characters (got {chars})"
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TaskName::parse("  ship it ").unwrap().as_str(), "ship it");
        assert!(TaskName::parse("   ").is_err());
        assert!(TaskName::parse(&"é".repeat(200)).is_ok());
        assert!(TaskName::parse(&"é".repeat(201)).is_err());
        assert!(TaskName::parse("a\u{0}b").is_err());
    }
}
