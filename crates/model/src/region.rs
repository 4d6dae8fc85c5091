//! The region privlink serves and its availability zones.

use serde::{Deserialize, Serialize};

/// One availability zone: its name (`us-east-1a`) and id (`use1-az1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// The region served: three zones `<region>a`, `<region>b`, `<region>c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub zones: Vec<Zone>,
}

impl Region {
    pub fn new(name: &str) -> Region {
        // AWS zone ids abbreviate the region: us-east-1 → use1, eu-central-1 → euc1.
        let abbrev: String = {
            let parts: Vec<&str> = name.split('-').collect();
            let mut s = String::new();
            if let Some(first) = parts.first() {
                s.push_str(first);
            }
            for p in parts.iter().skip(1) {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    s.push_str(p);
                } else if let Some(c) = p.chars().next() {
                    s.push(c);
                }
            }
            s
        };
        let zones = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, l)| Zone {
                name: format!("{name}{l}"),
                id: format!("{abbrev}-az{}", i + 1),
            })
            .collect();
        Region {
            name: name.to_string(),
            zones,
        }
    }

    pub fn zone_by_name(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    pub fn zone_by_id(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// Whether `name` looks like a region (`xx-yyyy-N`).
    pub fn is_valid_name(name: &str) -> bool {
        let parts: Vec<&str> = name.split('-').collect();
        parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_follow_aws_naming() {
        let r = Region::new("us-east-1");
        assert_eq!(r.zones[0].name, "us-east-1a");
        assert_eq!(r.zones[0].id, "use1-az1");
        assert_eq!(r.zones[2].name, "us-east-1c");
        assert_eq!(Region::new("eu-central-1").zones[1].id, "euc1-az2");
        assert!(Region::is_valid_name("us-east-1"));
        assert!(!Region::is_valid_name("useast"));
    }
}
